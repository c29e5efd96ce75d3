/**
 * The Intel PKI's use of src/x509: certificates and CRLs parsed there and checked against trust anchors by
 * byte comparison of the root certificate (as Intel's QVL does: QuoteVerification/QVL PckCertVerifier compares
 * the root's raw DER signature, so a re-issued root with the same key is NOT accepted; see
 * test/vectors/MANIFEST.md, fortanix old-root-issuance). This file holds only Intel's policy: its error codes
 * and messages, ECDSA-with-SHA256 as the one signature algorithm, a CRL must have a nextUpdate, and the caches
 * of trust anchors; plus the raw ECDSA helpers of the quote format.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { intelError, type IntelErrorCode, INTEL_ERROR_CODES } from './codes.ts';
import { pemDecodeAll } from '../../x509/pem.ts';
import { verifyChain } from '../../x509/chain.ts';
import type { X509ErrorFactory } from '../../x509/failure.ts';
import { parseCertificate as parseX509Certificate, parseCrl as parseX509Crl, type ParsedCertificate, type ParsedCrl, type Window } from '../../x509/parse.ts';
import { SIGNATURE_OIDS, verifySignature } from '../../x509/signature.ts';

export { intersectWindows, nameToString, normalizeSerial, type ParsedCrl, type Window } from '../../x509/parse.ts';

/** A parsed certificate of the Intel PKI: its key always imports (P-256). */
export type ParsedCert = ParsedCertificate & { readonly publicKey: KeyObject };

/** The one signature algorithm of Intel's certificates and CRLs (SGX PCK Certificate and CRL Profile). */
const INTEL_SIGNATURE_ALGORITHMS: readonly string[] = Object.freeze([SIGNATURE_OIDS.ecdsaWithSha256]);

/** The extnValue bytes of the extension `oid`, or undefined. */
export function findExtension(cert: ParsedCertificate, oid: string): Uint8Array | undefined {
  return cert.extensions.get(oid);
}

/** An error factory that throws every failure as `code` with `message` (Intel's messages predate src/x509). */
function fixed(code: IntelErrorCode, message: string): X509ErrorFactory {
  return (_reason, detail, cause) => intelError(code, message, { cause: new Error(detail, cause === undefined ? {} : { cause }) });
}

/** Parses one DER certificate; any failure is thrown as `code`. */
export function parseCertificate(der: Uint8Array, code: IntelErrorCode, what: string): ParsedCert {
  const fail = fixed(code, `Cannot verify ${what}: a certificate cannot be parsed`);
  const cert = parseX509Certificate(der, fail);
  if (cert.publicKey === undefined) throw fail('malformed', 'Cannot parse the certificate: its public key cannot be imported');
  return cert as ParsedCert;
}

/** Parses a CRL given as DER or PEM; any failure is thrown as `code`. */
export function parseCrl(input: Uint8Array, code: IntelErrorCode, what: string): ParsedCrl {
  const fail = fixed(code, `Cannot verify ${what}: the CRL cannot be parsed`);
  let der = input;
  const text = Buffer.from(input.subarray(0, 64)).toString('latin1');
  if (text.includes('-----BEGIN')) {
    const first = pemDecodeAll(Buffer.from(input).toString('latin1'), 'X509 CRL')[0];
    if (!first) throw fail('malformed', 'PEM without an X509 CRL block');
    der = first;
  }
  const crl = parseX509Crl(der, fail);
  if (crl.nextUpdate === undefined) throw fail('malformed', 'CRL has no nextUpdate');
  return crl;
}

/** Verifies an Intel certificate's or CRL's ECDSA-with-SHA256 signature with `key`; false on any failure. */
export function verifyX509Signature(signed: ParsedCertificate | ParsedCrl, key: KeyObject): boolean {
  return verifySignature(signed, key, { algorithms: INTEL_SIGNATURE_ALGORITHMS });
}

/** Verifies a raw r || s ECDSA P-256 / SHA-256 signature (the quote and collateral format); false on failure. */
export function verifyRawEcdsa(data: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  if (signature.length !== 64) return false;
  try {
    return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

// DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, uncompressed point follows).
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/** Imports a raw x || y P-256 public key (as in quotes); undefined when it is not a point on the curve. */
export function p256KeyFromRaw(xy: Uint8Array): KeyObject | undefined {
  if (xy.length !== 64) return undefined;
  try {
    return createPublicKey({ key: Buffer.concat([P256_SPKI_PREFIX, Buffer.of(4), xy]), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

/** Trust anchors normalized to DER, with a key that identifies the set for caches. */
export interface TrustAnchors {
  certs: ParsedCert[];
  key: string;
}

const anchorCache = new WeakMap<object, TrustAnchors>();
const anchorByKey = new Map<string, TrustAnchors>();

/** Normalizes trust anchors given as PEM text (one or more certificates) or DER bytes. */
export function normalizeTrustAnchors(anchors: readonly (string | Uint8Array)[]): TrustAnchors {
  const cached = anchorCache.get(anchors);
  if (cached) return cached;
  const ders: Uint8Array[] = [];
  for (const a of anchors) {
    if (typeof a === 'string') ders.push(...pemDecodeAll(a, 'CERTIFICATE'));
    else ders.push(a);
  }
  if (ders.length === 0) {
    throw intelError(INTEL_ERROR_CODES.UNTRUSTED_ROOT, 'Cannot verify quote: no trust anchor certificate was given');
  }
  const h = createHash('sha256');
  for (const d of ders) h.update(createHash('sha256').update(d).digest());
  const key = h.digest('hex');
  let result = anchorByKey.get(key);
  if (!result) {
    const certs = ders.map((d) => parseCertificate(d, INTEL_ERROR_CODES.UNTRUSTED_ROOT, 'trust anchor'));
    result = { certs, key };
    if (anchorByKey.size > 64) anchorByKey.clear();
    anchorByKey.set(key, result);
  }
  anchorCache.set(anchors, result);
  return result;
}

/**
 * Orders certificates leaf-first by issuer/subject names, completes a chain whose root is omitted from a
 * trust anchor with the matching subject, and checks every link: issuer name, CA flag, signature. The last
 * certificate must be byte-identical to a trust anchor (UNTRUSTED_ROOT otherwise); any other fault is `code`.
 */
export function verifyCertChain(
  certs: ParsedCert[],
  anchors: TrustAnchors,
  code: IntelErrorCode,
  what: string,
): { chain: ParsedCert[]; window: Window } {
  const fail: X509ErrorFactory = (reason, message, cause, details) =>
    intelError(reason === 'untrusted-root' ? INTEL_ERROR_CODES.UNTRUSTED_ROOT : code, message, {
      ...(cause === undefined ? {} : { cause }),
      ...(details === undefined ? {} : { details }),
    });
  const { chain, window } = verifyChain(certs, { anchors: anchors.certs, fail, what, algorithms: INTEL_SIGNATURE_ALGORITHMS });
  return { chain: chain as ParsedCert[], window };
}

/** Parses PEM text into certificates (throws `code` when it holds none). */
export function parsePemChain(pem: string, code: IntelErrorCode, what: string): ParsedCert[] {
  const ders = pemDecodeAll(pem, 'CERTIFICATE');
  if (ders.length === 0) throw intelError(code, `Cannot verify ${what}: no PEM certificate found`);
  return ders.map((d) => parseCertificate(d, code, what));
}

/** SHA-256 hex of bytes or text. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
