/**
 * sim claims from verified sim evidence: the software enclave's measurement, report_data, the debug flag, the
 * platform key's fingerprint, and what sim evidence is worth (`extra.insecure = true`, docs/evidence-sim.md).
 */
import { createHash } from 'node:crypto';
import type { Claims } from '../claims.ts';
import type { SimEvidence } from './parse.ts';

/** What every sim claim says about its security. */
export const SIM_INSECURE_NOTE =
  'sim evidence isolates nothing: the workload runs as an ordinary process and the host can read and forge it';

/** ECMAScript dates span ±8.64e15 ms; validity bounds are clamped into that range. */
const MAX_TIME_MS = 8.64e15;

/** Builds sim claims from evidence whose platform key is trusted, signature verified and timestamp fresh. */
export function simClaims(evidence: SimEvidence, platformKey: Uint8Array, valid: { from: number; until: number }): Claims {
  return {
    tee: 'sim',
    evidenceVersion: evidence.version,
    measurements: { measurement: Buffer.from(evidence.measurement).toString('hex') },
    debug: evidence.debug,
    reportData: Buffer.from(evidence.reportData).toString('hex'),
    tcbStatus: null,
    advisoryIds: [],
    platform: { platformKeyId: createHash('sha256').update(platformKey).digest('hex') },
    validFrom: new Date(Math.max(valid.from, -MAX_TIME_MS)).toISOString(),
    validUntil: new Date(Math.min(valid.until, MAX_TIME_MS)).toISOString(),
    extra: { insecure: true, note: SIM_INSECURE_NOTE, timestamp: evidence.timestamp.toISOString() },
  };
}
