/**
 * Our own side of attested TLS: a certificate made with an attester and renewed before it expires, or a fixed
 * one made elsewhere. Servers present it; clients present it to mutual servers.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import type { Attester } from './attesters/attester.ts';
import { createAttestedCertificate, type CertificateKeyType } from './certificate.ts';
import type { EndorsementsSource } from './endorsements.ts';
import type { HashAlgorithm } from './format.ts';

/** Our own certificate and key, renewed before it expires. */
export interface RatsTlsIdentity {
  /** The attester that answers in-band nonces (undefined: this side cannot). */
  readonly attester: Attester | undefined;
  readonly hashAlg: HashAlgorithm;
  /** The current certificate and key (PEM). */
  current(): { cert: string; key: string };
  /** Calls `listener` after each renewal; returns the unsubscribe function. */
  onRenew(listener: () => void): () => void;
  /** Stops renewal. */
  close(): void;
}

/** Options of createRatsTlsIdentity(). */
export interface RatsTlsIdentityOptions {
  attester: Attester;
  hashAlg?: HashAlgorithm;
  keyType?: CertificateKeyType;
  /** Every certificate (the first and each renewal) uses this private key instead of a fresh one: its pin holds (pin.ts). */
  key?: KeyObject;
  customClaims?: Record<string, Uint8Array>;
  /** Intel attesters: collateral to attach as the endorsements extension (fetched again at each renewal when a function). */
  endorsements?: EndorsementsSource;
  /** Renew this long before notAfter (ms); default 5 minutes. */
  renewBeforeMs?: number;
}

const DEFAULT_RENEW_BEFORE_MS = 300_000;
const RETRY_MS = 10_000;

/** Creates a certificate with the attester and keeps it renewed before it expires (timers are unref'd). */
export async function createRatsTlsIdentity(options: RatsTlsIdentityOptions): Promise<RatsTlsIdentity> {
  const make = () =>
    createAttestedCertificate({
      attester: options.attester,
      ...(options.hashAlg ? { hashAlg: options.hashAlg } : {}),
      ...(options.keyType ? { keyType: options.keyType } : {}),
      ...(options.key ? { key: options.key } : {}),
      ...(options.customClaims ? { customClaims: options.customClaims } : {}),
      ...(options.endorsements ? { endorsements: options.endorsements } : {}),
    });
  let cert = await make();
  const listeners = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const schedule = (delayMs: number) => {
    if (closed) return;
    timer = setTimeout(() => {
      make().then(
        (next) => {
          cert = next;
          for (const l of listeners) l();
          schedule(nextRenewal());
        },
        () => schedule(RETRY_MS),
      );
    }, delayMs);
    timer.unref();
  };
  const nextRenewal = () => {
    const notAfter = new X509Certificate(cert.certPem).validTo;
    return Math.max(1_000, Date.parse(notAfter) - Date.now() - (options.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS));
  };
  schedule(nextRenewal());
  return {
    attester: options.attester,
    hashAlg: options.hashAlg ?? 'sha-256',
    current: () => ({ cert: cert.certPem, key: cert.keyPem }),
    onRenew(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}

/** A fixed certificate and key (made elsewhere); `attester` answers in-band nonces. */
export function staticRatsTlsIdentity(options: { cert: string; key: string; attester?: Attester; hashAlg?: HashAlgorithm }): RatsTlsIdentity {
  return {
    attester: options.attester,
    hashAlg: options.hashAlg ?? 'sha-256',
    current: () => ({ cert: options.cert, key: options.key }),
    onRenew: () => () => undefined,
    close: () => undefined,
  };
}
