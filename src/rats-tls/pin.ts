/**
 * Public-key pins (docs/secrets.md "Which verdictd"): `sha256:<hex>`, the SHA-256 of a certificate's
 * DER SubjectPublicKeyInfo, as HPKP (RFC 7469 §2.4) defines the pinned value (hex here, not base64).
 * A pin names a key, not a certificate: verdictd renews its certificate (and the evidence in it) under
 * the same key, and the pin still holds.
 */
import { createHash, X509Certificate } from 'node:crypto';

/** The form of a pin: `sha256:` and 64 lowercase hex digits. */
export const PIN_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** The pin of a SubjectPublicKeyInfo (DER). */
export function pinOfSpki(spki: Uint8Array): string {
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** The pin of a certificate's public key (PEM or DER). */
export function pinOfCertificate(cert: string | Uint8Array): string {
  const x509 = new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  return pinOfSpki(x509.publicKey.export({ type: 'spki', format: 'der' }));
}

/** A pin as given by a user, normalized (hex lowercased); undefined when it is not a pin. */
export function parsePin(text: string): string | undefined {
  const normalized = text.trim().replace(/^sha256:/i, 'sha256:').toLowerCase();
  return PIN_PATTERN.test(normalized) ? normalized : undefined;
}
