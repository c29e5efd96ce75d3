/**
 * The ATTEST_ERR_* table: every code the evidence verifiers (sgx, tdx, snp, sim, the shared intel/ and amd/
 * code and the registry) throw, each declared once with its one class. Codes are shared by the TEEs (a
 * truncated SGX quote and a truncated SNP report are both ATTEST_ERR_MALFORMED), so the table is one for the
 * whole area; each TEE's code list (INTEL_ERROR_CODES, AMD_ERROR_CODES, SIM_ERROR_CODES, EVIDENCE_ERROR_CODES)
 * names the subset it throws. Bad input is invalid-argument, a collateral service that does not answer is
 * unavailable, evidence that does not verify is verification-failed (docs/attestation.md, docs/errors.md).
 */
import { defineErrorCodes } from '../errors/errors.ts';

/** An InclavareError with an attestation code and that code's class. */
export const attestError = defineErrorCodes('ATTEST_ERR', {
  // The input cannot be used (invalid-argument).
  /** Truncated, inconsistent or garbage evidence, certificate or PEM bytes; bad options (no valid `at`). */
  ATTEST_ERR_MALFORMED: 'invalid-argument',
  /** A structure version or type (quote, key, TEE, body, certification data, report) this verifier does not know. */
  ATTEST_ERR_UNSUPPORTED_VERSION: 'invalid-argument',
  /** The evidence is another TEE's than the one asked for. */
  ATTEST_ERR_TEE_MISMATCH: 'invalid-argument',
  /** The bytes are not evidence of any TEE the registry knows. */
  ATTEST_ERR_UNKNOWN_TEE: 'invalid-argument',
  /** A collateral item is present but cannot be parsed (bad JSON, unknown version, bad DER). */
  ATTEST_ERR_COLLATERAL_MALFORMED: 'invalid-argument',

  // A service the verifier needs does not answer (unavailable).
  /** The PCS/PCCS service could not be reached or answered with an error. */
  ATTEST_ERR_COLLATERAL_FETCH: 'unavailable',

  // The evidence does not verify (verification-failed).
  /** A collateral item needed for a full verification is absent (Intel collateral, the VCEK/VLEK, an ASK). */
  ATTEST_ERR_COLLATERAL_MISSING: 'verification-failed',
  /** Some input (certificate, CRL, TCB Info, QE Identity, sim timestamp) is not valid at the verification time. */
  ATTEST_ERR_COLLATERAL_EXPIRED: 'verification-failed',
  /** A chain ends in a root certificate that is not byte-identical to a trust anchor. */
  ATTEST_ERR_UNTRUSTED_ROOT: 'verification-failed',
  /** Only with `rejectDebug: true`: the evidence comes from a debug enclave / TD / guest. */
  ATTEST_ERR_DEBUG: 'verification-failed',
  /** Intel: the attestation key's signature over header and body does not verify. */
  ATTEST_ERR_QUOTE_SIGNATURE: 'verification-failed',
  /** Intel: the QE report's signature does not verify with the PCK certificate's key. */
  ATTEST_ERR_QE_REPORT_SIGNATURE: 'verification-failed',
  /** Intel: QE report_data is not SHA-256(attestation key || QE auth data) || 32 zero bytes. */
  ATTEST_ERR_QE_REPORT_BINDING: 'verification-failed',
  /** Intel: the PCK certificate chain is unparseable, incomplete or a signature in it does not verify. */
  ATTEST_ERR_PCK_CHAIN: 'verification-failed',
  /** Intel: a certificate is listed on a CRL, or the converged TCB status is Revoked. */
  ATTEST_ERR_REVOKED: 'verification-failed',
  /** Intel: a CRL does not verify, or is not the CRL of the CA that issued the certificate it is checked against. */
  ATTEST_ERR_CRL: 'verification-failed',
  /** Intel: TCB Info signature or its issuer chain does not verify. */
  ATTEST_ERR_TCB_INFO_SIGNATURE: 'verification-failed',
  /** Intel: QE Identity signature or its issuer chain does not verify. */
  ATTEST_ERR_QE_IDENTITY_SIGNATURE: 'verification-failed',
  /** Intel: the QE report does not match the QE Identity (MRSIGNER, ISVPRODID, MISCSELECT, ATTRIBUTES, id). */
  ATTEST_ERR_QE_IDENTITY_MISMATCH: 'verification-failed',
  /** Intel: TCB Info is for another FMSPC than the PCK certificate's. */
  ATTEST_ERR_FMSPC_MISMATCH: 'verification-failed',
  /** Intel: TCB Info is for another TEE (SGX/TDX) or PCE-ID than the quote. */
  ATTEST_ERR_TCB_INFO_MISMATCH: 'verification-failed',
  /** Intel: no TCB level of the TCB Info (or of the TDX module identity) is met by the platform. */
  ATTEST_ERR_NO_TCB_LEVEL: 'verification-failed',
  /** Intel: the TDX module (MRSIGNERSEAM, SEAM attributes, module identity) does not match the TCB Info. */
  ATTEST_ERR_TDX_MODULE: 'verification-failed',
  /** AMD: the report is unsigned, uses an unknown algorithm, or its ECDSA P-384 signature does not verify. */
  ATTEST_ERR_REPORT_SIGNATURE: 'verification-failed',
  /** AMD: a certificate in ARK -> ASK/ASVK -> VCEK/VLEK is not signed by its issuer or has the wrong shape. */
  ATTEST_ERR_CERT_CHAIN: 'verification-failed',
  /** AMD: the report's REPORTED_TCB differs from the TCB SPLs in the VCEK/VLEK. */
  ATTEST_ERR_TCB_MISMATCH: 'verification-failed',
  /** AMD: the report's CHIP_ID (or CPUID product) differs from the VCEK's hwID (or product). */
  ATTEST_ERR_CHIP_ID_MISMATCH: 'verification-failed',
  /** sim: the Ed25519 signature over the evidence does not verify with the embedded platform key. */
  ATTEST_ERR_SIM_SIGNATURE: 'verification-failed',
  /** sim: the embedded platform key is not one of the caller's trusted platform keys. */
  ATTEST_ERR_UNTRUSTED_PLATFORM_KEY: 'verification-failed',

  // A failure inside the verifier (internal).
  /** A verifier failed with something other than an InclavareError (a bug); the cause says what. */
  ATTEST_ERR_INTERNAL: 'internal',
});

/** One of the ATTEST_ERR_* codes. */
export type AttestErrorCode = keyof typeof attestError.table;
