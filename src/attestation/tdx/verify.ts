/**
 * TDX DCAP quote verification (quote v4 with a TDX 1.0 body, v5 with TDX 1.0 or 1.5): the shared Intel
 * verification (intel/verify-quote.ts, including the TDX module identity) plus the TDX claims (claims.ts).
 */
import type { Claims } from '../claims.ts';
import { INTEL_ERROR_CODES, intelError } from '../intel/codes.ts';
import { parseIntelQuote } from '../intel/quote.ts';
import { verifyParsedIntelQuote, type IntelVerifyOptions } from '../intel/verify-quote.ts';
import { tdxClaims } from './claims.ts';

export type { IntelVerifyOptions } from '../intel/verify-quote.ts';

/**
 * Verifies a TDX DCAP quote against collateral at `options.at` and returns its claims; throws an
 * InclavareError (ATTEST_ERR_*) when anything does not check out.
 */
export function verifyTdxQuote(quote: Uint8Array, options: IntelVerifyOptions): Claims {
  const parsed = parseIntelQuote(quote);
  if (parsed.tee !== 'tdx') {
    throw intelError(INTEL_ERROR_CODES.TEE_MISMATCH, 'Cannot verify TDX quote: this is an SGX quote (TEE type 0x00); use verifySgxQuote()');
  }
  return tdxClaims(verifyParsedIntelQuote(parsed, options));
}
