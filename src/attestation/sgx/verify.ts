/**
 * SGX DCAP quote verification (quote v3, or v4/v5 with an SGX body): the shared Intel verification
 * (intel/verify-quote.ts) plus the SGX claims (claims.ts).
 */
import type { Claims } from '../claims.ts';
import { INTEL_ERROR_CODES, intelError } from '../intel/codes.ts';
import { parseIntelQuote } from '../intel/quote.ts';
import { verifyParsedIntelQuote, type IntelVerifyOptions } from '../intel/verify-quote.ts';
import { sgxClaims } from './claims.ts';

export type { IntelVerifyOptions } from '../intel/verify-quote.ts';

/**
 * Verifies an SGX DCAP quote against collateral at `options.at` and returns its claims; throws an
 * InclavareError (ATTEST_ERR_*) when anything does not check out.
 */
export function verifySgxQuote(quote: Uint8Array, options: IntelVerifyOptions): Claims {
  const parsed = parseIntelQuote(quote);
  if (parsed.tee !== 'sgx') {
    throw intelError(INTEL_ERROR_CODES.TEE_MISMATCH, 'Cannot verify SGX quote: this is a TDX quote (TEE type 0x81); use verifyTdxQuote()');
  }
  return sgxClaims(verifyParsedIntelQuote(parsed, options));
}
