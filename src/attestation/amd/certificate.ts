/**
 * The AMD certificates of an SEV-SNP chain (ARK, ASK/ASVK, VCEK/VLEK), decoded with the X.509 library
 * (@peculiar/asn1-x509) and checked with node:crypto. AMD signs ARK, ASK, ASVK, VCEK and VLEK with
 * RSASSA-PSS, SHA-384, MGF1-SHA-384, salt length 48 (AMD "Versioned Chip Endorsement Key (VCEK) Certificate
 * and KDS Interface Specification", pub. 57230, "Certificate Formats"); nothing else is accepted for them.
 */
import { X509Certificate, constants, createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, type Name } from '@peculiar/asn1-x509';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { InclavareError } from '../../errors/errors.ts';
import { AMD_ERROR_CODES } from './codes.ts';

const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';
const OID_SHA384 = '2.16.840.1.101.3.4.2.2';
const OID_COMMON_NAME = '2.5.4.3';
const PSS_SALT_LENGTH = 48;

/** One decoded certificate with what chain building needs. */
export interface AmdCertificate {
  readonly der: Uint8Array;
  /** Subject and issuer as DER (compared byte for byte when linking a chain). */
  readonly subjectDer: Uint8Array;
  readonly issuerDer: Uint8Array;
  /** Subject and issuer common names ("ARK-Milan", "SEV-Milan", "SEV-VCEK"); "" when absent. */
  readonly subjectCn: string;
  readonly issuerCn: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: KeyObject;
  /** The DER tbsCertificate exactly as signed. */
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: AlgorithmIdentifier;
  readonly signatureValue: Uint8Array;
  /** tbsCertificate.signature encodes the same AlgorithmIdentifier as signatureAlgorithm. */
  readonly innerAlgorithmMatches: boolean;
  /** extnID -> extnValue (the OCTET STRING's contents). */
  readonly extensions: ReadonlyMap<string, Uint8Array>;
  /** Subject equals issuer (an ARK candidate). */
  readonly selfIssued: boolean;
}

function malformed(message: string, cause?: unknown): InclavareError {
  return new InclavareError(AMD_ERROR_CODES.MALFORMED, 'invalid-argument', message, { cause });
}

function bytesOf(buf: ArrayBuffer | ArrayBufferView): Uint8Array {
  return buf instanceof ArrayBuffer
    ? new Uint8Array(buf.slice(0))
    : new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** Byte equality of two arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function commonName(name: Name): string {
  for (const rdn of name) {
    for (const atv of rdn) {
      if (atv.type === OID_COMMON_NAME) return atv.value.toString();
    }
  }
  return '';
}

/**
 * Decoding a certificate costs milliseconds (ASN.1 plus an RSA-4096 key import) and the same AMD ARK/ASK
 * arrive with every report, so decoded certificates are memoized by the SHA-256 of their DER. Entries are
 * frozen; the cache is bounded and forgets the oldest entry first.
 */
const CACHE_LIMIT = 64;
const cache = new Map<string, AmdCertificate>();

/** Decodes one DER certificate; ATTEST_ERR_MALFORMED when it is not one. `what` names it in messages. */
export function parseAmdCertificate(der: Uint8Array, what: string): AmdCertificate {
  const key = createHash('sha256').update(der).digest('base64');
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const cert = Object.freeze(decodeCertificate(der, what));
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(key, cert);
  return cert;
}

function decodeCertificate(der: Uint8Array, what: string): AmdCertificate {
  let asn: Certificate;
  let publicKey: KeyObject;
  let subjectDer: Uint8Array;
  let issuerDer: Uint8Array;
  let innerAlgorithmMatches: boolean;
  try {
    asn = AsnConvert.parse(der, Certificate);
    // OpenSSL must decode it as well: a certificate both decoders accept is far less likely to be ambiguous.
    new X509Certificate(der);
    const spki = new Uint8Array(AsnConvert.serialize(asn.tbsCertificate.subjectPublicKeyInfo));
    publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    subjectDer = new Uint8Array(AsnConvert.serialize(asn.tbsCertificate.subject));
    issuerDer = new Uint8Array(AsnConvert.serialize(asn.tbsCertificate.issuer));
    innerAlgorithmMatches = bytesEqual(
      new Uint8Array(AsnConvert.serialize(asn.signatureAlgorithm)),
      new Uint8Array(AsnConvert.serialize(asn.tbsCertificate.signature)),
    );
  } catch (err) {
    throw malformed(`Cannot read ${what}: it is not a DER X.509 certificate`, err);
  }
  const tbsCert = asn.tbsCertificate;
  if (asn.tbsCertificateRaw === undefined) throw malformed(`Cannot read ${what}: its tbsCertificate is missing`);
  const extensions = new Map<string, Uint8Array>();
  for (const ext of tbsCert.extensions ?? []) {
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (extensions.has(ext.extnID)) throw malformed(`Cannot read ${what}: extension ${ext.extnID} appears twice`);
    extensions.set(ext.extnID, bytesOf(ext.extnValue.buffer));
  }
  return {
    der: Uint8Array.from(der),
    subjectDer,
    issuerDer,
    subjectCn: commonName(tbsCert.subject),
    issuerCn: commonName(tbsCert.issuer),
    notBefore: tbsCert.validity.notBefore.getTime(),
    notAfter: tbsCert.validity.notAfter.getTime(),
    publicKey,
    tbs: bytesOf(asn.tbsCertificateRaw),
    signatureAlgorithm: asn.signatureAlgorithm,
    signatureValue: bytesOf(asn.signatureValue),
    innerAlgorithmMatches,
    extensions,
    selfIssued: bytesEqual(subjectDer, issuerDer),
  };
}

/**
 * Why `cert`'s signature algorithm is not AMD's RSASSA-PSS/SHA-384/MGF1-SHA-384/salt 48, or null when it is.
 * The inner tbsCertificate.signature must be the same algorithm (RFC 5280 §4.1.1.2).
 */
export function rsaPssProblem(cert: AmdCertificate): string | null {
  const alg = cert.signatureAlgorithm;
  if (alg.algorithm !== OID_RSASSA_PSS) return `signature algorithm ${alg.algorithm} is not RSASSA-PSS`;
  if (alg.parameters === null || alg.parameters === undefined) return 'RSASSA-PSS parameters are missing';
  try {
    const params = AsnConvert.parse(alg.parameters, RsaSaPssParams);
    if (params.hashAlgorithm.algorithm !== OID_SHA384) return 'RSASSA-PSS hash is not SHA-384';
    if (params.maskGenAlgorithm.algorithm !== OID_MGF1) return 'RSASSA-PSS mask generation is not MGF1';
    const mgfParams = params.maskGenAlgorithm.parameters;
    if (mgfParams === null || mgfParams === undefined) return 'RSASSA-PSS MGF1 hash is missing';
    if (AsnConvert.parse(mgfParams, AlgorithmIdentifier).algorithm !== OID_SHA384) return 'RSASSA-PSS MGF1 hash is not SHA-384';
    if (params.saltLength !== PSS_SALT_LENGTH) return `RSASSA-PSS salt length is ${params.saltLength}, not ${PSS_SALT_LENGTH}`;
    if (params.trailerField !== 1) return 'RSASSA-PSS trailer field is not 1';
  } catch {
    return 'RSASSA-PSS parameters cannot be decoded';
  }
  if (!cert.innerAlgorithmMatches) return 'tbsCertificate.signature differs from signatureAlgorithm';
  return null;
}

/** True when `issuerKey` (RSA) made `cert`'s RSASSA-PSS SHA-384 signature. Never throws. */
export function isSignedBy(cert: AmdCertificate, issuerKey: KeyObject): boolean {
  if (rsaPssProblem(cert) !== null) return false;
  const type = issuerKey.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'rsa-pss') return false;
  try {
    return verify(
      'sha384',
      cert.tbs,
      { key: issuerKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LENGTH },
      cert.signatureValue,
    );
  } catch {
    return false;
  }
}
