/** src/x509 parse.ts, signature.ts, chain.ts: one certificate/CRL parser and chain check, the caller's error codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  CertificateList,
  RevokedCertificate,
  TBSCertList,
  TBSCertificate,
  Time,
  Validity,
  Version,
  id_ce_basicConstraints,
} from '@peculiar/asn1-x509';
import { VECTORS_ROOT } from '../support/vectors.ts';
import { parseIntelQuote } from '../../src/attestation/intel/quote.ts';
import { INTEL_SGX_ROOT_CA_PEM } from '../../src/attestation/roots/intel.ts';
import { pemDecodeAll } from '../../src/x509/pem.ts';
import {
  buildExtension,
  buildName,
  NAME_OIDS,
  serialInteger,
  signatureAlgorithmOf,
  signCertificate,
  signSelfSignedCertificate,
  subjectPublicKeyInfoOf,
} from '../../src/x509/certificate.ts';
import type { X509ErrorFactory, X509FailureReason } from '../../src/x509/failure.ts';
import { parseCertificate, parseCrl, type ParsedCertificate } from '../../src/x509/parse.ts';
import { verifySignature } from '../../src/x509/signature.ts';
import { verifyChain } from '../../src/x509/chain.ts';

/** The caller's error: a class of its own with the reason as its code, as intel/, amd/ and rats-tls/ map it. */
class CallerError extends Error {
  readonly code: string;
  constructor(reason: X509FailureReason, message: string, cause?: unknown) {
    super(message, cause === undefined ? {} : { cause });
    this.code = `CALLER_ERR_${reason.toUpperCase().replace('-', '_')}`;
  }
}
const fail: X509ErrorFactory = (reason, message, cause) => new CallerError(reason, message, cause);
const code = (reason: X509FailureReason): { code: string } => ({ code: `CALLER_ERR_${reason.toUpperCase().replace('-', '_')}` });

const intelDir = join(VECTORS_ROOT, 'intel-sgx', 'sgx-v3-dcapqvl-00a067110000');
const quoteDers = parseIntelQuote(new Uint8Array(readFileSync(join(intelDir, 'quote.bin')))).signature.certificationData.certificates!;
const intelRoot = parseCertificate(pemDecodeAll(INTEL_SGX_ROOT_CA_PEM, 'CERTIFICATE')[0]!, fail);
const rootCrl = parseCrl(new Uint8Array(readFileSync(join(intelDir, 'root_ca_crl.der'))), fail);
const pckCrl = parseCrl(new Uint8Array(readFileSync(join(intelDir, 'pck_crl.der'))), fail);
const parseAll = (ders: Uint8Array[]): ParsedCertificate[] => ders.map((d) => parseCertificate(d, fail));
/** A time at which every certificate of the vector and both CRLs are valid: the later thisUpdate. */
const at = new Date(Math.max(rootCrl.thisUpdate.getTime(), pckCrl.thisUpdate.getTime()));

function flipped(der: Uint8Array, offset: number): Uint8Array {
  const out = Uint8Array.from(der);
  out[offset]! ^= 0x01;
  return out;
}

test('verifyChain() accepts the real PCK chain of an SGX quote against the Intel SGX Root CA, with both CRLs', () => {
  const { chain, window } = verifyChain(parseAll(quoteDers), { anchors: [intelRoot], fail, what: 'the PCK chain', at, crls: [rootCrl, pckCrl] });
  assert.equal(chain.length, 3);
  assert.match(chain[0]!.subject, /CN=Intel SGX PCK Certificate/);
  assert.equal(chain[2]!.der.length, intelRoot.der.length);
  assert.ok(window.from <= at.getTime() && at.getTime() <= window.until);
});

test('verifyChain() accepts the real AMD Genoa ARK -> ASK -> VCEK chain (RSASSA-PSS SHA-384 over an ECDSA P-384 leaf)', () => {
  const amdDir = join(VECTORS_ROOT, 'amd-sev-snp', 'snp-v3-ms-genoa');
  const pem = (f: string): Uint8Array => pemDecodeAll(readFileSync(join(amdDir, f), 'latin1'), 'CERTIFICATE')[0]!;
  const [ark, ask, vcek] = parseAll([pem('ark.pem'), pem('ask.pem'), pem('vcek.pem')]) as [ParsedCertificate, ParsedCertificate, ParsedCertificate];
  const { chain } = verifyChain([vcek, ask], { anchors: [ark], fail, what: 'the VCEK chain' });
  assert.deepEqual(
    chain.map((c) => c.subjectCn),
    ['SEV-VCEK', 'SEV-Genoa', 'ARK-Genoa'],
  );
  assert.ok(verifySignature(ark, ark.publicKey), 'the ARK is self-signed with RSASSA-PSS');
});

test('verifyChain() rejects a PCK certificate with a flipped byte in its TBS or its signature, with the caller\'s code', () => {
  const pck = parseCertificate(quoteDers[0]!, fail);
  // A byte inside the subject public key (in the TBS) and the last byte of the signature (inside the ECDSA s).
  const tbsOffset = Buffer.from(pck.der).indexOf(Buffer.from(pck.spki)) + pck.spki.length - 1;
  for (const [name, offset] of [['TBS', tbsOffset], ['signature', pck.der.length - 1]] as const) {
    const certs = parseAll([flipped(pck.der, offset), ...quoteDers.slice(1)]);
    assert.throws(() => verifyChain(certs, { anchors: [intelRoot], fail, what: 'the PCK chain' }), code('signature'), name);
  }
});

test('verifyChain() rejects a chain whose root is not byte-identical to an anchor (the AMD ARK as the only anchor)', () => {
  const amdArk = parseCertificate(pemDecodeAll(readFileSync(join(VECTORS_ROOT, 'amd-sev-snp', 'snp-v3-ms-genoa', 'ark.pem'), 'latin1'), 'CERTIFICATE')[0]!, fail);
  assert.throws(() => verifyChain(parseAll(quoteDers), { anchors: [amdArk], fail, what: 'the PCK chain' }), code('untrusted-root'));
  assert.throws(() => verifyChain([], { anchors: [intelRoot], fail, what: 'the PCK chain' }), code('chain'));
});

test('verifyChain() rejects the real chain at a time after the PCK certificate expired', () => {
  const pck = parseCertificate(quoteDers[0]!, fail);
  const later = new Date(pck.notAfter.getTime() + 1000);
  assert.throws(() => verifyChain(parseAll(quoteDers), { anchors: [intelRoot], fail, what: 'the PCK chain', at: later }), code('expired'));
});

test('verifyChain() rejects a CRL that no CA of the chain signed', () => {
  // The PCK CRL is named for the PCK CA; against a chain that is only the root, no CA of the chain issued it.
  assert.throws(() => verifyChain([intelRoot], { anchors: [intelRoot], fail, what: 'the root', crls: [pckCrl] }), code('crl'));
});

/** A two-level test PKI (P-256): a root CA, a leaf it issued, and a CRL of the root that revokes `revoked`. */
function testPki(revoked: Uint8Array[]): { root: ParsedCertificate; leaf: ParsedCertificate; crl: ReturnType<typeof parseCrl> } {
  const key = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rootKey = key();
  const leafKey = key();
  const rootName = buildName([{ type: NAME_OIDS.commonName, value: 'Test Root CA' }]);
  const notBefore = new Date('2025-01-01T00:00:00Z');
  const notAfter = new Date('2035-01-01T00:00:00Z');
  const rootDer = signSelfSignedCertificate({
    key: rootKey.privateKey,
    spki: subjectPublicKeyInfoOf(rootKey.privateKey).spki,
    name: rootName,
    serial: Uint8Array.of(1),
    notBefore,
    notAfter,
    extensions: [buildExtension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true }))],
  });
  const leafDer = signCertificate(
    new TBSCertificate({
      version: Version.v3,
      serialNumber: serialInteger(Uint8Array.of(0x42)),
      signature: signatureAlgorithmOf(rootKey.privateKey),
      issuer: rootName,
      validity: new Validity({ notBefore, notAfter }),
      subject: buildName([{ type: NAME_OIDS.commonName, value: 'Test Leaf' }]),
      subjectPublicKeyInfo: subjectPublicKeyInfoOf(leafKey.privateKey).spki,
    }),
    rootKey.privateKey,
  );
  const tbsList = new TBSCertList({
    version: Version.v2,
    signature: signatureAlgorithmOf(rootKey.privateKey),
    issuer: rootName,
    thisUpdate: new Time(new Date('2026-01-01T00:00:00Z')),
    nextUpdate: new Time(new Date('2026-02-01T00:00:00Z')),
    ...(revoked.length === 0
      ? {}
      : { revokedCertificates: revoked.map((s) => new RevokedCertificate({ userCertificate: serialInteger(s), revocationDate: new Time(notBefore) })) }),
  });
  const tbs = new Uint8Array(AsnConvert.serialize(tbsList));
  const crlDer = new Uint8Array(
    AsnConvert.serialize(new CertificateList({ tbsCertList: tbsList, signatureAlgorithm: tbsList.signature, signature: Uint8Array.from(sign('sha256', tbs, rootKey.privateKey)).buffer })),
  );
  return { root: parseCertificate(rootDer, fail), leaf: parseCertificate(leafDer, fail), crl: parseCrl(crlDer, fail) };
}

test('verifyChain() rejects a certificate whose serial its issuer\'s CRL lists, and accepts it when the CRL lists another', () => {
  const when = new Date('2026-01-15T00:00:00Z');
  const revoked = testPki([Uint8Array.of(0x42)]);
  assert.equal(revoked.leaf.serial, '42');
  assert.throws(() => verifyChain([revoked.leaf], { anchors: [revoked.root], fail, what: 'the test chain', at: when, crls: [revoked.crl] }), code('revoked'));
  const other = testPki([Uint8Array.of(0x43)]);
  assert.equal(verifyChain([other.leaf], { anchors: [other.root], fail, what: 'the test chain', at: when, crls: [other.crl] }).chain.length, 2);
  // A CRL past its nextUpdate is expired.
  assert.throws(() => verifyChain([other.leaf], { anchors: [other.root], fail, what: 'the test chain', at: new Date('2026-03-01T00:00:00Z'), crls: [other.crl] }), code('expired'));
});

test('verifyChain() rejects an issuer that is not a CA', () => {
  const a = testPki([]);
  assert.equal(a.leaf.isCa, false);
  // The same root with its basicConstraints cA cleared, as anchor and issuer.
  assert.throws(() => verifyChain([a.leaf, { ...a.root, isCa: false }], { anchors: [{ ...a.root, isCa: false }], fail, what: 'the test chain' }), code('not-ca'));
});

test('parseCertificate() and parseCrl() turn random bytes into the caller\'s error, never a crash', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      for (const parse of [() => parseCertificate(bytes, fail), () => parseCrl(bytes, fail)]) {
        try {
          parse();
        } catch (err) {
          assert.ok(err instanceof CallerError, String(err));
          assert.equal(err.code, 'CALLER_ERR_MALFORMED');
        }
      }
    }),
    { numRuns: 500 },
  );
});

test('parseCertificate() and verifyChain() give the caller\'s error for any edit of a real certificate, never a crash', () => {
  const pck = quoteDers[0]!;
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat({ max: pck.length - 1 }), fc.nat({ max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
      const der = Uint8Array.from(pck);
      for (const [i, v] of edits) der[i] = v;
      try {
        verifyChain(parseAll([der, ...quoteDers.slice(1)]), { anchors: [intelRoot], fail, what: 'the PCK chain', at });
      } catch (err) {
        assert.ok(err instanceof CallerError, String(err));
      }
    }),
    { numRuns: 300 },
  );
});
