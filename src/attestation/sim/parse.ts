/**
 * Parser for `sim` evidence, the evidence of software enclaves (sim, wasm) signed by inclavared's platform
 * key. The format is the contract in docs/evidence-sim.md; the offsets below are its table. Pure.
 */
import { createPublicKey } from 'node:crypto';
import type { InclavareError } from '../../errors/errors.ts';
import { SIM_ERROR_CODES, simError } from './codes.ts';

/** "INCLSIM1" in ASCII: identifies the format (and separates its signatures from any other use of the key). */
export const SIM_MAGIC: Uint8Array = Uint8Array.from(Buffer.from('INCLSIM1', 'ascii'));
/** The only format version defined. */
export const SIM_VERSION = 1;
/** Flags bit 0: the software enclave runs with debugging enabled. */
export const SIM_FLAG_DEBUG = 0x0001;
/** Measurement length: a SHA-384 digest. */
export const SIM_MEASUREMENT_LENGTH = 48;
/** report_data length. */
export const SIM_REPORT_DATA_LENGTH = 64;
/** An Ed25519 SubjectPublicKeyInfo (RFC 8410) is 44 bytes of DER. */
export const SIM_PLATFORM_KEY_LENGTH = 44;
/** An Ed25519 signature (RFC 8032) is 64 bytes. */
export const SIM_SIGNATURE_LENGTH = 64;

/** Field offsets of version 1 (docs/evidence-sim.md, "Layout"). */
export const SIM_OFFSETS = Object.freeze({
  magic: 0x00,
  version: 0x08,
  flags: 0x0a,
  measurement: 0x0c,
  reportData: 0x3c,
  timestamp: 0x7c,
  platformKeyLength: 0x84,
  platformKey: 0x86,
  signature: 0xb2,
  end: 0xf2,
} as const);

/** Total size of version-1 evidence (242 bytes). */
export const SIM_EVIDENCE_SIZE = SIM_OFFSETS.end;

/** Parsed `sim` evidence. Nothing here is verified yet: see verifySimEvidence(). */
export interface SimEvidence {
  raw: Uint8Array;
  version: number;
  flags: number;
  debug: boolean;
  measurement: Uint8Array;
  reportData: Uint8Array;
  /** Milliseconds since the Unix epoch (UTC) at which the platform signed. */
  timestampMs: number;
  timestamp: Date;
  /** The platform public key, Ed25519 SubjectPublicKeyInfo DER. */
  platformKey: Uint8Array;
  signature: Uint8Array;
  /** The bytes the signature covers: everything before it. */
  signedBytes: Uint8Array;
}

function malformed(message: string, details?: Record<string, unknown>): InclavareError {
  return simError(SIM_ERROR_CODES.MALFORMED, message, { details });
}

/** The largest timestamp a Date can hold (ECMAScript time values are at most 8.64e15 ms). */
const MAX_TIMESTAMP_MS = 8.64e15;

/**
 * Parses `sim` evidence (docs/evidence-sim.md). Throws ATTEST_ERR_MALFORMED for anything not of the documented
 * shape and ATTEST_ERR_UNSUPPORTED_VERSION for a version other than 1.
 */
export function parseSimEvidence(bytes: Uint8Array): SimEvidence {
  if (!(bytes instanceof Uint8Array)) throw malformed('Cannot parse sim evidence: input is not a byte array');
  const O = SIM_OFFSETS;
  if (bytes.length < O.flags) {
    throw malformed(`Cannot parse sim evidence: it is ${bytes.length} bytes, too short for a header`, { length: bytes.length });
  }
  if (!Buffer.from(bytes.subarray(0, 8)).equals(Buffer.from(SIM_MAGIC))) {
    throw malformed('Cannot parse sim evidence: it does not start with the magic "INCLSIM1"');
  }
  const raw = Uint8Array.from(bytes);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const version = view.getUint16(O.version, false);
  if (version !== SIM_VERSION) {
    throw simError(
      SIM_ERROR_CODES.UNSUPPORTED_VERSION,
      `Cannot parse sim evidence: format version ${version} is not supported (supported: ${SIM_VERSION})`,
      { details: { version } },
    );
  }
  if (raw.length !== SIM_EVIDENCE_SIZE) {
    throw malformed(`Cannot parse sim evidence: it is ${raw.length} bytes, version 1 is ${SIM_EVIDENCE_SIZE}`, {
      length: raw.length,
    });
  }
  const flags = view.getUint16(O.flags, false);
  if ((flags & ~SIM_FLAG_DEBUG) !== 0) {
    throw malformed(`Cannot parse sim evidence: reserved flag bits are set (flags 0x${flags.toString(16)})`, { flags });
  }
  const timestamp = view.getBigUint64(O.timestamp, false);
  if (timestamp > BigInt(MAX_TIMESTAMP_MS)) {
    throw malformed('Cannot parse sim evidence: its timestamp is beyond the representable range');
  }
  const keyLength = view.getUint16(O.platformKeyLength, false);
  if (keyLength !== SIM_PLATFORM_KEY_LENGTH) {
    throw malformed(`Cannot parse sim evidence: platform key length is ${keyLength}, version 1 requires ${SIM_PLATFORM_KEY_LENGTH}`);
  }
  const platformKey = raw.slice(O.platformKey, O.platformKey + keyLength);
  // The key must be an Ed25519 SPKI in its one canonical DER form, so that key identity is byte identity.
  let canonical = false;
  try {
    const key = createPublicKey({ key: Buffer.from(platformKey), format: 'der', type: 'spki' });
    canonical = key.asymmetricKeyType === 'ed25519' && key.export({ type: 'spki', format: 'der' }).equals(platformKey);
  } catch {
    canonical = false;
  }
  if (!canonical) throw malformed('Cannot parse sim evidence: the platform key is not an Ed25519 SubjectPublicKeyInfo');

  const timestampMs = Number(timestamp);
  return {
    raw,
    version,
    flags,
    debug: (flags & SIM_FLAG_DEBUG) !== 0,
    measurement: raw.slice(O.measurement, O.measurement + SIM_MEASUREMENT_LENGTH),
    reportData: raw.slice(O.reportData, O.reportData + SIM_REPORT_DATA_LENGTH),
    timestampMs,
    timestamp: new Date(timestampMs),
    platformKey,
    signature: raw.slice(O.signature, O.signature + SIM_SIGNATURE_LENGTH),
    signedBytes: raw.slice(0, O.signature),
  };
}
