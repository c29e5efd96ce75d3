/**
 * Parsing of X.509 certificates and CRLs (RFC 5280 §4, §5) from untrusted DER into one shape that every
 * verifier uses (Intel PCK and collateral chains, AMD ARK/ASK/VCEK, RATS-TLS certificates). Decoding goes
 * through @peculiar/asn1-x509 (the schema layer of @peculiar/x509; its X509Certificate class needs a global
 * Reflect metadata polyfill we do not install from library code); the signed bytes are the exact ones read.
 * Pure: bytes in, a value or the caller's error out.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  CertificateList,
  KeyUsage,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  type AlgorithmIdentifier,
  type Name,
} from '@peculiar/asn1-x509';
import { derBytes, derChildren, derStructureError, readDerElement } from './der.ts';
import type { X509ErrorFactory } from './failure.ts';

/** A validity interval in epoch milliseconds, both ends inclusive (RFC 5280 §4.1.2.5). */
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

/** What signature checks need of a signed structure (certificate or CRL). */
export interface SignedObject {
  /** TBSCertificate / TBSCertList, exactly as signed. */
  readonly tbs: Uint8Array;
  /** The outer signatureAlgorithm's OID and its parameters (RSASSA-PSS: RSASSA-PSS-params). */
  readonly signatureAlgorithm: string;
  readonly signatureParameters: ArrayBuffer | null | undefined;
  /** The signatureValue BIT STRING's bytes. */
  readonly signature: Uint8Array;
  /** The signed inner algorithm encodes the same AlgorithmIdentifier as the outer one (RFC 5280 §4.1.1.2). */
  readonly innerAlgorithmMatches: boolean;
}

/** A parsed certificate with what chain checks need precomputed. */
export interface ParsedCertificate extends SignedObject {
  readonly der: Uint8Array;
  /** The decoded certificate (@peculiar/asn1-x509). */
  readonly asn: Certificate;
  /** SubjectPublicKeyInfo bytes as they appear in the TBSCertificate. */
  readonly spki: Uint8Array;
  /** The subject key; undefined when node:crypto cannot import it (no signature made by it can verify). */
  readonly publicKey: KeyObject | undefined;
  /** Subject and issuer as text for messages ("CN=Intel SGX Root CA, O=Intel Corporation, ..."). */
  readonly subject: string;
  readonly issuer: string;
  /** DER of the subject and issuer Names, hex: names match when these are equal. */
  readonly subjectKey: string;
  readonly issuerKey: string;
  /** The first commonName of subject and issuer; "" when absent. */
  readonly subjectCn: string;
  readonly issuerCn: string;
  /** Serial number, lowercase hex without leading zeros. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** notBefore .. notAfter in epoch milliseconds. */
  readonly window: Window;
  /** extnID -> extnValue (the OCTET STRING's contents); each extension at most once (RFC 5280 §4.2). */
  readonly extensions: ReadonlyMap<string, Uint8Array>;
  /** The extnIDs marked critical. */
  readonly criticalExtensions: ReadonlySet<string>;
  /** basicConstraints cA (false when the extension is absent). */
  readonly isCa: boolean;
  /** keyUsage bits (KeyUsageFlags of @peculiar/asn1-x509), undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  /** Subject equals issuer. */
  readonly selfIssued: boolean;
}

/** A parsed CRL (RFC 5280 §5). */
export interface ParsedCrl extends SignedObject {
  readonly der: Uint8Array;
  readonly asn: CertificateList;
  readonly issuer: string;
  readonly issuerKey: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** thisUpdate .. nextUpdate (+Infinity without nextUpdate). */
  readonly window: Window;
  /** Revoked serial numbers, lowercase hex without leading zeros. */
  readonly revoked: ReadonlySet<string>;
}

/** Lowercase hex without leading zeros ("0" for zero), so serials from certificates and CRLs compare. */
export function normalizeSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^0+/, '');
  return s === '' ? '0' : s;
}

function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('hex');
}

function copy(buf: ArrayBuffer): Uint8Array {
  return new Uint8Array(buf.slice(0));
}

function nameKey(name: Name): string {
  return hex(AsnConvert.serialize(name));
}

const NAME_ATTRS: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
};

/** A distinguished name as text for messages, e.g. "CN=Intel SGX Root CA, O=Intel Corporation, ...". */
export function nameToString(name: Name): string {
  const parts: string[] = [];
  for (const rdn of name) for (const atv of rdn) parts.push(`${NAME_ATTRS[atv.type] ?? atv.type}=${atv.value.toString()}`);
  return parts.join(', ');
}

function commonName(name: Name): string {
  for (const rdn of name) for (const atv of rdn) if (atv.type === '2.5.4.3') return atv.value.toString();
  return '';
}

function sameAlgorithm(a: AlgorithmIdentifier, b: AlgorithmIdentifier): boolean {
  return Buffer.from(AsnConvert.serialize(a)).equals(Buffer.from(AsnConvert.serialize(b)));
}

/** The SubjectPublicKeyInfo bytes as they appear in the TBSCertificate (field 6, after the optional version). */
function spkiBytes(tbs: Uint8Array): Uint8Array | undefined {
  const outer = readDerElement(tbs, 0);
  const fields = outer === undefined ? undefined : derChildren(tbs, outer);
  if (fields === undefined) return undefined;
  const spki = fields[(fields[0]?.tag === 0xa0 ? 1 : 0) + 5];
  return spki?.tag === 0x30 ? Uint8Array.from(derBytes(tbs, spki)) : undefined;
}

function importKey(spki: Uint8Array): KeyObject | undefined {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

/** A field-level fault found after decoding; `details` tells callers which field (for their own messages). */
class FieldError extends Error {
  readonly details: Record<string, unknown>;
  constructor(message: string, details: Record<string, unknown>) {
    super(message);
    this.details = details;
  }
}

function validDate(d: Date, field: string): Date {
  if (Number.isNaN(d.getTime())) throw new FieldError(`${field} is not a valid time`, { field });
  return d;
}

function malformedField(fail: X509ErrorFactory, what: string, err: unknown): Error {
  const message = `Cannot parse ${what}: ${err instanceof Error ? err.message : 'a field cannot be decoded'}`;
  return fail('malformed', message, err, err instanceof FieldError ? err.details : undefined);
}

/**
 * Parses one DER certificate. Any failure (not a Certificate, an extension twice, undecodable basicConstraints
 * or keyUsage, an invalid date) is thrown as `fail('malformed', "Cannot parse <what>: ...", cause, details)`,
 * where details name the faulty field (`{ field: 'extensions', extension }`, `{ field: 'notBefore' }`, ...).
 */
export function parseCertificate(der: Uint8Array, fail: X509ErrorFactory, what = 'the certificate'): ParsedCertificate {
  let asn: Certificate;
  const notDer = derStructureError(der);
  if (notDer !== undefined) throw fail('malformed', `Cannot parse ${what}: it is not DER (${notDer})`);
  try {
    asn = AsnConvert.parse(der, Certificate);
  } catch (err) {
    throw fail('malformed', `Cannot parse ${what}: it is not a DER X.509 certificate`, err);
  }
  try {
    const t = asn.tbsCertificate;
    if (asn.tbsCertificateRaw === undefined) throw new FieldError('its tbsCertificate is missing', { field: 'tbsCertificate' });
    const tbs = copy(asn.tbsCertificateRaw);
    const extensions = new Map<string, Uint8Array>();
    const criticalExtensions = new Set<string>();
    for (const e of t.extensions ?? []) {
      // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of a particular extension.
      if (extensions.has(e.extnID)) throw new FieldError(`extension ${e.extnID} appears twice`, { field: 'extensions', extension: e.extnID });
      extensions.set(e.extnID, copy(e.extnValue.buffer));
      if (e.critical === true) criticalExtensions.add(e.extnID);
    }
    const bc = extensions.get(id_ce_basicConstraints);
    const ku = extensions.get(id_ce_keyUsage);
    const spki = spkiBytes(tbs) ?? new Uint8Array(AsnConvert.serialize(t.subjectPublicKeyInfo));
    const notBefore = validDate(t.validity.notBefore.getTime(), 'notBefore');
    const notAfter = validDate(t.validity.notAfter.getTime(), 'notAfter');
    const subjectKey = nameKey(t.subject);
    const issuerKey = nameKey(t.issuer);
    return {
      der,
      asn,
      tbs,
      signatureAlgorithm: asn.signatureAlgorithm.algorithm,
      signatureParameters: asn.signatureAlgorithm.parameters,
      signature: copy(asn.signatureValue),
      innerAlgorithmMatches: sameAlgorithm(asn.signatureAlgorithm, t.signature),
      spki,
      publicKey: importKey(spki),
      subject: nameToString(t.subject),
      issuer: nameToString(t.issuer),
      subjectKey,
      issuerKey,
      subjectCn: commonName(t.subject),
      issuerCn: commonName(t.issuer),
      serial: normalizeSerial(hex(t.serialNumber)),
      notBefore,
      notAfter,
      window: { from: notBefore.getTime(), until: notAfter.getTime() },
      extensions,
      criticalExtensions,
      isCa: bc === undefined ? false : AsnConvert.parse(bc, BasicConstraints).cA === true,
      keyUsage: ku === undefined ? undefined : AsnConvert.parse(ku, KeyUsage).toNumber(),
      selfIssued: subjectKey === issuerKey,
    };
  } catch (err) {
    throw malformedField(fail, what, err);
  }
}

/** Parses one DER CRL; any failure is thrown as `fail('malformed', "Cannot parse <what>: ...")`. */
export function parseCrl(der: Uint8Array, fail: X509ErrorFactory, what = 'the CRL'): ParsedCrl {
  let asn: CertificateList;
  const notDer = derStructureError(der);
  if (notDer !== undefined) throw fail('malformed', `Cannot parse ${what}: it is not DER (${notDer})`);
  try {
    asn = AsnConvert.parse(der, CertificateList);
  } catch (err) {
    throw fail('malformed', `Cannot parse ${what}: it is not a DER X.509 CRL`, err);
  }
  try {
    const t = asn.tbsCertList;
    if (asn.tbsCertListRaw === undefined) throw new FieldError('its tbsCertList is missing', { field: 'tbsCertList' });
    const thisUpdate = validDate(t.thisUpdate.getTime(), 'thisUpdate');
    const nextUpdate = t.nextUpdate === undefined ? undefined : validDate(t.nextUpdate.getTime(), 'nextUpdate');
    const revoked = new Set<string>();
    for (const e of t.revokedCertificates ?? []) revoked.add(normalizeSerial(hex(e.userCertificate)));
    return {
      der,
      asn,
      tbs: copy(asn.tbsCertListRaw),
      signatureAlgorithm: asn.signatureAlgorithm.algorithm,
      signatureParameters: asn.signatureAlgorithm.parameters,
      signature: copy(asn.signature),
      innerAlgorithmMatches: sameAlgorithm(asn.signatureAlgorithm, t.signature),
      issuer: nameToString(t.issuer),
      issuerKey: nameKey(t.issuer),
      thisUpdate,
      nextUpdate,
      window: { from: thisUpdate.getTime(), until: nextUpdate === undefined ? Infinity : nextUpdate.getTime() },
      revoked,
    };
  } catch (err) {
    throw malformedField(fail, what, err);
  }
}
