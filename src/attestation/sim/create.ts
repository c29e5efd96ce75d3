/**
 * Creation of `sim` evidence: what inclavared's software quoting service does for sim and wasm enclaves.
 * The format is the contract in docs/evidence-sim.md.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import type { InclavareError } from '../../errors/errors.ts';
import { SIM_ERROR_CODES, simError } from './codes.ts';
import {
  SIM_EVIDENCE_SIZE,
  SIM_FLAG_DEBUG,
  SIM_MAGIC,
  SIM_MEASUREMENT_LENGTH,
  SIM_OFFSETS,
  SIM_PLATFORM_KEY_LENGTH,
  SIM_REPORT_DATA_LENGTH,
  SIM_VERSION,
} from './parse.ts';

/** Inputs of createSimEvidence(). */
export interface CreateSimEvidenceOptions {
  /** The enclave's measurement: a SHA-384 digest (48 bytes). */
  measurement: Uint8Array;
  /** Up to 64 bytes of caller data (a nonce, a key hash); shorter values are zero-padded on the right. */
  reportData: Uint8Array;
  /** The platform's Ed25519 private key: a KeyObject, PKCS#8 PEM text or PKCS#8 DER bytes. */
  platformKey: KeyObject | string | Uint8Array;
  /** The signing time written into the evidence. Never read from the clock here. */
  at: Date;
  /** Mark the enclave as running with debugging enabled (flags bit 0). Default false. */
  debug?: boolean;
}

function invalid(message: string, cause?: unknown): InclavareError {
  return simError(SIM_ERROR_CODES.MALFORMED, message, { cause });
}

function privateKeyOf(input: CreateSimEvidenceOptions['platformKey']): KeyObject {
  let key: KeyObject;
  try {
    if (typeof input === 'string') key = createPrivateKey(input);
    else if (input instanceof Uint8Array) key = createPrivateKey({ key: Buffer.from(input), format: 'der', type: 'pkcs8' });
    else key = input;
  } catch (err) {
    throw invalid('Cannot create sim evidence: the platform key cannot be read as a PKCS#8 private key', err);
  }
  if (key?.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw invalid('Cannot create sim evidence: the platform key must be an Ed25519 private key');
  }
  return key;
}

/** Builds and signs version-1 `sim` evidence (docs/evidence-sim.md); returns its 242 bytes. */
export function createSimEvidence(options: CreateSimEvidenceOptions): Uint8Array {
  const { measurement, reportData, at } = options;
  if (!(measurement instanceof Uint8Array) || measurement.length !== SIM_MEASUREMENT_LENGTH) {
    throw invalid(`Cannot create sim evidence: the measurement must be ${SIM_MEASUREMENT_LENGTH} bytes (SHA-384)`);
  }
  if (!(reportData instanceof Uint8Array) || reportData.length > SIM_REPORT_DATA_LENGTH) {
    throw invalid(`Cannot create sim evidence: report data must be at most ${SIM_REPORT_DATA_LENGTH} bytes`);
  }
  const timestampMs = at instanceof Date ? at.getTime() : Number.NaN;
  if (!Number.isInteger(timestampMs) || timestampMs < 0) {
    throw invalid('Cannot create sim evidence: `at` must be a valid Date not before 1970');
  }
  const key = privateKeyOf(options.platformKey);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (spki.length !== SIM_PLATFORM_KEY_LENGTH) throw invalid('Cannot create sim evidence: unexpected Ed25519 SPKI length');

  const O = SIM_OFFSETS;
  const out = new Uint8Array(SIM_EVIDENCE_SIZE);
  const view = new DataView(out.buffer);
  out.set(SIM_MAGIC, O.magic);
  view.setUint16(O.version, SIM_VERSION, false);
  view.setUint16(O.flags, options.debug === true ? SIM_FLAG_DEBUG : 0, false);
  out.set(measurement, O.measurement);
  out.set(reportData, O.reportData); // the rest of the 64 bytes stays zero
  view.setBigUint64(O.timestamp, BigInt(timestampMs), false);
  view.setUint16(O.platformKeyLength, spki.length, false);
  out.set(spki, O.platformKey);
  // Ed25519 (RFC 8032, pure): node:crypto takes no digest name for it.
  out.set(sign(null, out.subarray(0, O.signature), key), O.signature);
  return out;
}
