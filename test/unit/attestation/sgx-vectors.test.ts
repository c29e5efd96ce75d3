/**
 * Every intel-sgx vector gives exactly its expected.json result with verifySgxQuote(): verdict or error code,
 * TCB status, advisory IDs, key claims, validity window; and ATTEST_ERR_COLLATERAL_EXPIRED outside it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifySgxQuote } from '../../../src/attestation/sgx/verify.ts';
import { codeOf, defineVectorTests, loadIntelVectors } from '../../support/intel-vectors.ts';

await defineVectorTests('intel-sgx', 'verifySgxQuote', verifySgxQuote);

void test('verifySgxQuote() rejects a TDX quote with ATTEST_ERR_TEE_MISMATCH', async () => {
  const v = (await loadIntelVectors()).find((x) => x.kind === 'intel-tdx')!;
  assert.equal(codeOf(() => verifySgxQuote(v.quote, { collateral: v.collateral, at: v.at! })), 'ATTEST_ERR_TEE_MISMATCH');
});
