/**
 * Judging a peer: its RATS-TLS certificate verified (verdicts cached while they hold), then the expected claims
 * (appraiseClaims()) and the application's callback. Shared by the TLS layer and the gRPC credentials.
 */
import { appraiseClaims } from '../attestation/appraise.ts';
import type { Claims } from '../attestation/claims.ts';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import type { RatsTlsPeer, RatsTlsVerifyOptions } from './options.ts';
import { VerdictCache, verdictCacheOf } from './verdict-cache.ts';
import { verifyAttestedCertificate, type AttestedCertificateVerification } from './verify.ts';

/**
 * Throws RATS_TLS_ERR_POLICY_REJECTED unless the claims meet `verify.expected` (the first failed expectation
 * names the message; `details.failed` lists them all) and `verify.callback` accepts them.
 */
export function applyPolicy(verify: RatsTlsVerifyOptions, claims: Claims | undefined, verification: AttestedCertificateVerification): void {
  if (verify.expected !== undefined) {
    if (claims === undefined) throw ratsTlsError(E.POLICY_REJECTED, 'Cannot trust the peer: the peer is unattested and claims are expected');
    const failed = appraiseClaims(claims, verify.expected);
    if (failed.length > 0) {
      throw ratsTlsError(E.POLICY_REJECTED, `Cannot trust the peer: ${failed[0]!.message}`, { details: { failed } });
    }
  }
  if (verify.callback) {
    const verdict = verify.callback(claims, verification);
    if (verdict !== true) throw ratsTlsError(E.POLICY_REJECTED, `Cannot trust the peer: ${typeof verdict === 'string' ? verdict : 'the verification callback rejected its claims'}`);
  }
}

/**
 * Verifies a peer's RATS-TLS certificate (DER) against `verify` (evidence, allowUnattested, expected, callback);
 * throws the InclavareError of the first failed check. Shared by the TLS layer and the gRPC credentials.
 */
export function checkPeerCertificate(der: Uint8Array, verify: RatsTlsVerifyOptions): { peer: RatsTlsPeer; verification: AttestedCertificateVerification } {
  const at = (verify.now ?? (() => new Date()))();
  const cache = verify.cache === false ? undefined : verdictCacheOf(verify);
  const key = cache ? VerdictCache.keyOf(der) : '';
  let verification = cache?.get(key, at);
  if (verification === undefined) {
    verification = verifyAttestedCertificate(der, {
      at,
      ...(verify.evidence ? { evidence: verify.evidence } : {}),
      allowUnattested: verify.allowUnattested === true,
    });
    if (!verification.verified) throw verification.error ?? ratsTlsError(E.EVIDENCE_REJECTED, 'Cannot trust the peer\'s certificate');
    cache?.remember(key, verification);
  }
  // The policy is cheap and may change (a callback): applied on every connection, cached verdict or not.
  applyPolicy(verify, verification.claims, verification);
  return { peer: { claims: verification.claims, binding: verification.binding, format: verification.format, fresh: false }, verification };
}
