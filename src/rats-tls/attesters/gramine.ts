/**
 * The `sgx` attester inside a Gramine enclave: Gramine's pseudo-filesystem /dev/attestation turns report data
 * into an SGX DCAP quote — write 64 bytes to `user_report_data`, read `quote` (Gramine's attestation
 * interface; `attestation_type` says "dcap" when DCAP quotes are available).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RATS_TLS_ERROR_CODES, ratsTlsError } from '../codes.ts';
import type { Attester } from './attester.ts';

/** The file operations the attester needs (tests hand in a double of /dev/attestation). */
export interface AttestationFs {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
}

const nodeFs: AttestationFs = {
  readFile: async (path) => new Uint8Array(await readFile(path)),
  writeFile: (path, data) => writeFile(path, data),
};

/** Options of createGramineAttester(). */
export interface GramineAttesterOptions {
  /** Default /dev/attestation. */
  dir?: string;
  fs?: AttestationFs;
}

/** An SGX attester for workloads running in Gramine (DCAP). */
export function createGramineAttester(options: GramineAttesterOptions = {}): Attester {
  const dir = options.dir ?? '/dev/attestation';
  const fs = options.fs ?? nodeFs;
  return {
    tee: 'sgx',
    async getEvidence(reportData: Uint8Array): Promise<Uint8Array> {
      if (reportData.length > 64) throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot get sgx evidence: report data is ${reportData.length} bytes, at most 64`);
      const data = new Uint8Array(64);
      data.set(reportData);
      try {
        const type = Buffer.from(await fs.readFile(join(dir, 'attestation_type'))).toString('utf8').trim();
        if (type !== 'dcap') {
          throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot get sgx evidence: Gramine's attestation type is ${JSON.stringify(type)}, not "dcap" (set sgx.remote_attestation = "dcap" in the manifest)`);
        }
        await fs.writeFile(join(dir, 'user_report_data'), data);
        return await fs.readFile(join(dir, 'quote'));
      } catch (err) {
        if (err instanceof Error && 'code' in err && err.code === RATS_TLS_ERROR_CODES.ATTESTER) throw err;
        throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot get sgx evidence from ${dir} (is this a Gramine enclave with remote attestation?)`, { cause: err });
      }
    },
  };
}
