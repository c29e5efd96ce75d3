/**
 * The stable error codes the AMD SEV-SNP parser and verifier throw (always as InclavareError), and their
 * factory. Callers and tests match on these codes, never on messages. Each code's class is in the ATTEST_ERR
 * table (../codes.ts).
 */
import type { InclavareError, InclavareErrorOptions } from '../../errors/errors.ts';
import { attestError, type AttestErrorCode } from '../codes.ts';

export const AMD_ERROR_CODES = Object.freeze({
  /** The report, a certificate or a PEM bundle cannot be decoded (truncated, wrong size, garbage). */
  MALFORMED: 'ATTEST_ERR_MALFORMED',
  /** The report's VERSION is not one this parser knows (2, 3, 4, 5). */
  UNSUPPORTED_VERSION: 'ATTEST_ERR_UNSUPPORTED_VERSION',
  /** The report is unsigned, uses an unknown algorithm, or its ECDSA P-384 signature does not verify. */
  REPORT_SIGNATURE: 'ATTEST_ERR_REPORT_SIGNATURE',
  /** A certificate in ARK -> ASK/ASVK -> VCEK/VLEK is not signed by its issuer or has the wrong shape. */
  CERT_CHAIN: 'ATTEST_ERR_CERT_CHAIN',
  /** The chain's ARK is not byte-identical to a trusted ARK. */
  UNTRUSTED_ROOT: 'ATTEST_ERR_UNTRUSTED_ROOT',
  /** The report's REPORTED_TCB differs from the TCB SPLs in the VCEK/VLEK. */
  TCB_MISMATCH: 'ATTEST_ERR_TCB_MISMATCH',
  /** The report's CHIP_ID (or CPUID product) differs from the VCEK's hwID (or product). */
  CHIP_ID_MISMATCH: 'ATTEST_ERR_CHIP_ID_MISMATCH',
  /** Only with `rejectDebug: true`: the guest policy allows debugging (POLICY bit 19). */
  DEBUG: 'ATTEST_ERR_DEBUG',
  /** A certificate of the chain is not valid at the verification time. */
  COLLATERAL_EXPIRED: 'ATTEST_ERR_COLLATERAL_EXPIRED',
  /** No VCEK/VLEK was given, or no ASK/ASVK for the leaf's issuer is available. */
  COLLATERAL_MISSING: 'ATTEST_ERR_COLLATERAL_MISSING',
} as const satisfies Record<string, AttestErrorCode>);

/** One of {@link AMD_ERROR_CODES}. */
export type AmdErrorCode = (typeof AMD_ERROR_CODES)[keyof typeof AMD_ERROR_CODES];

/** Builds the InclavareError for an AMD code with that code's class (the ATTEST_ERR table). */
export const amdError: (code: AmdErrorCode, message: string, options?: InclavareErrorOptions) => InclavareError = attestError;
