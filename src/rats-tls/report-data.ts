/**
 * report_data of evidence, read without verifying it: the binding of a certificate is reported even when the
 * evidence itself cannot be verified (e.g. no collateral at hand).
 */
import type { TeeType } from '../attestation/claims.ts';
import { parseIntelQuote } from '../attestation/intel/quote.ts';
import { parseSimEvidence } from '../attestation/sim/parse.ts';
import { parseSnpReport } from '../attestation/snp/parse.ts';

/** The 64 bytes of report_data of evidence of `tee`; throws the TEE parser's InclavareError on bad bytes. */
export function readReportData(evidence: Uint8Array, tee: TeeType): Uint8Array {
  switch (tee) {
    case 'sgx':
    case 'tdx':
      return Uint8Array.from(Buffer.from(parseIntelQuote(evidence).body.report.reportData, 'hex'));
    case 'snp':
      return Uint8Array.from(parseSnpReport(evidence).reportData);
    case 'sim':
      return Uint8Array.from(parseSimEvidence(evidence).reportData);
  }
}
