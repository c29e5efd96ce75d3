/**
 * The AMD certificates of an SEV-SNP chain (ARK, ASK/ASVK, VCEK/VLEK), decoded with the X.509 library
 * (@peculiar/asn1-x509) and checked with node:crypto. AMD signs ARK, ASK, ASVK, VCEK and VLEK with
 * RSASSA-PSS, SHA-384, MGF1-SHA-384, salt length 48 (AMD "Versioned Chip Endorsement Key (VCEK) Certificate
 * and KDS Interface Specification", pub. 57230, "Certificate Formats"); nothing else is accepted for them.
 */
import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import type { InclavareError } from '../../errors/errors.ts';
import { AMD_ERROR_CODES, amdError } from './codes.ts';
import type { X509ErrorFactory } from '../../x509/failure.ts';
import { parseCertificate, type ParsedCertificate } from '../../x509/parse.ts';
import { SIGNATURE_OIDS, verifySignature } from '../../x509/signature.ts';

const OID_MGF1 = '1.2.840.113549.1.1.8';
const OID_SHA384 = '2.16.840.1.101.3.4.2.2';
const PSS_SALT_LENGTH = 48;
const AMD_SIGNATURE_ALGORITHMS: readonly string[] = Object.freeze([SIGNATURE_OIDS.rsassaPss]);

/** One decoded AMD certificate (src/x509's parsed certificate whose key imports). */
export type AmdCertificate = ParsedCertificate & { readonly publicKey: KeyObject };

function malformed(message: string, cause?: unknown): InclavareError {
  return amdError(AMD_ERROR_CODES.MALFORMED, message, { cause });
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
  const notDer = `Cannot read ${what}: it is not a DER X.509 certificate`;
  const fail: X509ErrorFactory = (_reason, _message, cause, details) =>
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    details?.extension === undefined ? malformed(notDer, cause) : malformed(`Cannot read ${what}: extension ${String(details.extension)} appears twice`);
  const cert = parseCertificate(Uint8Array.from(der), fail, what);
  try {
    // OpenSSL must decode it as well: a certificate both decoders accept is far less likely to be ambiguous.
    new X509Certificate(der);
  } catch (err) {
    throw malformed(notDer, err);
  }
  if (cert.publicKey === undefined) throw malformed(notDer);
  return cert as AmdCertificate;
}

/**
 * Why `cert`'s signature algorithm is not AMD's RSASSA-PSS/SHA-384/MGF1-SHA-384/salt 48, or null when it is.
 * The inner tbsCertificate.signature must be the same algorithm (RFC 5280 §4.1.1.2).
 */
export function rsaPssProblem(cert: AmdCertificate): string | null {
  if (cert.signatureAlgorithm !== SIGNATURE_OIDS.rsassaPss) return `signature algorithm ${cert.signatureAlgorithm} is not RSASSA-PSS`;
  const parameters = cert.signatureParameters;
  if (parameters === null || parameters === undefined) return 'RSASSA-PSS parameters are missing';
  try {
    const params = AsnConvert.parse(parameters, RsaSaPssParams);
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
  return rsaPssProblem(cert) === null && verifySignature(cert, issuerKey, { algorithms: AMD_SIGNATURE_ALGORITHMS });
}
