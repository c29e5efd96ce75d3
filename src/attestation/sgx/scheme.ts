/**
 * The SGX scheme, as the registry (../registry.ts) lists it: Intel DCAP quotes whose header says TEE type
 * 0x00 (v3, or v4/v5 with an SGX body).
 */
import { INTEL_QUOTE_CBOR_TAG, quoteHeaderTeeType, quoteReportData, TEE_TYPE_SGX } from '../intel/quote.ts';
import { intelVerifyOptions, type IntelEvidenceOptions } from '../intel/verify-quote.ts';
import type { TeeScheme } from '../scheme.ts';
import { dumpSgxQuote } from './dump.ts';
import { verifySgxQuote } from './verify.ts';

/** SGX: detect, report_data, CBOR tag, verify (options: `{ collateral?, trustAnchors? }`), dump. */
export const SGX_SCHEME: TeeScheme<IntelEvidenceOptions> = Object.freeze({
  detect: (bytes: Uint8Array) => quoteHeaderTeeType(bytes) === TEE_TYPE_SGX,
  reportData: quoteReportData,
  cborTag: INTEL_QUOTE_CBOR_TAG,
  verify: (bytes: Uint8Array, options: IntelEvidenceOptions & { at: Date }) => verifySgxQuote(bytes, intelVerifyOptions(options)),
  dump: dumpSgxQuote,
});
