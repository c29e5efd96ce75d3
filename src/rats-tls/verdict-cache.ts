/**
 * Reuse of verdicts on peer certificates (docs/rats-tls.md, "Verdict cache"), per verification options.
 *
 * Verdicts per verification options and peer certificate (SHA-256 of its DER): a peer's certificate is reused
 * for an hour, and verifying its evidence costs more than a handshake. Only accepted certificates are cached,
 * each for the interval in which its verdict holds; new evidence inputs (collateral, keys) mean a new options
 * object and so a fresh cache.
 */
import { createHash } from 'node:crypto';
import type { RatsTlsVerifyOptions } from './options.ts';
import type { AttestedCertificateVerification } from './verify.ts';

const VERDICT_CACHE_SIZE = 256;

/** An accepted certificate's verification and the interval (epoch ms, inclusive) in which it holds. */
interface CachedVerdict {
  from: number;
  until: number;
  verification: AttestedCertificateVerification;
}

/** The verdicts of one `verify` object, by SHA-256 of the peer certificate's DER. */
export class VerdictCache {
  readonly #entries = new Map<string, CachedVerdict>();

  /** The cache key of a certificate. */
  static keyOf(der: Uint8Array): string {
    return createHash('sha256').update(der).digest('hex');
  }

  /** The verification of `key` when one is kept and holds at `at`. */
  get(key: string, at: Date): AttestedCertificateVerification | undefined {
    const hit = this.#entries.get(key);
    return hit !== undefined && hit.from <= at.getTime() && at.getTime() <= hit.until ? hit.verification : undefined;
  }

  /** Keeps an accepted verification for as long as both the certificate and its evidence's verdict hold. */
  remember(key: string, verification: AttestedCertificateVerification): void {
    if (verification.certificate === undefined) return;
    const claims = verification.claims;
    const from = Math.max(verification.certificate.notBefore.getTime(), claims ? Date.parse(claims.validFrom) : -Infinity);
    const until = Math.min(verification.certificate.notAfter.getTime(), claims ? Date.parse(claims.validUntil) : Infinity);
    if (this.#entries.size >= VERDICT_CACHE_SIZE) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { from, until, verification });
  }
}

const caches = new WeakMap<RatsTlsVerifyOptions, VerdictCache>();

/** The verdict cache of one `verify` object (created on first use). */
export function verdictCacheOf(verify: RatsTlsVerifyOptions): VerdictCache {
  let cache = caches.get(verify);
  if (cache === undefined) {
    cache = new VerdictCache();
    caches.set(verify, cache);
  }
  return cache;
}

/**
 * Drops the verdicts kept for `verify`: for a caller whose `verify.evidence` is a getter, when what it returns
 * changes (a platform key or trust anchor removed must not stay accepted through a cached verdict).
 */
export function forgetVerdicts(verify: RatsTlsVerifyOptions): void {
  caches.delete(verify);
}
