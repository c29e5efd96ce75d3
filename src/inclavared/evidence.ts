/**
 * Evidence for one registered container (the software quoting service and the hardware broker):
 * - sim, wasm: `sim` evidence (docs/evidence-sim.md) signed by the platform key over the container's
 *   registered measurement and the workload's report data;
 * - tdx, snp: the node's quote/report from configfs-tsm with report_data = SHA-512(measurement ‖
 *   report data zero-padded to 64 bytes), which binds the container into the node's evidence.
 * The measurement always comes from the registration, never from the workload.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { createSimEvidence } from '../attestation/sim/create.ts';
import type { TeeType } from '../attestation/claims.ts';
import { MAX_REPORT_DATA_LENGTH, type EnclaveTee } from '../attestation-socket/requests.ts';
import { requestTsmReport, type TsmFs } from '../attestation-socket/tsm.ts';
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../attestation-socket/codes.ts';

/** A registered container, as the daemon keeps it. */
export interface ContainerRecord {
  id: string;
  /** The host-computed measurement (48 bytes); undefined while the registration is pending. */
  measurement?: Uint8Array;
  tee: EnclaveTee;
  /** verdictd's address: the attestation socket relays CONNECTs there (and nowhere else). */
  relay?: string;
}

/** What producing evidence needs besides the container. */
export interface EvidenceContext {
  platformKey: KeyObject;
  /** The signing time of sim evidence. */
  clock: () => Date;
  /** configfs-tsm's report root. */
  tsmPath: string;
  /** configfs-tsm's file operations (tests: a fake configfs). */
  tsmFs?: TsmFs;
}

/** Evidence and the format it is in (which verifier reads it). */
export interface ProducedEvidence {
  format: Extract<TeeType, 'sim' | 'tdx' | 'snp'>;
  evidence: Uint8Array;
}

/** The evidence format of an enclave type: software enclaves all present `sim` evidence. */
export function evidenceFormat(tee: EnclaveTee): ProducedEvidence['format'] {
  return tee === 'tdx' || tee === 'snp' ? tee : 'sim';
}

/** report_data of a TDX/SNP report for a container: SHA-512(measurement ‖ reportData zero-padded to 64). */
export function tsmReportData(measurement: Uint8Array, reportData: Uint8Array): Uint8Array {
  const padded = new Uint8Array(MAX_REPORT_DATA_LENGTH);
  padded.set(reportData);
  return new Uint8Array(createHash('sha512').update(measurement).update(padded).digest());
}

/** Produces evidence for `container` binding `reportData` (0-64 bytes). */
export async function produceEvidence(container: ContainerRecord, reportData: Uint8Array, ctx: EvidenceContext): Promise<ProducedEvidence> {
  const format = evidenceFormat(container.tee);
  const measurement = container.measurement;
  if (measurement === undefined) {
    throw inclavaredError(
      INCLAVARED_ERROR_CODES.MEASUREMENT_PENDING,
      `Cannot produce evidence for container ${container.id}: its measurement is not bound yet (rune binds it before its create returns; a container whose create did not finish has none: delete it)`,
    );
  }
  if (format === 'sim') {
    const evidence = createSimEvidence({ measurement, reportData, platformKey: ctx.platformKey, at: ctx.clock() });
    return { format, evidence };
  }
  const report = await requestTsmReport(tsmReportData(measurement, reportData), { tsmPath: ctx.tsmPath, tee: format, fs: ctx.tsmFs });
  return { format, evidence: report.outblob };
}
