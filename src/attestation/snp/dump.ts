/**
 * `tee-tools dump` of an SEV-SNP ATTESTATION_REPORT: every parsed field (policy and platform info decoded,
 * TCBs in the generation's layout). Parsing only.
 */
import type { EvidenceFields } from '../scheme.ts';
import { parseSnpReport } from './parse.ts';

/** Every parsed field of an SNP report; nothing is verified. */
export function dumpSnpReport(bytes: Uint8Array): EvidenceFields {
  const { raw: _raw, signedBytes: _signed, ...fields } = parseSnpReport(bytes);
  return { format: 'sev-snp-attestation-report', fields };
}
