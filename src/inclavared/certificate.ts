/**
 * The platform certificate: a self-signed X.509 v3 certificate (RFC 5280) for inclavared's Ed25519
 * platform key (RFC 8410). Verifiers take it as the trust anchor of this host's `sim` evidence; node's
 * crypto.createPublicKey() reads the key from it. Pure: key, serial and validity are inputs.
 */
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Certificate,
  Extension,
  Extensions,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';

/** id-Ed25519 (RFC 8410 §3): the signature algorithm, with absent parameters. */
const ID_ED25519 = '1.3.101.112';
const ID_AT_COMMON_NAME = '2.5.4.3';
const ID_AT_ORGANIZATION = '2.5.4.10';

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

function rdn(type: string, value: string): RelativeDistinguishedName {
  return new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })]);
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** A positive INTEGER with no superfluous leading zero (DER): prefix 0x00 when the top bit is set. */
function serialInteger(serial: Uint8Array): ArrayBuffer {
  let bytes = Uint8Array.from(serial);
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) bytes = bytes.subarray(1);
  if ((bytes[0]! & 0x80) !== 0) bytes = Uint8Array.from([0, ...bytes]);
  return Uint8Array.from(bytes).buffer;
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
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

  const spkiDer = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const spki = AsnConvert.parse(spkiDer, SubjectPublicKeyInfo);
  const name = new Name([rdn(ID_AT_COMMON_NAME, PLATFORM_CERT_SUBJECT.commonName), rdn(ID_AT_ORGANIZATION, PLATFORM_CERT_SUBJECT.organization)]);
  // Key identifier method 1 of RFC 5280 §4.2.1.2: SHA-1 of the subjectPublicKey BIT STRING's value.
  const keyId = createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest();
  const algorithm = new AlgorithmIdentifier({ algorithm: ID_ED25519 });

  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialInteger(serial),
    signature: algorithm,
    issuer: name,
    validity: new Validity({ notBefore, notAfter }),
    subject: name,
    subjectPublicKeyInfo: spki,
    extensions: new Extensions([
      // CA:FALSE: the key signs evidence, never certificates (cA's DEFAULT FALSE is omitted in DER).
      extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
      extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId)),
    ]),
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  // Pure Ed25519 (RFC 8410 §6): no digest name.
  const signature = sign(null, tbsDer, privateKey);
  const cert = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: algorithm,
    signatureValue: Uint8Array.from(signature).buffer,
  });
  return pem('CERTIFICATE', new Uint8Array(AsnConvert.serialize(cert)));
}
