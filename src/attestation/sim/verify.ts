/**
 * Verification of `sim` evidence (docs/evidence-sim.md, "Verification"). Pure: the evidence, the trusted
 * platform keys and the verification time are inputs.
 *
 * sim evidence proves only that a trusted inclavared signed these values: no hardware isolates the enclave,
 * so the host (and anyone with the platform key) can read and forge everything. The claims say so
 * (`extra.insecure = true`); policies reject `tee == 'sim'` unless they allow it explicitly (docs/evidence-sim.md).
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Claims } from '../claims.ts';
import type { InclavareError } from '../../errors/errors.ts';
import { simClaims } from './claims.ts';
import { SIM_ERROR_CODES, simError, type SimErrorCode } from './codes.ts';
import { parseSimEvidence } from './parse.ts';

/** Inputs of verifySimEvidence(). */
export interface SimVerifyOptions {
  /** Platform keys this verifier trusts: KeyObjects (public or private), SPKI DER bytes or PEM text. */
  trustedPlatformKeys: readonly (KeyObject | Uint8Array | string)[];
  /** The verification time. Never read from the clock. */
  at: Date;
  /** How old evidence may be at `at` (ms). Default 300000 (5 minutes). */
  maxAgeMs?: number;
  /** How far the timestamp may lie after `at` (clock skew between hosts, ms). Default 60000 (1 minute). */
  maxFutureSkewMs?: number;
}

/** Default freshness window: evidence is produced per request, so minutes suffice. */
export const SIM_DEFAULT_MAX_AGE_MS = 300_000;
/** Default tolerated clock skew for timestamps in the future. */
export const SIM_DEFAULT_MAX_FUTURE_SKEW_MS = 60_000;

export { SIM_INSECURE_NOTE } from './claims.ts';

function fail(code: SimErrorCode, message: string, details?: Record<string, unknown>): InclavareError {
  return simError(code, message, { details });
}

function invalid(message: string, cause?: unknown): InclavareError {
  return simError(SIM_ERROR_CODES.MALFORMED, message, { cause });
}

function spkiOf(key: KeyObject | Uint8Array | string, index: number): Buffer {
  try {
    const pub =
      typeof key === 'string'
        ? createPublicKey(key)
        : key instanceof Uint8Array
          ? createPublicKey({ key: Buffer.from(key), format: 'der', type: 'spki' })
          : key.type === 'public'
            ? key
            : createPublicKey(key);
    return pub.export({ type: 'spki', format: 'der' });
  } catch (err) {
    throw invalid(`Cannot use trusted platform key #${index}: it is not a public key (SPKI DER, PEM or KeyObject)`, err);
  }
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw invalid(`Cannot verify sim evidence: ${name} must be a non-negative number`);
  return value;
}

/**
 * Verifies `sim` evidence: its platform key is trusted, its Ed25519 signature verifies and its timestamp is
 * fresh at `at`. Returns claims with tee 'sim' and extra.insecure = true. Throws InclavareError with a code
 * of SIM_ERROR_CODES.
 */
export function verifySimEvidence(bytes: Uint8Array, options: SimVerifyOptions): Claims {
  if (!(options?.at instanceof Date) || Number.isNaN(options.at.getTime())) {
    throw invalid('Cannot verify sim evidence: `at` is not a valid Date');
  }
  const maxAgeMs = nonNegative(options.maxAgeMs, SIM_DEFAULT_MAX_AGE_MS, 'maxAgeMs');
  const skewMs = nonNegative(options.maxFutureSkewMs, SIM_DEFAULT_MAX_FUTURE_SKEW_MS, 'maxFutureSkewMs');
  const trusted = (options.trustedPlatformKeys ?? []).map((k, i) => spkiOf(k, i));

  const evidence = parseSimEvidence(bytes);
  const keyBytes = Buffer.from(evidence.platformKey);
  // Trust before signature: a signature by a key nobody trusts proves nothing.
  if (!trusted.some((k) => k.equals(keyBytes))) {
    throw fail(SIM_ERROR_CODES.UNTRUSTED_PLATFORM_KEY, 'Cannot verify sim evidence: its platform key is not trusted', {
      platformKeyId: createHash('sha256').update(keyBytes).digest('hex'),
    });
  }
  let ok = false;
  try {
    const key = createPublicKey({ key: keyBytes, format: 'der', type: 'spki' });
    ok = verify(null, evidence.signedBytes, key, evidence.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw fail(SIM_ERROR_CODES.SIM_SIGNATURE, 'Cannot verify sim evidence: its signature does not verify with the platform key');

  const at = options.at.getTime();
  const validFrom = evidence.timestampMs - skewMs;
  const validUntil = evidence.timestampMs + maxAgeMs;
  if (at < validFrom || at > validUntil) {
    const future = at < validFrom;
    throw fail(
      SIM_ERROR_CODES.COLLATERAL_EXPIRED,
      `Cannot verify sim evidence: its timestamp ${evidence.timestamp.toISOString()} is ${future ? 'in the future' : 'too old'} at ${options.at.toISOString()}`,
      { timestamp: evidence.timestamp.toISOString(), at: options.at.toISOString(), reason: future ? 'future' : 'stale' },
    );
  }

  return simClaims(evidence, keyBytes, { from: validFrom, until: validUntil });
}
