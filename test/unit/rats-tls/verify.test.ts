/** verifyAttestedCertificate() on certificates with one defect each: every one is rejected, with the binding reported. */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { encode } from 'cborg';
import { encodeClaims } from '../../../src/rats-tls/cbor.ts';
import { RATS_TLS_ERROR_CODES as E } from '../../../src/rats-tls/codes.ts';
import { OID_DICE_EVIDENCE, TAG_INTEL_QUOTE } from '../../../src/rats-tls/format.ts';
import { verifyAttestedCertificate, type VerifyAttestedCertificateOptions } from '../../../src/rats-tls/verify.ts';
import { buildExtension } from '../../../src/x509/certificate.ts';
import { AT, claimsFor, diceValue, forge, PLATFORM, spkiDer } from './forge.ts';

const OPTIONS: VerifyAttestedCertificateOptions = { at: AT, evidence: { simPlatformKeys: [PLATFORM.publicKey] } };
const newKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

void describe('verifyAttestedCertificate() negatives', () => {
  void test('a correct forged certificate verifies (the baseline of the cases below)', () => {
    const v = verifyAttestedCertificate(forge().der, OPTIONS);
    assert.equal(v.error, undefined);
    assert.equal(v.verified, true);
  });

  void test('rejects a certificate whose pubkey-hash is the hash of another key', () => {
    const v = verifyAttestedCertificate(forge({ claimsBytes: claimsFor(newKey()) }).der, OPTIONS);
    assert.equal(v.verified, false);
    assert.equal(v.binding, 'invalid');
    assert.equal(v.error?.code, E.PUBKEY_HASH_MISMATCH);
    assert.equal(v.claims, undefined);
    assert.equal(v.evidenceClaims?.tee, 'sim', 'the evidence itself still verifies');
  });

  void test('rejects evidence copied from a certificate of another key', () => {
    const a = forge();
    const value = diceValue({}, a.key);
    const b = forge({ extensions: [buildExtension(OID_DICE_EVIDENCE, false, value)] });
    const v = verifyAttestedCertificate(b.der, OPTIONS);
    assert.equal(v.binding, 'invalid');
    assert.equal(v.error?.code, E.PUBKEY_HASH_MISMATCH);
  });

  void test('rejects evidence whose report_data commits to other claims', () => {
    const key = newKey();
    const v = verifyAttestedCertificate(forge({ key, reportDataClaims: claimsFor(key, { nonce: Uint8Array.of(1) }) }).der, OPTIONS);
    assert.equal(v.binding, 'invalid');
    assert.equal(v.error?.code, E.REPORT_DATA_MISMATCH);
  });

  void test('rejects report_data whose padding is not zero', () => {
    const key = newKey();
    const claims = claimsFor(key);
    const reportData = new Uint8Array(64).fill(1);
    reportData.set(createHash('sha256').update(claims).digest());
    const v = verifyAttestedCertificate(forge({ key, claimsBytes: claims, reportData }).der, OPTIONS);
    assert.equal(v.error?.code, E.REPORT_DATA_MISMATCH);
  });

  void test('rejects a pubkey-hash with a hash algorithm id other than 1, 7, 8', () => {
    const key = newKey();
    const hash = createHash('sha256').update(spkiDer(key)).digest();
    const claims = encode(new Map([['pubkey-hash', encode([2, new Uint8Array(hash)])]]));
    const v = verifyAttestedCertificate(forge({ key, claimsBytes: claims }).der, OPTIONS);
    assert.equal(v.error?.code, E.UNSUPPORTED_HASH);
  });

  void test('accepts pubkey-hash with sha-384 and sha-512 ids', () => {
    for (const [algorithm, node] of [['sha-384', 'sha384'], ['sha-512', 'sha512']] as const) {
      const key = newKey();
      const claims = encodeClaims({ pubkeyHash: { algorithm, hash: new Uint8Array(createHash(node).update(spkiDer(key)).digest()) } });
      assert.equal(verifyAttestedCertificate(forge({ key, claimsBytes: claims }).der, OPTIONS).verified, true, algorithm);
    }
  });

  void test('rejects a critical evidence extension', () => {
    const v = verifyAttestedCertificate(forge({ critical: true }).der, OPTIONS);
    assert.equal(v.verified, false);
    assert.equal(v.error?.code, E.CRITICAL_EXTENSION);
  });

  void test('rejects sim evidence older than its maximum age at `at`, and still reports the binding', () => {
    const v = verifyAttestedCertificate(forge({ evidenceAt: new Date(AT.getTime() - 10 * 60_000) }).der, OPTIONS);
    assert.equal(v.verified, false);
    assert.equal(v.binding, 'valid');
    assert.equal(v.error?.code, E.EVIDENCE_REJECTED);
    assert.equal(v.evidenceError?.code, 'ATTEST_ERR_COLLATERAL_EXPIRED');
  });

  void test('rejects a certificate outside its validity period at `at`, unless told to ignore it', () => {
    const der = forge({ notAfter: new Date(AT.getTime() - 1000), notBefore: new Date(AT.getTime() - 60_000) }).der;
    assert.equal(verifyAttestedCertificate(der, OPTIONS).error?.code, E.CERT_NOT_VALID);
    assert.equal(verifyAttestedCertificate(der, { ...OPTIONS, checkValidityPeriod: false }).verified, true);
  });

  void test('rejects a certificate whose self-signature does not verify', () => {
    const der = Uint8Array.from(forge().der);
    der[der.length - 5]! ^= 0x01;
    assert.equal(verifyAttestedCertificate(der, OPTIONS).error?.code, E.BAD_SIGNATURE);
  });

  void test('rejects sim evidence under the Intel quote tag', () => {
    const v = verifyAttestedCertificate(forge({ tag: TAG_INTEL_QUOTE }).der, OPTIONS);
    assert.equal(v.error?.code, E.TEE_MISMATCH);
    assert.equal(v.binding, 'invalid');
  });

  void test('rejects a certificate without evidence unless unattested peers are allowed', () => {
    const { der } = forge({ extensions: [] });
    assert.equal(verifyAttestedCertificate(der, OPTIONS).error?.code, E.NO_EVIDENCE);
    assert.equal(verifyAttestedCertificate(der, { ...OPTIONS, allowUnattested: true }).verified, true);
  });

  void test('reports unparsable bytes and a bad `at` as errors, without throwing', () => {
    assert.equal(verifyAttestedCertificate(Uint8Array.of(1, 2, 3), OPTIONS).error?.code, E.MALFORMED);
    assert.equal(verifyAttestedCertificate(forge().der, { at: new Date(Number.NaN) }).error?.code, E.INVALID_ARGUMENT);
  });
});
