/**
 * Entry point for any Intel DCAP quote: dispatches on the header's TEE type (0x00 SGX, 0x81 TDX).
 */
import type { Claims } from '../claims.ts';
import { sgxClaims } from '../sgx/claims.ts';
import { tdxClaims } from '../tdx/claims.ts';
import { parseIntelQuote } from './quote.ts';
import { verifyParsedIntelQuote, type IntelVerifyOptions } from './verify-quote.ts';

export type { IntelVerifyOptions } from './verify-quote.ts';

/** Verifies an SGX or TDX DCAP quote (chosen by its TEE type) and returns its claims. */
export function verifyIntelQuote(quote: Uint8Array, options: IntelVerifyOptions): Claims {
  const parsed = parseIntelQuote(quote);
  const v = verifyParsedIntelQuote(parsed, options);
  return parsed.tee === 'sgx' ? sgxClaims(v) : tdxClaims(v);
}
