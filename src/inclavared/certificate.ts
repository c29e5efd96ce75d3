/**
 * The platform certificate: a self-signed X.509 v3 certificate (RFC 5280) for inclavared's Ed25519
 * platform key (RFC 8410). Verifiers take it as the trust anchor of this host's `sim` evidence; node's
 * crypto.createPublicKey() reads the key from it. Pure: key, serial and validity are inputs.
 */
import { type KeyObject } from 'node:crypto';
import { BasicConstraints, KeyUsage, KeyUsageFlags, SubjectKeyIdentifier, id_ce_basicConstraints, id_ce_keyUsage, id_ce_subjectKeyIdentifier } from '@peculiar/asn1-x509';
import { buildExtension, buildName, keyIdentifier, NAME_OIDS, signSelfSignedCertificate, subjectPublicKeyInfoOf } from '../x509/certificate.ts';
import { pemEncode } from '../x509/pem.ts';

/** The subject (and issuer) of the platform certificate. */
export const PLATFORM_CERT_SUBJECT = Object.freeze({ commonName: 'inclavared sim platform', organization: 'Inclavare' });
/** How long a platform certificate is valid. */
export const PLATFORM_CERT_VALIDITY_YEARS = 10;

/** Inputs of createPlatformCertificate(). */
export interface PlatformCertificateOptions {
  /** The Ed25519 private key: the certificate's subject key and its signer. */
  privateKey: KeyObject;
  /** Start of validity (seconds precision); the end is PLATFORM_CERT_VALIDITY_YEARS later. */
  notBefore: Date;
  /** Serial number bytes (big-endian, up to 20 octets; RFC 5280 §4.1.2.2). */
  serial: Uint8Array;
}

/** Builds and signs the platform certificate; returns it as PEM. */
export function createPlatformCertificate(options: PlatformCertificateOptions): string {
  const { privateKey, serial } = options;
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('createPlatformCertificate() needs an Ed25519 private key');
  }
  if (serial.length < 1 || serial.length > 20) throw new TypeError('createPlatformCertificate() needs a 1-20 byte serial');
  const notBefore = new Date(Math.floor(options.notBefore.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + PLATFORM_CERT_VALIDITY_YEARS);

  const { spki } = subjectPublicKeyInfoOf(privateKey);
  const name = buildName([
    { type: NAME_OIDS.commonName, value: PLATFORM_CERT_SUBJECT.commonName },
    { type: NAME_OIDS.organization, value: PLATFORM_CERT_SUBJECT.organization },
  ]);
  // Pure Ed25519 (RFC 8410 §3, §6): the algorithm has absent parameters and no digest name.
  const der = signSelfSignedCertificate({
    key: privateKey,
    spki,
    name,
    serial,
    notBefore,
    notAfter,
    extensions: [
      // CA:FALSE: the key signs evidence, never certificates (cA's DEFAULT FALSE is omitted in DER).
      buildExtension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      buildExtension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
      buildExtension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(spki))),
    ],
  });
  return pemEncode('CERTIFICATE', der);
}
