/**
 * The X.509 building blocks (RFC 5280) shared by every certificate Inclavare writes (inclavared's platform
 * certificate, RATS-TLS certificates) and the strict raw-bytes view of a certificate that RA-TLS hashes. Parsing
 * and verifying are in parse.ts, signature.ts and chain.ts. Everything goes through @peculiar/asn1-x509 schemas;
 * node:crypto signs.
 */
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  Certificate,
  Extension,
  Extensions,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import { derBytes, derChildren, readDerElement } from './der.ts';

/** Attribute types of the names we write (RFC 5280 §4.1.2.4, X.520). */
export const NAME_OIDS = Object.freeze({ commonName: '2.5.4.3', organization: '2.5.4.10', country: '2.5.4.6' });

/** One attribute of a distinguished name: its OID and its UTF8String value. */
export interface NameAttribute {
  type: string;
  value: string;
}

/** A Name with one single-valued RDN per attribute, in the order given. */
export function buildName(attributes: readonly NameAttribute[]): Name {
  return new Name(
    attributes.map(
      (a) => new RelativeDistinguishedName([new AttributeTypeAndValue({ type: a.type, value: new AttributeValue({ utf8String: a.value }) })]),
    ),
  );
}

/** An extension whose value is an ASN.1 schema object, or raw bytes put verbatim into extnValue. */
export function buildExtension(extnID: string, critical: boolean, value: object | Uint8Array): Extension {
  const der = value instanceof Uint8Array ? Uint8Array.from(value) : new Uint8Array(AsnConvert.serialize(value));
  return new Extension({ extnID, critical, extnValue: new OctetString(der) });
}

/** A positive INTEGER with no superfluous leading zero (DER): prefix 0x00 when the top bit is set. */
export function serialInteger(serial: Uint8Array): ArrayBuffer {
  if (serial.length < 1 || serial.length > 20) throw new TypeError('a certificate serial number is 1-20 bytes (RFC 5280 §4.1.2.2)');
  let bytes = Uint8Array.from(serial);
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) bytes = bytes.subarray(1);
  if ((bytes[0]! & 0x80) !== 0) bytes = Uint8Array.from([0, ...bytes]);
  return Uint8Array.from(bytes).buffer;
}

/** The SubjectPublicKeyInfo of a key (public or private), as schema object and as DER. */
export function subjectPublicKeyInfoOf(key: KeyObject): { spki: SubjectPublicKeyInfo; der: Uint8Array } {
  const der = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  return { spki: AsnConvert.parse(der, SubjectPublicKeyInfo), der };
}

/** Key identifier method 1 of RFC 5280 §4.2.1.2: SHA-1 of the subjectPublicKey BIT STRING's value. */
export function keyIdentifier(spki: SubjectPublicKeyInfo): Uint8Array {
  return new Uint8Array(createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest());
}

/** A signature algorithm: its OID, whether its parameters are an explicit NULL, and node's digest name. */
interface SignatureAlgorithm {
  oid: string;
  nullParameters: boolean;
  /** null: the algorithm hashes internally (Ed25519). */
  digest: string | null;
  keyType: 'ec' | 'rsa' | 'ed25519';
}

/** The signature algorithms we sign with (RFC 5758 ECDSA, RFC 4055 RSA PKCS#1 v1.5, RFC 8410). */
const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [
  { oid: '1.2.840.10045.4.3.2', nullParameters: false, digest: 'sha256', keyType: 'ec' },
  { oid: '1.2.840.10045.4.3.3', nullParameters: false, digest: 'sha384', keyType: 'ec' },
  { oid: '1.2.840.10045.4.3.4', nullParameters: false, digest: 'sha512', keyType: 'ec' },
  { oid: '1.2.840.113549.1.1.11', nullParameters: true, digest: 'sha256', keyType: 'rsa' },
  { oid: '1.2.840.113549.1.1.12', nullParameters: true, digest: 'sha384', keyType: 'rsa' },
  { oid: '1.2.840.113549.1.1.13', nullParameters: true, digest: 'sha512', keyType: 'rsa' },
  { oid: '1.3.101.112', nullParameters: false, digest: null, keyType: 'ed25519' },
];

/** The curve's matching digest for ECDSA keys (as OpenSSL and mbedTLS pick it). */
const EC_DIGEST: Readonly<Record<string, string>> = { prime256v1: 'sha256', secp384r1: 'sha384', secp521r1: 'sha512' };

function algorithmFor(key: KeyObject): SignatureAlgorithm {
  const type = key.asymmetricKeyType;
  let wanted: Pick<SignatureAlgorithm, 'keyType' | 'digest'> | undefined;
  if (type === 'ed25519') wanted = { keyType: 'ed25519', digest: null };
  else if (type === 'rsa') wanted = { keyType: 'rsa', digest: 'sha256' };
  else if (type === 'ec') {
    const digest = EC_DIGEST[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (digest !== undefined) wanted = { keyType: 'ec', digest };
  }
  const found = wanted && SIGNATURE_ALGORITHMS.find((a) => a.keyType === wanted.keyType && a.digest === wanted.digest);
  if (!found) throw new TypeError(`cannot sign a certificate with a ${type ?? 'unknown'} key (supported: Ed25519, ECDSA P-256/384/521, RSA)`);
  return found;
}

/** The AlgorithmIdentifier a certificate signed by `key` carries (in TBSCertificate.signature and outside). */
export function signatureAlgorithmOf(key: KeyObject): AlgorithmIdentifier {
  const a = algorithmFor(key);
  return new AlgorithmIdentifier(a.nullParameters ? { algorithm: a.oid, parameters: null } : { algorithm: a.oid });
}

/** Signs `tbs` (whose `signature` field must be signatureAlgorithmOf(key)) and returns the certificate DER. */
export function signCertificate(tbs: TBSCertificate, key: KeyObject): Uint8Array {
  if (key.type !== 'private') throw new TypeError('signCertificate() needs a private key');
  const a = algorithmFor(key);
  if (tbs.signature.algorithm !== a.oid) throw new TypeError(`signCertificate(): the TBSCertificate names ${tbs.signature.algorithm}, the key signs with ${a.oid}`);
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  // ECDSA signatures go into the BIT STRING as the DER Ecdsa-Sig-Value (RFC 5758 §3.2), node's default.
  const signature = sign(a.digest, tbsDer, key);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: tbs.signature, signatureValue: Uint8Array.from(signature).buffer });
  return new Uint8Array(AsnConvert.serialize(cert));
}

/** Inputs of signSelfSignedCertificate(). */
export interface SelfSignedCertificateOptions {
  /** The private key: signer, and (its public half) the subject key. */
  key: KeyObject;
  /** The subject key as encoded (subjectPublicKeyInfoOf(key).spki). */
  spki: SubjectPublicKeyInfo;
  /** Subject and issuer. */
  name: Name;
  /** Serial number bytes (big-endian, up to 20 octets). */
  serial: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  extensions: Extension[];
}

/** A self-signed X.509 v3 certificate (issuer = subject, signed by the subject key); returns the DER. */
export function signSelfSignedCertificate(o: SelfSignedCertificateOptions): Uint8Array {
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialInteger(o.serial),
    signature: signatureAlgorithmOf(o.key),
    issuer: o.name,
    validity: new Validity({ notBefore: o.notBefore, notAfter: o.notAfter }),
    subject: o.name,
    subjectPublicKeyInfo: o.spki,
    extensions: new Extensions(o.extensions),
  });
  return signCertificate(tbs, o.key);
}

/** The exact encoded pieces of a certificate, for hashing and signature checks. */
export interface CertificateBytes {
  /** TBSCertificate, as signed. */
  tbs: Uint8Array;
  /** SubjectPublicKeyInfo, as it appears in the TBSCertificate. */
  spki: Uint8Array;
}

/**
 * Slices TBSCertificate and SubjectPublicKeyInfo out of certificate DER without re-encoding; undefined when
 * the outer structure is not Certificate-shaped (RFC 5280 §4.1).
 */
export function certificateBytes(der: Uint8Array): CertificateBytes | undefined {
  const outer = readDerElement(der, 0);
  if (outer === undefined || outer.tag !== 0x30 || outer.end !== der.length) return undefined;
  const parts = derChildren(der, outer);
  if (parts === undefined || parts.length !== 3 || parts[0]!.tag !== 0x30) return undefined;
  // The unsigned parts leave no room for change: signatureAlgorithm is a SEQUENCE byte-identical to the
  // TBSCertificate's signature field (RFC 5280 §4.1.1.2), and signatureValue a BIT STRING with no unused bits
  // (every supported signature is a whole number of bytes).
  const [, signatureAlgorithm, signatureValue] = parts as [unknown, (typeof parts)[number], (typeof parts)[number]];
  if (signatureAlgorithm.tag !== 0x30 || signatureValue.tag !== 0x03) return undefined;
  if (signatureValue.valueStart >= signatureValue.end || der[signatureValue.valueStart] !== 0) return undefined;
  const fields = derChildren(der, parts[0]!);
  if (fields === undefined) return undefined;
  // version [0] EXPLICIT is optional; then serial, signature, issuer, validity, subject, subjectPublicKeyInfo.
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const innerSignature = fields[first + 1];
  if (innerSignature === undefined || Buffer.compare(Buffer.from(derBytes(der, innerSignature)), Buffer.from(derBytes(der, signatureAlgorithm))) !== 0) return undefined;
  const spki = fields[first + 5];
  if (spki === undefined || spki.tag !== 0x30) return undefined;
  return { tbs: derBytes(der, parts[0]!), spki: derBytes(der, spki) };
}
