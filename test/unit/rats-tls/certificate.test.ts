/** createAttestedCertificate() and verifyAttestedCertificate() with the in-process sim attester. */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, BasicConstraints, Certificate, SubjectKeyIdentifier } from '@peculiar/asn1-x509';
import { parseSimEvidence } from '../../../src/attestation/sim/parse.ts';
import { createLocalSimAttester } from '../../../src/rats-tls/attesters/sim-local.ts';
import { createNullAttester } from '../../../src/rats-tls/attesters/null.ts';
import { createAttestedCertificate, DEFAULT_VALIDITY } from '../../../src/rats-tls/certificate.ts';
import { createRatsTlsIdentity } from '../../../src/rats-tls/identity.ts';
import { pinOfCertificate, pinOfSpki } from '../../../src/rats-tls/pin.ts';
import { RATS_TLS_ERROR_CODES as E } from '../../../src/rats-tls/codes.ts';
import { HASH_ALGORITHMS, OID_DICE_ENDORSEMENTS, OID_DICE_EVIDENCE, TAG_SIM_EVIDENCE, type HashAlgorithm } from '../../../src/rats-tls/format.ts';
import { parseAttestedCertificate } from '../../../src/rats-tls/parse.ts';
import { verifyAttestedCertificate } from '../../../src/rats-tls/verify.ts';
import { AT, PLATFORM } from './forge.ts';

const attester = createLocalSimAttester({ platformKey: PLATFORM.privateKey, now: () => AT });
const trusted = { simPlatformKeys: [PLATFORM.publicKey] };

void describe('createAttestedCertificate() round trip', () => {
  for (const keyType of ['p256', 'rsa3072'] as const) {
    for (const hashAlg of Object.keys(HASH_ALGORITHMS) as HashAlgorithm[]) {
      void test(`a ${keyType} certificate with a ${hashAlg} pubkey-hash verifies with the platform key`, async () => {
        const c = await createAttestedCertificate({ attester, hashAlg, keyType, now: () => AT, customClaims: { app: Uint8Array.of(7) } });
        const v = verifyAttestedCertificate(c.certPem, { at: AT, evidence: trusted });
        assert.equal(v.error, undefined);
        assert.equal(v.verified, true);
        assert.equal(v.binding, 'valid');
        assert.equal(v.format, 'dice');
        assert.equal(v.claims?.tee, 'sim');
        assert.equal(v.certificateClaims?.pubkeyHash.algorithm, hashAlg);
        assert.deepEqual(v.certificateClaims?.custom.app, Uint8Array.of(7));
        assert.equal(createPublicKey(c.keyPem).asymmetricKeyType, keyType === 'p256' ? 'ec' : 'rsa');
        assert.deepEqual(parseAttestedCertificate(c.certDer).der, c.certDer);
      });
    }
  }

  void test('the certificate is O=Inclavare Containers, CN=RATS-TLS, serial 1, CA:FALSE, SKI = AKI, a non-critical tagged evidence extension, valid now-1min..now+1h', async () => {
    const c = await createAttestedCertificate({ attester, now: () => AT });
    const cert = AsnConvert.parse(c.certDer, Certificate);
    const tbs = cert.tbsCertificate;
    const names = Array.from(tbs.subject, (rdn) => [rdn[0]!.type, rdn[0]!.value.toString()]);
    assert.deepEqual(names, [
      ['2.5.4.10', 'Inclavare Containers'],
      ['2.5.4.3', 'RATS-TLS'],
    ]);
    assert.deepEqual(AsnConvert.serialize(tbs.issuer), AsnConvert.serialize(tbs.subject));
    assert.deepEqual(new Uint8Array(tbs.serialNumber), Uint8Array.of(1));
    assert.equal(tbs.validity.notBefore.getTime().getTime(), AT.getTime() - DEFAULT_VALIDITY.backdateMs);
    assert.equal(tbs.validity.notAfter.getTime().getTime(), AT.getTime() + DEFAULT_VALIDITY.lifetimeMs);
    const ext = (oid: string) => tbs.extensions!.find((e) => e.extnID === oid)!;
    assert.equal(AsnConvert.parse(ext('2.5.29.19').extnValue, BasicConstraints).cA, false);
    const ski = AsnConvert.parse(ext('2.5.29.14').extnValue, SubjectKeyIdentifier);
    const aki = AsnConvert.parse(ext('2.5.29.35').extnValue, AuthorityKeyIdentifier);
    assert.deepEqual(new Uint8Array(aki.keyIdentifier!.buffer), new Uint8Array(ski.buffer));
    assert.equal(ext(OID_DICE_EVIDENCE).critical, false);
    const parsed = parseAttestedCertificate(c.certPem);
    assert.equal(parsed.tag, TAG_SIM_EVIDENCE);
    // report_data = SHA-256(claims bytes) zero-padded, as the attester was asked.
    const expected = new Uint8Array(64);
    expected.set(createHash('sha256').update(parsed.claimsBytes!).digest());
    assert.deepEqual(parseSimEvidence(parsed.evidence!).reportData, expected);
  });

  void test('a nonce is bound into the claims and checked against the expected one', async () => {
    const nonce = Uint8Array.of(1, 2, 3, 4);
    const c = await createAttestedCertificate({ attester, nonce, now: () => AT });
    assert.equal(verifyAttestedCertificate(c.certDer, { at: AT, evidence: trusted, expectedNonce: nonce }).verified, true);
    const stale = verifyAttestedCertificate(c.certDer, { at: AT, evidence: trusted, expectedNonce: Uint8Array.of(9) });
    assert.equal(stale.verified, false);
    assert.equal(stale.error?.code, E.NONCE_MISMATCH);
    assert.equal(stale.binding, 'valid');
  });

  void test('a certificate without a nonce is rejected when a nonce is expected', async () => {
    const c = await createAttestedCertificate({ attester, now: () => AT });
    const v = verifyAttestedCertificate(c.certDer, { at: AT, evidence: trusted, expectedNonce: Uint8Array.of(1) });
    assert.equal(v.error?.code, E.NONCE_MISMATCH);
  });

  void test('custom claims cannot replace pubkey-hash or nonce', async () => {
    await assert.rejects(createAttestedCertificate({ attester, customClaims: { 'pubkey-hash': Uint8Array.of(1) } }), { code: E.INVALID_ARGUMENT });
  });

  void test('endorsements are written verbatim in a non-critical 2.23.133.5.4.2 extension', async () => {
    const endorsements = Uint8Array.of(0x80);
    const c = await createAttestedCertificate({ attester, endorsements, now: () => AT });
    const parsed = parseAttestedCertificate(c.certDer);
    assert.deepEqual(parsed.endorsements, endorsements);
    const ext = parsed.certificate.tbsCertificate.extensions!.find((e) => e.extnID === OID_DICE_ENDORSEMENTS)!;
    assert.equal(ext.critical, false);
  });

  void test('the null attester writes no evidence: rejected by default, accepted only with allowUnattested', async () => {
    const c = await createAttestedCertificate({ attester: createNullAttester(), now: () => AT });
    assert.equal(c.claims, undefined);
    const v = verifyAttestedCertificate(c.certDer, { at: AT });
    assert.equal(v.verified, false);
    assert.equal(v.binding, 'absent');
    assert.equal(v.format, 'none');
    assert.equal(v.error?.code, E.NO_EVIDENCE);
    const allowed = verifyAttestedCertificate(c.certDer, { at: AT, allowUnattested: true });
    assert.equal(allowed.verified, true);
    assert.equal(allowed.claims, undefined);
  });

  void test('an attester that fails gives RATS_TLS_ERR_ATTESTER', async () => {
    const broken = { tee: 'sim' as const, getEvidence: () => Promise.reject(new Error('socket gone')) };
    await assert.rejects(createAttestedCertificate({ attester: broken }), { code: E.ATTESTER });
    const liar = { tee: 'snp' as const, getEvidence: (rd: Uint8Array) => attester.getEvidence(rd) };
    await assert.rejects(createAttestedCertificate({ attester: liar }), { code: E.ATTESTER });
  });

  void test('a certificate from another platform key: the binding is valid but the evidence is rejected', async () => {
    const other = generateKeyPairSync('ed25519');
    const c = await createAttestedCertificate({ attester: createLocalSimAttester({ platformKey: other.privateKey, now: () => AT }), now: () => AT });
    const v = verifyAttestedCertificate(c.certDer, { at: AT, evidence: trusted });
    assert.equal(v.verified, false);
    assert.equal(v.binding, 'valid');
    assert.equal(v.error?.code, E.EVIDENCE_REJECTED);
    assert.equal(v.evidenceError?.code, 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY');
  });

  for (const keyType of ['p256', 'rsa3072'] as const) {
    void test(`two certificates made with the same ${keyType} key have the same pin, and the pubkey-hash binding still verifies`, async () => {
      const key = keyType === 'p256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 3072 });
      const a = await createAttestedCertificate({ attester, key: key.privateKey, now: () => AT });
      const b = await createAttestedCertificate({ attester, key: key.privateKey, now: () => new Date(AT.getTime() + 1000) });
      assert.notDeepEqual(a.certDer, b.certDer);
      const pin = pinOfSpki(key.publicKey.export({ type: 'spki', format: 'der' }));
      assert.equal(pinOfCertificate(a.certPem), pin);
      assert.equal(pinOfCertificate(b.certDer), pin);
      assert.equal(a.key, key.privateKey);
      for (const c of [a, b]) {
        const v = verifyAttestedCertificate(c.certDer, { at: AT, evidence: trusted });
        assert.equal(v.error, undefined);
        assert.deepEqual([v.verified, v.binding], [true, 'valid']);
      }
    });
  }

  void test('a given key must be a P-256 or RSA-3072 private key matching keyType', async () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await assert.rejects(createAttestedCertificate({ attester, key: p256.privateKey, keyType: 'rsa3072' }), { code: E.INVALID_ARGUMENT, message: /p256, not the rsa3072/ });
    await assert.rejects(createAttestedCertificate({ attester, key: p256.publicKey }), { code: E.INVALID_ARGUMENT });
    await assert.rejects(createAttestedCertificate({ attester, key: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey }), { code: E.INVALID_ARGUMENT });
  });

  void test('createRatsTlsIdentity() with a key presents certificates of that key (renewals included)', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = await createRatsTlsIdentity({ attester, key: key.privateKey, renewBeforeMs: 3_600_000 - 1_500 });
    try {
      const first = id.current().cert;
      // The renewal timer is unref'd: keep the test's event loop alive until it fires.
      const alive = setTimeout(() => undefined, 10_000);
      await new Promise<void>((resolve) => id.onRenew(() => resolve()));
      clearTimeout(alive);
      assert.notEqual(id.current().cert, first);
      for (const cert of [first, id.current().cert]) assert.equal(pinOfCertificate(cert), pinOfSpki(key.publicKey.export({ type: 'spki', format: 'der' })));
    } finally {
      id.close();
    }
  });
});
