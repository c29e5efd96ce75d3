/**
 * How src/x509 reports a failed parse or check: through the caller's error factory, so that each area keeps its
 * own codes (Intel ATTEST_ERR_*, AMD ATTEST_ERR_*, RATS_TLS_ERR_*) while the checks live in one place.
 */

/** Why an X.509 parse or check failed; callers map each reason to one of their error codes. */
export type X509FailureReason =
  /** The bytes are not a DER certificate or CRL (or lack a field the check needs). */
  | 'malformed'
  /** The certificates do not form one chain (empty, forked, extra certificates). */
  | 'chain'
  /** An issuer is not a CA (basicConstraints cA, keyUsage keyCertSign/cRLSign). */
  | 'not-ca'
  /** A signature does not verify with the issuer's key, or its algorithm is not accepted. */
  | 'signature'
  /** The chain does not end in a certificate byte-identical to a trust anchor. */
  | 'untrusted-root'
  /** A certificate or CRL is not valid at the verification time. */
  | 'expired'
  /** A CRL of the chain lists a certificate of the chain. */
  | 'revoked'
  /** A CRL given for the chain is not issued and signed by a certificate of the chain. */
  | 'crl';

/**
 * The caller's error factory: makes the Error to throw for `reason`. `message` says what failed (Deno style,
 * "Cannot verify <what>: ..."), `cause` is the underlying failure, `details` machine-readable facts.
 */
export type X509ErrorFactory = (reason: X509FailureReason, message: string, cause?: unknown, details?: Record<string, unknown>) => Error;
