/**
 * X.509 helpers for the Intel PKI: parse certificates and CRLs with @peculiar/asn1-x509 (the schema layer of
 * @peculiar/x509; the X509Certificate class itself needs a global Reflect metadata polyfill we do not want to
 * install from library code),
 * check their ECDSA signatures synchronously with node:crypto over the exact TBS bytes, and check chains
 * against trust anchors by byte comparison of the root certificate (as Intel's QVL does:
 * QuoteVerification/QVL PckCertVerifier compares the root's raw DER signature, so a re-issued root with the
 * same key is NOT accepted; see test/vectors/MANIFEST.md, fortanix old-root-issuance).
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  CertificateList,
  Name as AsnName,
  id_ce_basicConstraints,
  type Extension,
} from '@peculiar/asn1-x509';
import { bytesEqual, toHex } from './bytes.ts';
import { intelError, type IntelErrorCode, INTEL_ERROR_CODES } from './codes.ts';
import { pemDecodeAll } from '../../x509/pem.ts';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** A validity interval in epoch milliseconds, both ends inclusive. */
export interface Window {
  from: number;
  until: number;
}

/** Intersects windows; an empty list gives the unbounded window. */
export function intersectWindows(windows: Iterable<Window>): Window {
  let from = -Infinity;
  let until = Infinity;
  for (const w of windows) {
    if (w.from > from) from = w.from;
    if (w.until < until) until = w.until;
  }
  return { from, until };
}

/** A parsed certificate with what chain checks need precomputed. */
export interface ParsedCert {
  der: Uint8Array;
  asn: Certificate;
  tbs: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
  spki: Uint8Array;
  publicKey: KeyObject;
  subject: string;
  issuer: string;
  /** DER of the subject and issuer Names, hex, for exact name matching. */
  subjectKey: string;
  issuerKey: string;
  /** Serial number, lowercase hex without leading zeros. */
  serial: string;
  window: Window;
  isCa: boolean;
}

/** A parsed CRL. */
export interface ParsedCrl {
  der: Uint8Array;
  asn: CertificateList;
  tbs: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
  issuer: string;
  issuerKey: string;
  /** thisUpdate .. nextUpdate. */
  window: Window;
  /** Revoked serial numbers, lowercase hex without leading zeros. */
  revoked: Set<string>;
}

/** Lowercase hex without leading zeros ("0" for zero), so serials from certificates and CRLs compare. */
export function normalizeSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^0+/, '');
  return s === '' ? '0' : s;
}

function nameKey(name: AsnName): string {
  return toHex(new Uint8Array(AsnConvert.serialize(name)));
}

const NAME_ATTRS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
};

/** A distinguished name as text for messages, e.g. "CN=Intel SGX Root CA, O=Intel Corporation, ...". */
export function nameToString(name: AsnName): string {
  const parts: string[] = [];
  for (const rdn of name) for (const atv of rdn) parts.push(`${NAME_ATTRS[atv.type] ?? atv.type}=${atv.value.toString()}`);
  return parts.join(', ');
}

/** The extnValue bytes of the extension `oid`, or undefined. */
export function findExtension(cert: ParsedCert, oid: string): Uint8Array | undefined {
  const ext: Extension | undefined = cert.asn.tbsCertificate.extensions?.find((e) => e.extnID === oid);
  return ext ? new Uint8Array(ext.extnValue.buffer) : undefined;
}

/** Parses one DER certificate; any failure is thrown as `code`. */
export function parseCertificate(der: Uint8Array, code: IntelErrorCode, what: string): ParsedCert {
  try {
    const asn = AsnConvert.parse(der, Certificate);
    const t = asn.tbsCertificate;
    const tbs = asn.tbsCertificateRaw ?? AsnConvert.serialize(t);
    const spki = new Uint8Array(AsnConvert.serialize(t.subjectPublicKeyInfo));
    const bcExt = t.extensions?.find((e) => e.extnID === id_ce_basicConstraints);
    const bc = bcExt ? AsnConvert.parse(bcExt.extnValue.buffer, BasicConstraints) : undefined;
    return {
      der,
      asn,
      tbs: new Uint8Array(tbs),
      signatureAlgorithm: asn.signatureAlgorithm.algorithm,
      signature: new Uint8Array(asn.signatureValue),
      spki,
      publicKey: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }),
      subject: nameToString(t.subject),
      issuer: nameToString(t.issuer),
      subjectKey: nameKey(t.subject),
      issuerKey: nameKey(t.issuer),
      serial: normalizeSerial(toHex(new Uint8Array(t.serialNumber))),
      window: { from: t.validity.notBefore.getTime().getTime(), until: t.validity.notAfter.getTime().getTime() },
      isCa: bc?.cA === true,
    };
  } catch (err) {
    throw intelError(code, `Cannot verify ${what}: a certificate cannot be parsed`, { cause: err });
  }
}

/** Parses a CRL given as DER or PEM; any failure is thrown as `code`. */
export function parseCrl(input: Uint8Array, code: IntelErrorCode, what: string): ParsedCrl {
  try {
    let der = input;
    const text = Buffer.from(input.subarray(0, 64)).toString('latin1');
    if (text.includes('-----BEGIN')) {
      const first = pemDecodeAll(Buffer.from(input).toString('latin1'), 'X509 CRL')[0];
      if (!first) throw new Error('PEM without an X509 CRL block');
      der = first;
    }
    const asn = AsnConvert.parse(der, CertificateList);
    const t = asn.tbsCertList;
    const tbs = asn.tbsCertListRaw ?? AsnConvert.serialize(t);
    const next = t.nextUpdate?.getTime();
    if (!next) throw new Error('CRL has no nextUpdate');
    const revoked = new Set<string>();
    for (const e of t.revokedCertificates ?? []) revoked.add(normalizeSerial(toHex(new Uint8Array(e.userCertificate))));
    return {
      der,
      asn,
      tbs: new Uint8Array(tbs),
      signatureAlgorithm: asn.signatureAlgorithm.algorithm,
      signature: new Uint8Array(asn.signature),
      issuer: nameToString(t.issuer),
      issuerKey: nameKey(t.issuer),
      window: { from: t.thisUpdate.getTime().getTime(), until: next.getTime() },
      revoked,
    };
  } catch (err) {
    throw intelError(code, `Cannot verify ${what}: the CRL cannot be parsed`, { cause: err });
  }
}

/** Verifies an X.509 ECDSA-with-SHA256 signature (DER-encoded) over `tbs`; false on any failure. */
export function verifyX509Signature(tbs: Uint8Array, signatureAlgorithm: string, signature: Uint8Array, key: KeyObject): boolean {
  if (signatureAlgorithm !== ECDSA_WITH_SHA256) return false;
  try {
    return cryptoVerify('sha256', tbs, key, signature);
  } catch {
    return false;
  }
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
  if (certs.length === 0) throw intelError(code, `Cannot verify ${what}: the certificate chain is empty`);
  // The leaf is the one certificate that issued no other certificate in the set.
  const leaves = certs.filter(
    (c) => !certs.some((o) => o !== c && o.issuerKey === c.subjectKey && o.subjectKey !== o.issuerKey),
  );
  if (leaves.length !== 1) throw intelError(code, `Cannot verify ${what}: the certificates do not form one chain`);
  const chain: ParsedCert[] = [leaves[0]!];
  const unused = new Set(certs.filter((c) => c !== leaves[0]));
  for (;;) {
    const cur = chain[chain.length - 1]!;
    if (cur.issuerKey === cur.subjectKey) break;
    const next = [...unused].find((c) => c.subjectKey === cur.issuerKey);
    if (next) {
      unused.delete(next);
      chain.push(next);
      continue;
    }
    const anchor = anchors.certs.find((a) => a.subjectKey === cur.issuerKey);
    if (!anchor) {
      throw intelError(INTEL_ERROR_CODES.UNTRUSTED_ROOT, `Cannot verify ${what}: no certificate or trust anchor issued "${cur.subject}"`);
    }
    chain.push(anchor);
  }
  if (unused.size > 0) throw intelError(code, `Cannot verify ${what}: the chain holds certificates that are not part of it`);
  const root = chain[chain.length - 1]!;
  if (!anchors.certs.some((a) => bytesEqual(a.der, root.der))) {
    throw intelError(
      INTEL_ERROR_CODES.UNTRUSTED_ROOT,
      `Cannot verify ${what}: the root certificate "${root.subject}" is not byte-identical to a trust anchor`,
      { details: { rootSha256: createHash('sha256').update(root.der).digest('hex') } },
    );
  }
  for (let i = 0; i < chain.length - 1; i++) {
    const child = chain[i]!;
    const parent = chain[i + 1]!;
    if (!parent.isCa) throw intelError(code, `Cannot verify ${what}: "${parent.subject}" is not a CA certificate`);
    if (!verifyX509Signature(child.tbs, child.signatureAlgorithm, child.signature, parent.publicKey)) {
      throw intelError(code, `Cannot verify ${what}: the signature of "${child.subject}" does not verify with the key of "${parent.subject}"`);
    }
  }
  return { chain, window: intersectWindows(chain.map((c) => c.window)) };
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
