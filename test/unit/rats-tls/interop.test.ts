/**
 * The real RA-TLS certificates of test/vectors/ra-tls (Gramine, Intel SGX SDK, rats-rs): parse, check the
 * binding against expected.json, verify the quote with collateral of the same FMSPC at a time inside its window.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadIntelCollateral } from '../../../src/collateral/intel-dir.ts';
import { type IntelCollateral } from '../../../src/attestation/intel/collateral.ts';
import { RATS_TLS_ERROR_CODES as E } from '../../../src/rats-tls/codes.ts';
import { TAG_INTEL_QUOTE } from '../../../src/rats-tls/format.ts';
import { parseAttestedCertificate } from '../../../src/rats-tls/parse.ts';
import { verifyAttestedCertificate } from '../../../src/rats-tls/verify.ts';
import { VECTORS_ROOT } from '../../support/vectors.ts';

const VECTORS = VECTORS_ROOT;
const RA_TLS = join(VECTORS, 'ra-tls');
/** Collateral for FMSPC 00606a000000 (Gramine, rats-rs): MANIFEST "embedded_quote_tcb_with_collateral_from_other_vectors". */
const EVAL17 = join(VECTORS, 'intel-sgx', 'sgx-v3-automata-quotev3-00606a000000-eval17');
const EVAL17_AT = new Date('2025-06-27T23:08:42Z');
const OCCLUM = join(VECTORS, 'intel-sgx', 'sgx-v3-trustee-occlum-00606a000000-tcbinfo-v2');
const OCCLUM_AT = new Date('2025-02-28T03:35:00Z');

interface Expected {
  certificate: { spki_sha256: string };
  'tcg_dice_evidence_2.23.133.5.4.9': { cbor_tag: number; pubkey_hash_entry: { hash_alg_id: number; hash_value: string }; quote: { reportdata: string; mrenclave: string } };
  raw_quote_extension?: { reportdata_first32_equals_sha256_of_cert_spki_der: boolean; quote: { reportdata: string } };
  embedded_quote_tcb_with_collateral_from_other_vectors?: Record<string, { tcb_status: string; advisory_ids: string[] }>;
}

const CERTS = {
  'ratls-gramine-interop-sgx': 'gramine-cert.pem',
  'ratls-intel-sgxsdk-interop-sgx': 'intel-sgxsdk-cert.pem',
  'ratls-rats-rs-demo-sgx': 'demo-sgx-cert.pem',
} as const;

const pem = (id: keyof typeof CERTS) => readFileSync(join(RA_TLS, id, CERTS[id]), 'latin1');
const expected = (id: keyof typeof CERTS) => JSON.parse(readFileSync(join(RA_TLS, id, 'expected.json'), 'utf8')) as Expected;
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex');

let eval17: IntelCollateral;
let occlum: IntelCollateral;

void describe('real RA-TLS certificates', async () => {
  eval17 = await loadIntelCollateral(EVAL17);
  occlum = await loadIntelCollateral(OCCLUM);

  for (const id of Object.keys(CERTS) as (keyof typeof CERTS)[]) {
    void test(`${id}: parses as DICE with tag 60000 and the pubkey-hash of expected.json`, () => {
      const e = expected(id);
      const c = parseAttestedCertificate(pem(id));
      const dice = e['tcg_dice_evidence_2.23.133.5.4.9'];
      assert.equal(c.format, 'dice');
      assert.equal(c.tag, TAG_INTEL_QUOTE);
      assert.equal(c.tag, dice.cbor_tag);
      assert.equal(c.critical, false);
      assert.equal(c.claims?.pubkeyHash.algorithmId, dice.pubkey_hash_entry.hash_alg_id);
      assert.equal(hex(c.claims?.pubkeyHash.hash), dice.pubkey_hash_entry.hash_value);
      assert.equal(hex(c.evidence), readFileSync(join(RA_TLS, id, 'embedded_quote.bin')).toString('hex'));
      // PEM and DER give the same certificate.
      assert.deepEqual(parseAttestedCertificate(c.der).claimsBytes, c.claimsBytes);
    });

    void test(`${id}: the binding is valid even without collateral (the quote then lacks TCB data)`, () => {
      const v = verifyAttestedCertificate(pem(id), { at: EVAL17_AT, checkValidityPeriod: false });
      assert.equal(v.binding, 'valid');
      assert.equal(v.verified, false);
      assert.equal(v.evidenceError?.code, 'ATTEST_ERR_COLLATERAL_MISSING');
    });
  }

  for (const id of ['ratls-gramine-interop-sgx', 'ratls-rats-rs-demo-sgx'] as const) {
    for (const [name, dir, at] of [
      ['eval17', EVAL17, EVAL17_AT],
      ['occlum', OCCLUM, OCCLUM_AT],
    ] as const) {
      void test(`${id}: verifies with the ${name} collateral (FMSPC 00606a000000) with the TCB status of expected.json`, () => {
        const collateral = name === 'eval17' ? eval17 : occlum;
        // rats-rs issued a one-minute certificate in April 2024; the collateral is from 2025.
        const v = verifyAttestedCertificate(pem(id), { at, evidence: { intelCollateral: collateral }, checkValidityPeriod: id !== 'ratls-rats-rs-demo-sgx' });
        assert.equal(v.error, undefined);
        assert.equal(v.verified, true);
        assert.equal(v.binding, 'valid');
        assert.equal(v.claims?.tee, 'sgx');
        const key = Object.keys(expected(id).embedded_quote_tcb_with_collateral_from_other_vectors!).find((k) => k.includes(dir.split('/').pop()!))!;
        const want = expected(id).embedded_quote_tcb_with_collateral_from_other_vectors![key]!;
        assert.equal(v.claims?.tcbStatus, want.tcb_status);
        assert.deepEqual([...(v.claims?.advisoryIds ?? [])].sort(), [...want.advisory_ids].sort());
        assert.equal(v.claims?.measurements.mrenclave, expected(id)['tcg_dice_evidence_2.23.133.5.4.9'].quote.mrenclave);
      });
    }
  }

  void test('ratls-rats-rs-demo-sgx: its one-minute validity period is enforced by default', () => {
    const v = verifyAttestedCertificate(pem('ratls-rats-rs-demo-sgx'), { at: EVAL17_AT, evidence: { intelCollateral: eval17 } });
    assert.equal(v.error?.code, E.CERT_NOT_VALID);
  });

  void test("ratls-gramine-interop-sgx: the legacy extension under Gramine's malformed OID 0.6.9.42.840.113741.1337.6 binds SHA-256(SPKI) and verifies", () => {
    const e = expected('ratls-gramine-interop-sgx');
    const c = parseAttestedCertificate(pem('ratls-gramine-interop-sgx'), { prefer: 'legacy' });
    assert.equal(c.format, 'legacy');
    assert.equal(c.oid, '0.6.9.42.840.113741.1337.6');
    assert.equal(hex(c.evidence), readFileSync(join(RA_TLS, 'ratls-gramine-interop-sgx', 'embedded_legacy_quote.bin')).toString('hex'));
    const v = verifyAttestedCertificate(c, { at: EVAL17_AT, evidence: { intelCollateral: eval17 } });
    assert.equal(v.error, undefined);
    assert.equal(v.binding, 'valid');
    assert.equal(v.claims?.reportData, e.raw_quote_extension!.quote.reportdata);
    assert.equal(v.claims?.reportData.slice(0, 64), e.certificate.spki_sha256);
  });

  void test('ratls-intel-sgxsdk-interop-sgx: no shared collateral has its FMSPC 00706a100000, so the quote cannot be fully verified', () => {
    const v = verifyAttestedCertificate(pem('ratls-intel-sgxsdk-interop-sgx'), { at: EVAL17_AT, evidence: { intelCollateral: eval17 } });
    assert.equal(v.binding, 'valid');
    assert.equal(v.verified, false);
    assert.equal(v.evidenceError?.code, 'ATTEST_ERR_FMSPC_MISMATCH');
  });
});
