/**
 * Revocation and TCB-status rules, provoked through the test PKI (see test/support/intel-vectors.ts): the real
 * vectors re-issued with our own keys, so we can honestly list the PCK certificate on a CRL or re-sign a TCB
 * Info / QE Identity with one field changed. Each case has the same positive control.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyIntelQuote } from '../../../src/attestation/intel/verify.ts';
import type { IntelCollateral } from '../../../src/attestation/intel/collateral.ts';
import { buildTestPki, codeOf, loadIntelVectors, type IntelVector } from '../../support/intel-vectors.ts';

const vectors = await loadIntelVectors();
const sgx = vectors.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
const tdx = vectors.find((v) => v.id === 'tdx-v4-dcapqvl-b0c06f000000')!;

function run(v: IntelVector, pki: ReturnType<typeof buildTestPki>, collateral: IntelCollateral, quote = pki.quote) {
  return verifyIntelQuote(quote, { collateral, trustAnchors: pki.trustAnchors, at: v.at! });
}

for (const v of [sgx, tdx]) {
  const pki = buildTestPki(v);

  void test(`verifyIntelQuote() accepts ${v.id} re-issued under the test PKI with a CRL listing other serials`, () => {
    const claims = run(v, pki, pki.collateralWith({ pckRevoked: ['1234'], rootRevoked: ['5678'] }));
    assert.equal(claims.tcbStatus, v.expected.expected_result.tcb_status);
  });

  void test(`verifyIntelQuote() rejects ${v.id} whose PCK certificate serial is on the PCK CRL with ATTEST_ERR_REVOKED`, () => {
    assert.equal(codeOf(() => run(v, pki, pki.collateralWith({ pckRevoked: ['1234', pki.serials.pck] }))), 'ATTEST_ERR_REVOKED');
  });

  void test(`verifyIntelQuote() rejects ${v.id} whose PCK CA is on the Root CA CRL with ATTEST_ERR_REVOKED`, () => {
    assert.equal(codeOf(() => run(v, pki, pki.collateralWith({ rootRevoked: [pki.serials.pckCa] }))), 'ATTEST_ERR_REVOKED');
  });

  void test(`verifyIntelQuote() rejects ${v.id} whose TCB Signing certificate is on the Root CA CRL with ATTEST_ERR_REVOKED`, () => {
    assert.equal(codeOf(() => run(v, pki, pki.collateralWith({ rootRevoked: [pki.serials.tcbSigner] }))), 'ATTEST_ERR_REVOKED');
  });

  const tcbCases: [string, Parameters<typeof pki.collateralWith>[0], string][] = [
    ['a TCB Info for another FMSPC', { tcbInfoBody: (b) => b.replace(/"fmspc":"[0-9a-fA-F]{12}"/, '"fmspc":"00000000ffff"') }, 'ATTEST_ERR_FMSPC_MISMATCH'],
    ['a TCB Info for another PCE-ID', { tcbInfoBody: (b) => b.replace(/"pceId":"0000"/, '"pceId":"0001"') }, 'ATTEST_ERR_TCB_INFO_MISMATCH'],
    ['a TCB Info whose levels all need a higher PCESVN', { tcbInfoBody: (b) => b.replace(/"pcesvn":\d+/g, '"pcesvn":99') }, 'ATTEST_ERR_NO_TCB_LEVEL'],
    ['a TCB Info whose matching level is Revoked', { tcbInfoBody: (b) => b.replace(/"tcbStatus":"[A-Za-z]+"/g, '"tcbStatus":"Revoked"') }, 'ATTEST_ERR_REVOKED'],
    ['a QE Identity with another MRSIGNER', { qeIdentityBody: (b) => b.replace(/"mrsigner":"[0-9A-Fa-f]{2}/, '"mrsigner":"00') }, 'ATTEST_ERR_QE_IDENTITY_MISMATCH'],
    ['a QE Identity with another ISVPRODID', { qeIdentityBody: (b) => b.replace(/"isvprodid":\d+/, '"isvprodid":77') }, 'ATTEST_ERR_QE_IDENTITY_MISMATCH'],
    ['a QE Identity whose levels all need a newer QE (Revoked)', { qeIdentityBody: (b) => b.replace(/"isvsvn":\d+/g, '"isvsvn":200') }, 'ATTEST_ERR_REVOKED'],
    ['a QE Identity for the other TEE', { qeIdentityBody: (b) => b.replace(/"id":"(QE|TD_QE)"/, (_m, id: string) => `"id":"${id === 'QE' ? 'TD_QE' : 'QE'}"`) }, 'ATTEST_ERR_QE_IDENTITY_MISMATCH'],
  ];
  for (const [what, change, code] of tcbCases) {
    void test(`verifyIntelQuote() rejects ${v.id} with ${what} with ${code}`, () => {
      assert.equal(codeOf(() => run(v, pki, pki.collateralWith(change))), code);
    });
  }

  void test(`verifyIntelQuote() converges the status of ${v.id} with an OutOfDate QE (Intel QVL rule)`, () => {
    const collateral = pki.collateralWith({ qeIdentityBody: (b) => b.replace(/"tcbStatus":"UpToDate"/g, '"tcbStatus":"OutOfDate"') });
    const claims = run(v, pki, collateral);
    const expected = { UpToDate: 'OutOfDate', ConfigurationAndSWHardeningNeeded: 'OutOfDateConfigurationNeeded' }[v.expected.expected_result.tcb_status as string];
    assert.equal(claims.tcbStatus, expected);
    assert.equal(claims.extra.qeTcbStatus, 'OutOfDate');
  });

  void test(`verifyIntelQuote() reports the debug bit of ${v.id} when the enclave or TD is a debug one`, () => {
    const body = v.kind === 'intel-sgx' ? 48 + 48 : 48 + 120;
    const bit = v.kind === 'intel-sgx' ? 0x02 : 0x01;
    const quote = pki.quoteWith({ signedBytes: (b) => ((b[body] = b[body]! | bit), b) });
    assert.equal(run(v, pki, pki.collateral, quote).debug, true);
    assert.equal(run(v, pki, pki.collateral).debug, false);
  });
}

const tdxPki = buildTestPki(tdx);
const tdxCases: [string, (b: string) => string, string | { status: string }][] = [
  ['its TDX module identity TDX_01 missing from the TCB Info', (b) => b.replace('"id":"TDX_01"', '"id":"TDX_7F"'), 'ATTEST_ERR_TDX_MODULE'],
  ['another TDX module signer', (b) => b.replace(/("id":"TDX_01","mrsigner":")0/, '$11'), 'ATTEST_ERR_TDX_MODULE'],
  ['TDX module levels that need a newer module', (b) => b.replace(/"isvsvn":\d+/g, '"isvsvn":250'), 'ATTEST_ERR_NO_TCB_LEVEL'],
  ['an OutOfDate TDX module level', (b) => b.replace(/("tcb":\{"isvsvn":\d+\},"tcbDate":"[^"]+","tcbStatus":)"UpToDate"/g, '$1"OutOfDate"'), { status: 'OutOfDate' }],
  ['an SGX TCB Info', (b) => b.replace('"id":"TDX"', '"id":"SGX"'), 'ATTEST_ERR_TCB_INFO_MISMATCH'],
];
for (const [what, change, outcome] of tdxCases) {
  const label = typeof outcome === 'string' ? `rejects it with ${outcome}` : `converges to ${outcome.status}`;
  void test(`verifyTdxQuote() given ${what} ${label}`, () => {
    const collateral = tdxPki.collateralWith({ tcbInfoBody: change });
    if (typeof outcome === 'string') assert.equal(codeOf(() => run(tdx, tdxPki, collateral)), outcome);
    else assert.equal(run(tdx, tdxPki, collateral).tcbStatus, outcome.status);
  });
}
