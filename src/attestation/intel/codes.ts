/**
 * The error codes the Intel DCAP verifiers (sgx, tdx and the shared intel/ code) throw, and their factory.
 * Codes are the API: tests and callers match on them. Each code's class is in the ATTEST_ERR table
 * (../codes.ts).
 */
import type { InclavareError, InclavareErrorOptions } from '../../errors/errors.ts';
import { attestError, type AttestErrorCode } from '../codes.ts';

/** Every code the Intel DCAP quote parser, collateral loader/fetcher and verifiers throw. */
export const INTEL_ERROR_CODES = {
  /** Truncated, inconsistent or garbage quote bytes. */
  MALFORMED: 'ATTEST_ERR_MALFORMED',
  /** Quote version, attestation key type, TEE type, body type or certification data type we do not verify. */
  UNSUPPORTED_VERSION: 'ATTEST_ERR_UNSUPPORTED_VERSION',
  /** verifySgxQuote() was given a TDX quote or the other way round. */
  TEE_MISMATCH: 'ATTEST_ERR_TEE_MISMATCH',
  /** The attestation key's signature over header and body does not verify. */
  QUOTE_SIGNATURE: 'ATTEST_ERR_QUOTE_SIGNATURE',
  /** The QE report's signature does not verify with the PCK certificate's key. */
  QE_REPORT_SIGNATURE: 'ATTEST_ERR_QE_REPORT_SIGNATURE',
  /** QE report_data is not SHA-256(attestation key || QE auth data) || 32 zero bytes. */
  QE_REPORT_BINDING: 'ATTEST_ERR_QE_REPORT_BINDING',
  /** The PCK certificate chain is unparseable, incomplete or a signature in it does not verify. */
  PCK_CHAIN: 'ATTEST_ERR_PCK_CHAIN',
  /** A chain ends in a root certificate that is not byte-identical to a trust anchor. */
  UNTRUSTED_ROOT: 'ATTEST_ERR_UNTRUSTED_ROOT',
  /** A certificate is listed on a CRL, or the converged TCB status is Revoked. */
  REVOKED: 'ATTEST_ERR_REVOKED',
  /** A CRL does not verify, or is not the CRL of the CA that issued the certificate it is checked against. */
  CRL: 'ATTEST_ERR_CRL',
  /** TCB Info signature or its issuer chain does not verify. */
  TCB_INFO_SIGNATURE: 'ATTEST_ERR_TCB_INFO_SIGNATURE',
  /** QE Identity signature or its issuer chain does not verify. */
  QE_IDENTITY_SIGNATURE: 'ATTEST_ERR_QE_IDENTITY_SIGNATURE',
  /** The QE report does not match the QE Identity (MRSIGNER, ISVPRODID, MISCSELECT, ATTRIBUTES, id). */
  QE_IDENTITY_MISMATCH: 'ATTEST_ERR_QE_IDENTITY_MISMATCH',
  /** TCB Info is for another FMSPC than the PCK certificate's. */
  FMSPC_MISMATCH: 'ATTEST_ERR_FMSPC_MISMATCH',
  /** TCB Info is for another TEE (SGX/TDX) or PCE-ID than the quote. */
  TCB_INFO_MISMATCH: 'ATTEST_ERR_TCB_INFO_MISMATCH',
  /** No TCB level of the TCB Info (or of the TDX module identity) is met by the platform. */
  NO_TCB_LEVEL: 'ATTEST_ERR_NO_TCB_LEVEL',
  /** Some input (certificate, CRL, TCB Info, QE Identity) is not valid at the verification time. */
  COLLATERAL_EXPIRED: 'ATTEST_ERR_COLLATERAL_EXPIRED',
  /** A collateral item needed for a full verification is absent. */
  COLLATERAL_MISSING: 'ATTEST_ERR_COLLATERAL_MISSING',
  /** A collateral item is present but cannot be parsed (bad JSON, unknown version, bad DER). */
  COLLATERAL_MALFORMED: 'ATTEST_ERR_COLLATERAL_MALFORMED',
  /** The PCS/PCCS service could not be reached or answered with an error. */
  COLLATERAL_FETCH: 'ATTEST_ERR_COLLATERAL_FETCH',
  /** The TDX module (MRSIGNERSEAM, SEAM attributes, module identity) does not match the TCB Info. */
  TDX_MODULE: 'ATTEST_ERR_TDX_MODULE',
} as const satisfies Record<string, AttestErrorCode>;

/** One of {@link INTEL_ERROR_CODES}. */
export type IntelErrorCode = (typeof INTEL_ERROR_CODES)[keyof typeof INTEL_ERROR_CODES];

/** Builds the InclavareError for an Intel code with that code's class (the ATTEST_ERR table). */
export const intelError: (code: IntelErrorCode, message: string, options?: InclavareErrorOptions) => InclavareError = attestError;
