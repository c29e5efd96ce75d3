/**
 * verdictd's image keys (docs/verdictd.md, "Image keys"; docs/encrypted-images.md): the asymmetric key an image
 * is encrypted to with unmodified skopeo (`--encryption-key jwe:<pem>`, ocicrypt's JWE key wrapper), and the
 * unwrap of the JWE that ocicrypt writes into each layer's `org.opencontainers.image.enc.keys.jwe` annotation.
 *
 * Every stored key (a sealed secret of 16 to 64 bytes, `verdict key create`) has one image key: a NIST P-256
 * key whose private scalar is derived from the stored key with HKDF-SHA256 (info {@link IMAGE_KEY_INFO}, reduced
 * into [1, n-1] as FIPS 186-4 B.4.1 does). So the private key is sealed in the store exactly as the key is, and
 * exists in memory only while verdictd unwraps. ocicrypt 1.0.3 (Debian 12's skopeo) wraps to an EC public key
 * with ECDH-ES+A256KW and encrypts the content with A256GCM (checked with the real skopeo): the only algorithms
 * accepted here. RSA recipients (ocicrypt writes RSA-OAEP) are refused with a message saying so.
 *
 * The JWE is untrusted input: {@link parseJwe} checks its shape and size before any cryptography.
 */
import { createECDH, createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { flattenedDecrypt, generalDecrypt, type FlattenedJWE, type GeneralJWE } from 'jose';
import { verdictdError } from './codes.ts';

/** The HKDF info string that makes a stored key's image key (changing it changes every image key). */
export const IMAGE_KEY_INFO = 'inclavare verdictd image key P-256 v1';
/** The key management algorithm an image key takes (what ocicrypt writes for an EC recipient). */
export const IMAGE_KEY_ALG = 'ECDH-ES+A256KW';
/** The content encryption ocicrypt's JWE key wrapper uses. */
export const IMAGE_KEY_ENC = 'A256GCM';
/** The largest JWE accepted (its JSON text): ocicrypt's for one recipient is under 1 KiB. */
export const MAX_JWE_BYTES = 3072;
/** The most recipients a JWE may have. */
export const MAX_JWE_RECIPIENTS = 8;

const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** The P-256 private key of a stored key. */
export function imagePrivateKey(stored: Uint8Array): KeyObject {
  if (stored.length < 16) throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot derive an image key from a ${stored.length}-byte key: keys are 16 to 64 bytes`);
  const okm = Buffer.from(hkdfSync('sha256', stored, Buffer.alloc(0), IMAGE_KEY_INFO, 40));
  const d = (BigInt(`0x${okm.toString('hex')}`) % (P256_ORDER - 1n)) + 1n;
  okm.fill(0);
  const dBytes = Buffer.from(d.toString(16).padStart(64, '0'), 'hex');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(dBytes);
  const point = ecdh.getPublicKey();
  const key = createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', d: dBytes.toString('base64url'), x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') },
    format: 'jwk',
  });
  dBytes.fill(0);
  return key;
}

/** The image key's public half as PEM (SubjectPublicKeyInfo): what `skopeo --encryption-key jwe:<file>` takes. */
export function imagePublicKeyPem(stored: Uint8Array): string {
  return createPublicKey(imagePrivateKey(stored)).export({ type: 'spki', format: 'pem' }).toString();
}

/** A JWE that passed {@link parseJwe}: the JSON serialization, and what its recipients ask for. */
export interface ParsedJwe {
  jwe: FlattenedJWE | GeneralJWE;
  general: boolean;
  /** Each recipient's `alg` (and curve, for ECDH-ES), for messages. */
  recipients: string[];
}

function bad(message: string): Error {
  return verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `Cannot read the JWE: ${message}`);
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function b64urlField(o: Record<string, unknown>, name: string, where: string, required: boolean): void {
  const v = o[name];
  if (v === undefined && !required) return;
  if (typeof v !== 'string' || !B64URL.test(v)) throw bad(`${where}"${name}" must be a base64url string`);
}

function headerOf(v: unknown, where: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (!isObject(v)) throw bad(`${where} is not a JSON object`);
  return v;
}

/**
 * Reads a JWE in JSON serialization (flattened or general), given as the annotation's text (base64 of the
 * JSON, as ocicrypt writes it), the JSON text, or the parsed object. Throws VERDICTD_ERR_MALFORMED_REQUEST
 * naming the problem: not JSON, too large, a compact JWE, missing or mistyped members, too many recipients.
 */
export function parseJwe(input: unknown): ParsedJwe {
  let value: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    let text = typeof input === 'string' ? input.trim() : Buffer.from(input).toString('utf8').trim();
    if (text.length > 2 * MAX_JWE_BYTES) throw bad(`it is ${text.length} bytes, more than the ${MAX_JWE_BYTES} a layer key's JWE needs`);
    if (!text.startsWith('{')) {
      if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\./.test(text)) throw bad('it is a compact JWE; ocicrypt writes the JSON serialization');
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw bad('it is neither JSON nor base64 of JSON (the org.opencontainers.image.enc.keys.jwe annotation)');
      text = Buffer.from(text, 'base64').toString('utf8');
      if (text.includes(',') && !text.trimStart().startsWith('{')) throw bad('it is not base64 of a JSON object');
    }
    if (Buffer.byteLength(text) > MAX_JWE_BYTES) throw bad(`it is ${Buffer.byteLength(text)} bytes, more than the ${MAX_JWE_BYTES} a layer key's JWE needs`);
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw bad(`it is not JSON (${(err as Error).message})`);
    }
  } else if (Buffer.byteLength(JSON.stringify(input) ?? '') > MAX_JWE_BYTES) {
    throw bad(`it is more than the ${MAX_JWE_BYTES} bytes a layer key's JWE needs`);
  }
  if (!isObject(value)) throw bad('it is not a JSON object');
  for (const name of ['iv', 'ciphertext', 'tag']) b64urlField(value, name, '', true);
  b64urlField(value, 'protected', '', false);
  b64urlField(value, 'aad', '', false);
  let protectedHeader: Record<string, unknown> = {};
  if (typeof value.protected === 'string') {
    try {
      protectedHeader = headerOf(JSON.parse(Buffer.from(value.protected, 'base64url').toString('utf8')), 'the protected header');
    } catch (err) {
      if (err instanceof Error && 'code' in err) throw err;
      throw bad('the protected header is not base64url of JSON');
    }
  }
  const shared = { ...protectedHeader, ...headerOf(value.unprotected, 'the unprotected header') };
  const general = value.recipients !== undefined;
  let recipientHeaders: Record<string, unknown>[];
  if (general) {
    if (!Array.isArray(value.recipients) || value.recipients.length === 0) throw bad('"recipients" must be a non-empty array');
    if (value.recipients.length > MAX_JWE_RECIPIENTS) throw bad(`it has ${value.recipients.length} recipients, more than ${MAX_JWE_RECIPIENTS}`);
    // go-jose (ocicrypt) also writes the first recipient's "encrypted_key" and "header" at the top level of a
    // general JWE; they are ignored here (the recipients array is what is decrypted).
    const { encrypted_key: _key, header: _header, ...rest } = value;
    value = rest;
    recipientHeaders = (rest.recipients as unknown[]).map((r: unknown, i: number) => {
      if (!isObject(r)) throw bad(`recipient ${i} is not a JSON object`);
      b64urlField(r, 'encrypted_key', `recipient ${i}'s `, false);
      return headerOf(r.header, `recipient ${i}'s header`);
    });
  } else {
    b64urlField(value, 'encrypted_key', '', false);
    recipientHeaders = [headerOf(value.header, 'the header')];
  }
  const recipients = recipientHeaders.map((h) => {
    const merged = { ...shared, ...h };
    const alg = typeof merged.alg === 'string' ? merged.alg.slice(0, 32) : '(no alg)';
    const epk = merged.epk;
    return isObject(epk) && typeof epk.crv === 'string' ? `${alg} ${epk.crv.slice(0, 16)}` : alg;
  });
  return { jwe: value as unknown as FlattenedJWE | GeneralJWE, general, recipients };
}

/** True when one of the JWE's recipients is of the kind an image key can be (ECDH-ES+A256KW on P-256). */
export function hasImageKeyRecipient(parsed: ParsedJwe): boolean {
  return parsed.recipients.includes(`${IMAGE_KEY_ALG} P-256`);
}

/** The plaintext when the JWE is encrypted to `key` (an image key), else undefined (any failure). */
export async function tryDecryptJwe(parsed: ParsedJwe, key: KeyObject): Promise<Buffer | undefined> {
  const options = { keyManagementAlgorithms: [IMAGE_KEY_ALG], contentEncryptionAlgorithms: [IMAGE_KEY_ENC] };
  try {
    const result = parsed.general ? await generalDecrypt(parsed.jwe as GeneralJWE, key, options) : await flattenedDecrypt(parsed.jwe as FlattenedJWE, key, options);
    return Buffer.from(result.plaintext);
  } catch {
    return undefined;
  }
}
