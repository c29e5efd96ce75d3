/**
 * report_data of evidence, read without verifying it: the binding of a certificate is reported even when the
 * evidence itself cannot be verified (e.g. no collateral at hand). Each TEE's scheme knows where it is.
 */
import type { TeeType } from '../attestation/claims.ts';
import { TEE_SCHEMES } from '../attestation/registry.ts';

/** The 64 bytes of report_data of evidence of `tee`; throws the TEE parser's InclavareError on bad bytes. */
export function readReportData(evidence: Uint8Array, tee: TeeType): Uint8Array {
  return TEE_SCHEMES[tee].reportData(evidence);
}
