/**
 * In-band freshness for RATS-TLS (docs/rats-tls.md, "In-band nonce"). A certificate is made before the
 * handshake, so its evidence cannot commit to anything of this connection. After the handshake both peers
 * derive the same 32 bytes from the TLS session (RFC 5705/8446 §7.5 exporter, label
 * {@link EXPORTER_LABEL}); the attesting peer asks its attester for fresh evidence over claims
 * `{pubkey-hash: H(its certificate's SPKI), nonce: exporter}` and sends it in one frame. The verifier recomputes
 * the exporter: evidence made before this session, or for another session (a relay), cannot carry it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Claims } from '../attestation/claims.ts';
import { detectTee, verifyEvidence, type VerifyEvidenceOptions } from '../attestation/verify-evidence.ts';
import { isInclavareError } from '../errors/errors.ts';
import type { Attester } from './attesters/attester.ts';
import { decodeClaims, decodeDiceEvidence, encodeClaims, encodeDiceEvidence } from './cbor.ts';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import { HASH_ALGORITHMS, tagOfTee, TAG_TEES, type HashAlgorithm } from './format.ts';
import { readReportData } from './report-data.ts';

/** The TLS exporter label of the in-band nonce. */
export const EXPORTER_LABEL = 'EXPORTER-inclavare-rats-tls-nonce';
/** Frame magic: "RTLN" (RATS-TLS nonce), then a version byte and a big-endian u32 length. */
export const FRAME_MAGIC = Uint8Array.of(0x52, 0x54, 0x4c, 0x4e);
export const FRAME_VERSION = 1;
export const FRAME_HEADER_LENGTH = 9;
/** Upper bound of a proof (the largest evidence, a TDX quote with its PCK chain, is ~8 KiB). */
export const MAX_PROOF_LENGTH = 65_536;

/** The 32-byte in-band nonce of a TLS session; the same on both ends. */
export function exporterNonce(socket: TLSSocket): Uint8Array {
  return new Uint8Array(socket.exportKeyingMaterial(32, EXPORTER_LABEL, Buffer.alloc(0)));
}

/** One frame: magic, version, u32 length, payload (empty: this side attests nothing). */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_LENGTH + payload.length);
  out.set(FRAME_MAGIC);
  out[4] = FRAME_VERSION;
  new DataView(out.buffer).setUint32(5, payload.length);
  out.set(payload, FRAME_HEADER_LENGTH);
  return out;
}

/** The payload length announced by a frame header; throws RATS_TLS_ERR_PROTOCOL on a bad header. */
export function frameLength(header: Uint8Array): number {
  if (header.length < FRAME_HEADER_LENGTH || !FRAME_MAGIC.every((b, i) => header[i] === b) || header[4] !== FRAME_VERSION) {
    throw ratsTlsError(E.PROTOCOL, 'Cannot read the peer\'s freshness proof: the first record is not an in-band nonce frame (is the peer in in-band nonce mode?)');
  }
  const length = new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(5);
  if (length > MAX_PROOF_LENGTH) throw ratsTlsError(E.PROTOCOL, `Cannot read the peer's freshness proof: ${length} bytes is over the ${MAX_PROOF_LENGTH}-byte limit`);
  return length;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Fresh evidence over {pubkey-hash of `spki`, nonce}, encoded like the DICE extension value. */
export async function createFreshnessProof(attester: Attester, spki: Uint8Array, nonce: Uint8Array, hashAlg: HashAlgorithm = 'sha-256'): Promise<Uint8Array> {
  if (attester.tee === 'null') return new Uint8Array(0);
  const hash = new Uint8Array(createHash(HASH_ALGORITHMS[hashAlg].node).update(spki).digest());
  const claimsBytes = encodeClaims({ pubkeyHash: { algorithm: hashAlg, hash }, nonce });
  const reportData = new Uint8Array(64);
  reportData.set(sha256(claimsBytes));
  let evidence: Uint8Array;
  try {
    evidence = await attester.getEvidence(reportData);
  } catch (err) {
    throw ratsTlsError(E.ATTESTER, `Cannot answer the in-band nonce: the ${attester.tee} attester failed`, { cause: err });
  }
  return encodeDiceEvidence(tagOfTee(attester.tee), evidence, claimsBytes);
}

/** What the verifier of a proof knows. */
export interface VerifyFreshnessProofOptions {
  /** DER SubjectPublicKeyInfo of the peer's TLS certificate. */
  spki: Uint8Array;
  /** This session's exporter nonce. */
  nonce: Uint8Array;
  at: Date;
  evidence?: Omit<VerifyEvidenceOptions, 'at' | 'tee'>;
}

/** Verifies a proof; returns the fresh evidence's claims or throws an InclavareError (RATS_TLS_ERR_*). */
export function verifyFreshnessProof(proof: Uint8Array, options: VerifyFreshnessProofOptions): Claims {
  if (proof.length === 0) throw ratsTlsError(E.NONCE_MISMATCH, 'Cannot trust the peer: it sent no fresh evidence for this session\'s nonce');
  const dice = decodeDiceEvidence(proof);
  const tee = detectTee(dice.evidence);
  if (tee === null || !(TAG_TEES.get(dice.tag) ?? []).includes(tee)) {
    throw ratsTlsError(E.TEE_MISMATCH, `Cannot trust the peer's fresh evidence: CBOR tag ${dice.tag} does not announce ${tee ?? 'unrecognizable'} evidence`);
  }
  const expected = new Uint8Array(64);
  expected.set(sha256(dice.claimsBytes));
  if (!equal(readReportData(dice.evidence, tee), expected)) {
    throw ratsTlsError(E.REPORT_DATA_MISMATCH, 'Cannot trust the peer\'s fresh evidence: report_data is not SHA-256 of its claims');
  }
  const claims = decodeClaims(dice.claimsBytes);
  const alg = claims.pubkeyHash.algorithm;
  if (alg === undefined) throw ratsTlsError(E.UNSUPPORTED_HASH, `Cannot trust the peer's fresh evidence: hash algorithm id ${claims.pubkeyHash.algorithmId}`);
  if (!equal(claims.pubkeyHash.hash, new Uint8Array(createHash(HASH_ALGORITHMS[alg].node).update(options.spki).digest()))) {
    throw ratsTlsError(E.PUBKEY_HASH_MISMATCH, 'Cannot trust the peer\'s fresh evidence: it is bound to another key than its TLS certificate\'s');
  }
  if (claims.nonce === undefined || !equal(claims.nonce, options.nonce)) {
    throw ratsTlsError(E.NONCE_MISMATCH, 'Cannot trust the peer\'s fresh evidence: its nonce is not this session\'s (stale or replayed)');
  }
  try {
    return verifyEvidence(dice.evidence, { ...options.evidence, tee, at: options.at });
  } catch (err) {
    const cause = isInclavareError(err) ? err : new Error('evidence verifier failed', { cause: err });
    throw ratsTlsError(E.EVIDENCE_REJECTED, 'Cannot trust the peer\'s fresh evidence: it does not verify', { cause });
  }
}
