/**
 * Tests of the shared Intel DCAP fixtures (test/support/intel-vectors.ts): the vector set is complete, and a
 * vector re-issued under the test PKI verifies exactly like the original.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyIntelQuote } from '../../../src/attestation/intel/verify.ts';
import { buildTestPki, codeOf, loadIntelVectors } from '../../support/intel-vectors.ts';

void test('the shared vectors hold 8 SGX and 16 TDX Intel vectors', async () => {
  const vectors = await loadIntelVectors();
  assert.equal(vectors.filter((v) => v.kind === 'intel-sgx').length, 8);
  assert.equal(vectors.filter((v) => v.kind === 'intel-tdx').length, 16);
});

void test('a vector re-issued under the test PKI verifies exactly like the original', async () => {
  for (const id of ['sgx-v3-dcapqvl-00a067110000', 'tdx-v4-dcapqvl-b0c06f000000', 'tdx-v5-alibaba-90c06f000000-2025']) {
    const v = (await loadIntelVectors()).find((x) => x.id === id)!;
    const pki = buildTestPki(v);
    const real = verifyIntelQuote(v.quote, { collateral: v.collateral, at: v.at! });
    const fake = verifyIntelQuote(pki.quote, { collateral: pki.collateral, trustAnchors: pki.trustAnchors, at: v.at! });
    assert.deepEqual({ ...fake, extra: {} }, { ...real, extra: {} });
  }
});

void test('a quote re-issued under the test PKI is rejected with the Intel root as the only anchor', async () => {
  const v = (await loadIntelVectors()).find((x) => x.id === 'sgx-v3-dcapqvl-00a067110000')!;
  const pki = buildTestPki(v);
  assert.equal(codeOf(() => verifyIntelQuote(pki.quote, { collateral: pki.collateral, at: v.at! })), 'ATTEST_ERR_UNTRUSTED_ROOT');
});
