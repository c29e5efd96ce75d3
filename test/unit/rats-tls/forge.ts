/**
 * Builds RATS-TLS certificates with chosen defects (wrong pubkey-hash, critical extension, evidence of another
 * key, padding after the CBOR, ...) from the same building blocks the library uses, for the negative tests.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Extensions, TBSCertificate, Validity, Version, type Extension } from '@peculiar/asn1-x509';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { encodeClaims, encodeDiceEvidence } from '../../../src/rats-tls/cbor.ts';
import { OID_DICE_EVIDENCE, TAG_SIM_EVIDENCE } from '../../../src/rats-tls/format.ts';
import { buildExtension, buildName, NAME_OIDS, serialInteger, signatureAlgorithmOf, signCertificate, subjectPublicKeyInfoOf } from '../../../src/x509/certificate.ts';

export const PLATFORM = generateKeyPairSync('ed25519');
export const AT = new Date('2026-03-01T12:00:00.000Z');

/** What to build; everything defaults to a correct sim DICE certificate for `key`. */
export interface ForgeOptions {
  key?: KeyObject;
  /** Bytes of the claims map; default a correct one for `key`. */
  claimsBytes?: Uint8Array;
  /** The claims report_data commits to; default claimsBytes. */
  reportDataClaims?: Uint8Array;
  /** Raw report data (overrides reportDataClaims). */
  reportData?: Uint8Array;
  evidence?: Uint8Array;
  tag?: number;
  critical?: boolean;
  /** Bytes appended after the CBOR item in the extension. */
  padding?: Uint8Array;
  /** The whole extnValue. */
  extnValue?: Uint8Array;
  /** Extra or replacement extensions. */
  extensions?: Extension[];
  evidenceAt?: Date;
  notBefore?: Date;
  notAfter?: Date;
}

export function spkiDer(key: KeyObject): Uint8Array {
  return subjectPublicKeyInfoOf(key).der;
}

export function claimsFor(key: KeyObject, extra: { nonce?: Uint8Array } = {}): Uint8Array {
  const hash = new Uint8Array(createHash('sha256').update(spkiDer(key)).digest());
  return encodeClaims({ pubkeyHash: { algorithm: 'sha-256', hash }, ...extra });
}

export function reportDataOver(claims: Uint8Array): Uint8Array {
  const rd = new Uint8Array(64);
  rd.set(createHash('sha256').update(claims).digest());
  return rd;
}

/** The DICE extension value for the options. */
export function diceValue(o: ForgeOptions, key: KeyObject): Uint8Array {
  if (o.extnValue) return o.extnValue;
  const claims = o.claimsBytes ?? claimsFor(key);
  const reportData = o.reportData ?? reportDataOver(o.reportDataClaims ?? claims);
  const evidence = o.evidence ?? createSimEvidence({ measurement: new Uint8Array(48), reportData, platformKey: PLATFORM.privateKey, at: o.evidenceAt ?? AT });
  const value = encodeDiceEvidence(o.tag ?? TAG_SIM_EVIDENCE, evidence, claims);
  return o.padding ? Uint8Array.from([...value, ...o.padding]) : value;
}

/** A signed certificate DER per the options. */
export function forge(o: ForgeOptions = {}): { der: Uint8Array; key: KeyObject } {
  const key = o.key ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const exts = o.extensions ?? [buildExtension(OID_DICE_EVIDENCE, o.critical === true, diceValue(o, key))];
  const name = buildName([{ type: NAME_OIDS.commonName, value: 'forged' }]);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialInteger(Uint8Array.of(1)),
    signature: signatureAlgorithmOf(key),
    issuer: name,
    validity: new Validity({ notBefore: o.notBefore ?? new Date(AT.getTime() - 60_000), notAfter: o.notAfter ?? new Date(AT.getTime() + 3_600_000) }),
    subject: name,
    subjectPublicKeyInfo: subjectPublicKeyInfoOf(key).spki,
    extensions: new Extensions(exts),
  });
  return { der: signCertificate(tbs, key), key };
}
