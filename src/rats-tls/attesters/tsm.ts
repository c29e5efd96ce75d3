/**
 * The `tdx` and `snp` attesters for processes running directly in a confidential VM: Linux configfs-tsm
 * (/sys/kernel/config/tsm/report) turns 64 bytes of report data into a TDX quote or an SNP attestation
 * report. Workloads in enclave containers use the `sim` attester's socket instead (inclavared then asks
 * configfs-tsm with the container's measurement bound in), so that a container cannot speak for the node.
 */
import { requestTsmReport, type TsmFs } from '../../attestation-socket/tsm.ts';
import { RATS_TLS_ERROR_CODES, ratsTlsError } from '../codes.ts';
import type { Attester } from './attester.ts';

/** The kernel's configfs-tsm report directory. */
export const DEFAULT_TSM_PATH = '/sys/kernel/config/tsm/report';

/** Options of createTsmAttester(). */
export interface TsmAttesterOptions {
  tee: 'tdx' | 'snp';
  /** Default /sys/kernel/config/tsm/report. */
  tsmPath?: string;
  /** The file operations (tests hand in a double of configfs). */
  fs?: TsmFs;
}

/** An attester that asks configfs-tsm for a TDX quote or an SNP report over the report data. */
export function createTsmAttester(options: TsmAttesterOptions): Attester {
  const tsmPath = options.tsmPath ?? DEFAULT_TSM_PATH;
  return {
    tee: options.tee,
    async getEvidence(reportData: Uint8Array): Promise<Uint8Array> {
      if (reportData.length > 64) throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot get ${options.tee} evidence: report data is ${reportData.length} bytes, at most 64`);
      const inblob = new Uint8Array(64);
      inblob.set(reportData);
      try {
        return (await requestTsmReport(inblob, { tsmPath, tee: options.tee, ...(options.fs ? { fs: options.fs } : {}) })).outblob;
      } catch (err) {
        throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot get ${options.tee} evidence from configfs-tsm at ${tsmPath}`, { cause: err });
      }
    },
  };
}
