/**
 * CBOR of the DICE evidence extension: `tag(T)[ bstr evidence, bstr claims ]`, and the claims map
 * `{ "pubkey-hash": bstr(CBOR [alg-id, bstr hash]), "nonce"?: bstr, <custom>: bstr }`: every claim value is a byte
 * string; pubkey-hash's holds the CBOR-encoded array (as the C RATS-TLS, Gramine and rats-rs write it).
 */
import { decode, decodeFirst, encode, Tagged } from 'cborg';
import { RATS_TLS_ERROR_CODES, ratsTlsError } from './codes.ts';
import { CLAIM_NONCE, CLAIM_PUBKEY_HASH, HASH_ALGORITHMS, hashAlgorithmOfId, TAG_TEES, type HashAlgorithm } from './format.ts';

/** The claims a RATS-TLS certificate makes about itself. */
export interface CertificateClaims {
  /** Hash of the certificate's DER SubjectPublicKeyInfo. `algorithm` is undefined for an id we do not accept. */
  pubkeyHash: { algorithmId: number; algorithm: HashAlgorithm | undefined; hash: Uint8Array };
  /** The verifier-chosen nonce, when the attester was given one. */
  nonce?: Uint8Array;
  /** Every other claim (byte strings), by name. */
  custom: Record<string, Uint8Array>;
}

/** Decoded DICE evidence extension value. */
export interface DiceEvidence {
  tag: number;
  evidence: Uint8Array;
  /** The claims bytes exactly as stored: report_data commits to these. */
  claimsBytes: Uint8Array;
}

// Strict decoding: no indefinite lengths, no `undefined`, no duplicate keys; maps as Map so that keys like
// "__proto__" stay data.
export const DECODE_OPTIONS = { allowIndefinite: false, allowUndefined: false, rejectDuplicateMapKeys: true, useMaps: true } as const;

function malformed(message: string, cause?: unknown): never {
  throw ratsTlsError(RATS_TLS_ERROR_CODES.MALFORMED, message, cause === undefined ? {} : { cause });
}

/** Encodes the claims map; custom claims cannot shadow pubkey-hash or nonce. */
export function encodeClaims(claims: { pubkeyHash: { algorithm: HashAlgorithm; hash: Uint8Array }; nonce?: Uint8Array; custom?: Record<string, Uint8Array> }): Uint8Array {
  const map = new Map<string, unknown>();
  map.set(CLAIM_PUBKEY_HASH, encode([HASH_ALGORITHMS[claims.pubkeyHash.algorithm].id, claims.pubkeyHash.hash]));
  if (claims.nonce !== undefined) map.set(CLAIM_NONCE, claims.nonce);
  for (const [name, value] of Object.entries(claims.custom ?? {})) {
    if (name === CLAIM_PUBKEY_HASH || name === CLAIM_NONCE) {
      throw ratsTlsError(RATS_TLS_ERROR_CODES.INVALID_ARGUMENT, `Cannot encode claims: the custom claim "${name}" would replace a defined claim`);
    }
    if (!(value instanceof Uint8Array)) throw ratsTlsError(RATS_TLS_ERROR_CODES.INVALID_ARGUMENT, `Cannot encode claims: custom claim "${name}" is not bytes`);
    map.set(name, value);
  }
  return encode(map);
}

/** Encodes the extension value `tag(T)[evidence, claims]`. */
export function encodeDiceEvidence(tag: number, evidence: Uint8Array, claimsBytes: Uint8Array): Uint8Array {
  return encode(new Tagged(tag, [evidence, claimsBytes]));
}

/** The tag number of a CBOR item that starts with a tag head (major type 6), or undefined. */
export function leadingTag(bytes: Uint8Array): number | undefined {
  const first = bytes[0];
  if (first === undefined || first >> 5 !== 6) return undefined;
  const info = first & 0x1f;
  if (info < 24) return info;
  const n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (n === 0 || bytes.length < 1 + n) return undefined;
  let value = 0;
  for (let i = 1; i <= n; i++) value = value * 256 + bytes[i]!;
  return value;
}

/**
 * Decodes the DICE evidence extension value. Only the first CBOR item is read: some RATS-TLS builds pad the
 * extension with trailing bytes (docs/rats-tls.md, "What we accept").
 */
export function decodeDiceEvidence(bytes: Uint8Array): DiceEvidence {
  const tag = leadingTag(bytes);
  if (tag === undefined) malformed('Cannot parse the evidence extension: it does not start with a CBOR tag');
  if (!TAG_TEES.has(tag)) {
    throw ratsTlsError(RATS_TLS_ERROR_CODES.UNKNOWN_TAG, `Cannot parse the evidence extension: unknown CBOR tag ${tag} (0x${tag.toString(16)})`, {
      details: { tag },
    });
  }
  let value: unknown;
  try {
    [value] = decodeFirst(bytes, { ...DECODE_OPTIONS, tags: { [tag]: Tagged.decoder(tag) } });
  } catch (err) {
    malformed('Cannot parse the evidence extension: invalid CBOR', err);
  }
  const inner = value instanceof Tagged ? value.value : undefined;
  if (!Array.isArray(inner) || inner.length !== 2 || !(inner[0] instanceof Uint8Array) || !(inner[1] instanceof Uint8Array)) {
    malformed('Cannot parse the evidence extension: expected tag(T)[bstr evidence, bstr claims]');
  }
  return { tag, evidence: inner[0] as Uint8Array, claimsBytes: inner[1] as Uint8Array };
}

/** Decodes the pubkey-hash claim: a byte string holding exactly one CBOR `[uint alg-id, bstr hash]`. */
function decodePubkeyHash(v: unknown): CertificateClaims['pubkeyHash'] {
  if (!(v instanceof Uint8Array)) malformed('Cannot parse the certificate claims: pubkey-hash is not a byte string');
  let inner: unknown;
  try {
    inner = decode(v, DECODE_OPTIONS);
  } catch (err) {
    malformed('Cannot parse the certificate claims: pubkey-hash does not hold valid CBOR', err);
  }
  if (!Array.isArray(inner) || inner.length !== 2 || !Number.isSafeInteger(inner[0]) || (inner[0] as number) < 0 || !(inner[1] instanceof Uint8Array)) {
    malformed('Cannot parse the certificate claims: pubkey-hash is not [hash-alg-id, bstr]');
  }
  const algorithmId = inner[0] as number;
  return { algorithmId, algorithm: hashAlgorithmOfId(algorithmId), hash: inner[1] as Uint8Array };
}

/** Decodes the claims map (exactly one CBOR item). */
export function decodeClaims(bytes: Uint8Array): CertificateClaims {
  let value: unknown;
  try {
    value = decode(bytes, DECODE_OPTIONS);
  } catch (err) {
    malformed('Cannot parse the certificate claims: invalid CBOR', err);
  }
  if (!(value instanceof Map)) malformed('Cannot parse the certificate claims: expected a CBOR map');
  const custom: Record<string, Uint8Array> = Object.create(null) as Record<string, Uint8Array>;
  let pubkeyHash: CertificateClaims['pubkeyHash'] | undefined;
  let nonce: Uint8Array | undefined;
  for (const [key, v] of value as Map<unknown, unknown>) {
    if (typeof key !== 'string') malformed('Cannot parse the certificate claims: a claim name is not a text string');
    if (key === CLAIM_PUBKEY_HASH) {
      pubkeyHash = decodePubkeyHash(v);
    } else if (!(v instanceof Uint8Array)) {
      malformed(`Cannot parse the certificate claims: claim "${key}" is not a byte string`);
    } else if (key === CLAIM_NONCE) {
      nonce = v;
    } else {
      custom[key] = v;
    }
  }
  if (pubkeyHash === undefined) malformed('Cannot parse the certificate claims: the required pubkey-hash claim is missing');
  return nonce === undefined ? { pubkeyHash, custom } : { pubkeyHash, nonce, custom };
}
