/**
 * The TDX scheme, as the registry (../registry.ts) lists it: Intel DCAP quotes whose header says TEE type
 * 0x81 (v4, v5).
 */
import { INTEL_QUOTE_CBOR_TAG, quoteHeaderTeeType, quoteReportData, TEE_TYPE_TDX } from '../intel/quote.ts';
import { intelVerifyOptions, type IntelEvidenceOptions } from '../intel/verify-quote.ts';
import type { TeeScheme } from '../scheme.ts';
import { dumpTdxQuote } from './dump.ts';
import { verifyTdxQuote } from './verify.ts';

/** TDX: detect, report_data, CBOR tag, verify (options: `{ collateral?, trustAnchors? }`), dump. */
export const TDX_SCHEME: TeeScheme<IntelEvidenceOptions> = Object.freeze({
  detect: (bytes: Uint8Array) => quoteHeaderTeeType(bytes) === TEE_TYPE_TDX,
  reportData: quoteReportData,
  cborTag: INTEL_QUOTE_CBOR_TAG,
  verify: (bytes: Uint8Array, options: IntelEvidenceOptions & { at: Date }) => verifyTdxQuote(bytes, intelVerifyOptions(options)),
  dump: dumpTdxQuote,
});
