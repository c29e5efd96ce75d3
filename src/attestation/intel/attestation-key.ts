/**
 * The quote's attestation key (raw x || y, 64 bytes) as a node:crypto KeyObject. Importing a key costs about as
 * much as an ECDSA verification (OpenSSL 3 decodes an SPKI through its generic decoder; a JWK import sets the
 * affine coordinates directly and is about twice as fast), and a QE keeps its attestation key for many quotes,
 * so imported keys are kept by their exact 64 bytes. This is a conversion cache, not a trust cache: the key of
 * the same bytes is the same key; whether the QE vouches for it is checked on every quote.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';

const keys = new Map<string, KeyObject | null>();
const KEYS_MAX = 4096;

/** The P-256 public key of `xy` (x || y), or undefined when it is not a point on the curve. */
export function attestationKeyOf(xy: Uint8Array): KeyObject | undefined {
  if (xy.length !== 64) return undefined;
  const b = Buffer.from(xy.buffer, xy.byteOffset, 64);
  const id = b.toString('latin1');
  let key = keys.get(id);
  if (key === undefined) {
    try {
      // JWK import checks that (x, y) is on P-256 (OpenSSL EC_POINT_set_affine_coordinates).
      key = createPublicKey({
        key: { kty: 'EC', crv: 'P-256', x: b.toString('base64url', 0, 32), y: b.toString('base64url', 32, 64) },
        format: 'jwk',
      });
    } catch {
      key = null;
    }
    if (keys.size >= KEYS_MAX) keys.delete(keys.keys().next().value!);
    keys.set(id, key);
  }
  return key ?? undefined;
}
