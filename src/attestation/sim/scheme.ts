/**
 * The sim scheme, as the registry (../registry.ts) lists it: Inclavare's software-enclave evidence
 * (docs/evidence-sim.md), trusted only with platform keys the caller names.
 */
import type { TeeScheme } from '../scheme.ts';
import { dumpSimEvidence } from './dump.ts';
import { parseSimEvidence, SIM_MAGIC } from './parse.ts';
import { verifySimEvidence, type SimVerifyOptions } from './verify.ts';

/**
 * Our private CBOR tag for `sim` evidence (docs/evidence-sim.md). Chosen next to RATS-TLS's private tags
 * (0x1a7504 SNP, 0x1a7505 SEV, 0x1a7506 CSV) but with a gap of 0x100 so that future RATS-TLS tags do not
 * collide with it. sim evidence isolates nothing: verifiers trust it only with an explicit platform key.
 */
export const SIM_CBOR_TAG = 0x1a7600;

/** The inputs the sim scheme takes from verifyEvidence() (`options.sim`). */
export interface SimEvidenceOptions {
  /** Platform keys to trust (KeyObject, SPKI DER or PEM); none is built in: sim is never trusted by default. */
  platformKeys?: SimVerifyOptions['trustedPlatformKeys'];
  /** How old evidence may be at `at` (ms); default 5 minutes. */
  maxAgeMs?: number;
  /** How far its timestamp may lie after `at` (ms); default 1 minute. */
  maxFutureSkewMs?: number;
}

/** sim: detect, report_data, CBOR tag, verify (options: `{ platformKeys, maxAgeMs?, maxFutureSkewMs? }`), dump. */
export const SIM_SCHEME: TeeScheme<SimEvidenceOptions> = Object.freeze({
  detect: (bytes: Uint8Array) => bytes.length >= SIM_MAGIC.length && SIM_MAGIC.every((x, i) => bytes[i] === x),
  reportData: (bytes: Uint8Array) => Uint8Array.from(parseSimEvidence(bytes).reportData),
  cborTag: SIM_CBOR_TAG,
  verify: (bytes: Uint8Array, o: SimEvidenceOptions & { at: Date }) =>
    verifySimEvidence(bytes, {
      trustedPlatformKeys: o.platformKeys ?? [],
      at: o.at,
      ...(o.maxAgeMs !== undefined ? { maxAgeMs: o.maxAgeMs } : {}),
      ...(o.maxFutureSkewMs !== undefined ? { maxFutureSkewMs: o.maxFutureSkewMs } : {}),
    }),
  dump: dumpSimEvidence,
});
