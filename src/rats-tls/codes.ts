/**
 * Error codes of the RATS-TLS certificate layer (docs/rats-tls.md). Every failure on untrusted certificate
 * bytes is an InclavareError with one of these codes.
 */
import { defineErrorCodes } from '../errors/errors.ts';

/** The codes; they are the API. */
export const RATS_TLS_ERROR_CODES = Object.freeze({
  /** The certificate, its evidence extension or the CBOR inside is not of the documented shape. */
  MALFORMED: 'RATS_TLS_ERR_MALFORMED',
  /** The DICE evidence carries a CBOR tag we do not know. */
  UNKNOWN_TAG: 'RATS_TLS_ERR_UNKNOWN_TAG',
  /** The evidence extension is marked critical (peers built on OpenSSL/mbedTLS would refuse the certificate). */
  CRITICAL_EXTENSION: 'RATS_TLS_ERR_CRITICAL_EXTENSION',
  /** The certificate has no evidence and unattested peers are not allowed. */
  NO_EVIDENCE: 'RATS_TLS_ERR_NO_EVIDENCE',
  /** report_data does not commit to the claims (DICE) or to the certificate key (legacy). */
  REPORT_DATA_MISMATCH: 'RATS_TLS_ERR_REPORT_DATA_MISMATCH',
  /** The claims' pubkey-hash is not the hash of this certificate's key. */
  PUBKEY_HASH_MISMATCH: 'RATS_TLS_ERR_PUBKEY_HASH_MISMATCH',
  /** pubkey-hash names a hash algorithm other than sha-256/384/512. */
  UNSUPPORTED_HASH: 'RATS_TLS_ERR_UNSUPPORTED_HASH',
  /** The evidence format does not match what the tag or OID announces. */
  TEE_MISMATCH: 'RATS_TLS_ERR_TEE_MISMATCH',
  /** The nonce claim is missing or differs from the expected one. */
  NONCE_MISMATCH: 'RATS_TLS_ERR_NONCE_MISMATCH',
  /** The certificate is outside its validity period at the verification time. */
  CERT_NOT_VALID: 'RATS_TLS_ERR_CERT_NOT_VALID',
  /** The certificate is not self-signed by its own key. */
  BAD_SIGNATURE: 'RATS_TLS_ERR_BAD_SIGNATURE',
  /** The evidence verifier rejected the evidence (the cause says why). */
  EVIDENCE_REJECTED: 'RATS_TLS_ERR_EVIDENCE_REJECTED',
  /** The attester could not produce evidence. */
  ATTESTER: 'RATS_TLS_ERR_ATTESTER',
  /** The peer's verified claims do not satisfy the caller's expectations or callback (TLS layer). */
  POLICY_REJECTED: 'RATS_TLS_ERR_POLICY_REJECTED',
  /** The peer presented no certificate where one is required (TLS layer, mutual mode). */
  NO_PEER_CERTIFICATE: 'RATS_TLS_ERR_NO_PEER_CERTIFICATE',
  /** The peer broke the in-band freshness protocol (bad frame, closed early, timed out). */
  PROTOCOL: 'RATS_TLS_ERR_PROTOCOL',
  /** Bad options from the caller. */
  INVALID_ARGUMENT: 'RATS_TLS_ERR_INVALID_ARGUMENT',
} as const);

/** One of {@link RATS_TLS_ERROR_CODES}. */
export type RatsTlsErrorCode = (typeof RATS_TLS_ERROR_CODES)[keyof typeof RATS_TLS_ERROR_CODES];

/**
 * The RATS-TLS table: an InclavareError with a RATS-TLS code and that code's class. Bad options are usage
 * errors (the sample exits 2); the attester failing is unavailable; everything else rejects the peer.
 */
export const ratsTlsError = defineErrorCodes('RATS_TLS_ERR', {
  RATS_TLS_ERR_MALFORMED: 'verification-failed',
  RATS_TLS_ERR_UNKNOWN_TAG: 'verification-failed',
  RATS_TLS_ERR_CRITICAL_EXTENSION: 'verification-failed',
  RATS_TLS_ERR_NO_EVIDENCE: 'verification-failed',
  RATS_TLS_ERR_REPORT_DATA_MISMATCH: 'verification-failed',
  RATS_TLS_ERR_PUBKEY_HASH_MISMATCH: 'verification-failed',
  RATS_TLS_ERR_UNSUPPORTED_HASH: 'verification-failed',
  RATS_TLS_ERR_TEE_MISMATCH: 'verification-failed',
  RATS_TLS_ERR_NONCE_MISMATCH: 'verification-failed',
  RATS_TLS_ERR_CERT_NOT_VALID: 'verification-failed',
  RATS_TLS_ERR_BAD_SIGNATURE: 'verification-failed',
  RATS_TLS_ERR_EVIDENCE_REJECTED: 'verification-failed',
  RATS_TLS_ERR_ATTESTER: 'unavailable',
  RATS_TLS_ERR_POLICY_REJECTED: 'verification-failed',
  RATS_TLS_ERR_NO_PEER_CERTIFICATE: 'verification-failed',
  RATS_TLS_ERR_PROTOCOL: 'verification-failed',
  RATS_TLS_ERR_INVALID_ARGUMENT: 'usage',
});
