/**
 * Every intel-tdx vector gives exactly its expected.json result with verifyTdxQuote(): verdict or error code,
 * TCB status (platform, TDX module and QE converged), advisory IDs, key claims, validity window; and
 * ATTEST_ERR_COLLATERAL_EXPIRED outside it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyTdxQuote } from '../../../src/attestation/tdx/verify.ts';
import { verifyIntelQuote } from '../../../src/attestation/intel/verify.ts';
import { codeOf, defineVectorTests, loadIntelVectors } from '../../support/intel-vectors.ts';

await defineVectorTests('intel-tdx', 'verifyTdxQuote', verifyTdxQuote);

void test('verifyTdxQuote() rejects an SGX quote with ATTEST_ERR_TEE_MISMATCH', async () => {
  const v = (await loadIntelVectors()).find((x) => x.kind === 'intel-sgx')!;
  assert.equal(codeOf(() => verifyTdxQuote(v.quote, { collateral: v.collateral, at: v.at! })), 'ATTEST_ERR_TEE_MISMATCH');
});

void test('verifyIntelQuote() gives the same claims as the TEE-specific verifier for every verifying vector', async () => {
  for (const v of await loadIntelVectors()) {
    if (v.expected.expected_result.verifies !== true) continue;
    const generic = verifyIntelQuote(v.quote, { collateral: v.collateral, at: v.at! });
    assert.equal(generic.tee, v.kind === 'intel-sgx' ? 'sgx' : 'tdx');
    if (v.kind === 'intel-tdx') assert.deepEqual(generic, verifyTdxQuote(v.quote, { collateral: v.collateral, at: v.at! }));
  }
});
