/**
 * The error codes of tee-tools itself: errors in the invocation rather than in the evidence. Both are usage
 * errors (exit 2, docs/attestation.md "tee-tools"): the evidence was never judged. Everything the verifiers
 * throw (ATTEST_ERR_*, RATS_TLS_ERR_*) is a rejection, exit 1.
 */
import { defineErrorCodes } from '../errors/errors.ts';

/** Codes of errors in the invocation itself rather than in the evidence. */
export const TEE_TOOLS_ERROR_CODES = Object.freeze({
  /** A flag value is invalid (bad --at, --fmspc, ...). */
  USAGE: 'TEE_TOOLS_ERR_USAGE',
  /** A file or directory named on the command line cannot be read or written. */
  IO: 'TEE_TOOLS_ERR_IO',
} as const);

/** The tee-tools table: an InclavareError with a tee-tools code (both are usage errors). */
export const teeToolsError = defineErrorCodes('TEE_TOOLS_ERR', {
  TEE_TOOLS_ERR_USAGE: 'usage',
  // A file named on the command line: the invocation is what is wrong, as with a bad flag (exit 2).
  TEE_TOOLS_ERR_IO: 'usage',
});
