/**
 * The caches of the DCAP hot path (docs/benchmarks.md, issue #11 item 8) never turn a changed input into a
 * pass: each case first verifies the genuine quote (so every cache holds its verdict), then changes exactly
 * one input — a byte of the quote, the time, the collateral (a new object, or the same object changed in
 * place), the trust anchors — and expects the same rejection as without any cache; then the genuine input
 * verifies again (a failure does not poison the caches either).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IntelCollateral } from '../../../src/attestation/intel/collateral.ts';
import { parseIntelQuote } from '../../../src/attestation/intel/quote.ts';
import { verifyIntelQuote } from '../../../src/attestation/intel/verify.ts';
import { buildTestPki, codeOf, flip, loadIntelVectors, quoteRegions, type IntelVector } from '../../support/intel-vectors.ts';

const vectors = await loadIntelVectors();
const verifying = vectors.filter((v) => v.expected.expected_result.verifies === true);

/** A private copy of a vector's collateral (the loaded vectors are shared by every test of the process). */
function copyOf(c: IntelCollateral): IntelCollateral {
  return { ...c, pckCrl: c.pckCrl!.slice(), rootCaCrl: c.rootCaCrl!.slice() };
}

function accepts(v: IntelVector, quote: Uint8Array, collateral: IntelCollateral, at = v.at!): void {
  assert.equal(verifyIntelQuote(quote, { collateral, at }).tcbStatus, v.expected.expected_result.tcb_status);
}

function rejects(quote: Uint8Array, collateral: IntelCollateral, at: Date): string {
  return codeOf(() => verifyIntelQuote(quote, { collateral, at }));
}

/** Offset of a base64 character inside the PEM of the PCK certificate (the leaf of the quote's chain). */
function pckCertCharOffset(quote: Uint8Array): number {
  const leafB64 = Buffer.from(parseIntelQuote(quote).signature.certificationData.certificates![0]!).toString('base64');
  const at = Buffer.from(quote).indexOf(Buffer.from(leafB64.slice(400, 440)));
  assert.ok(at > 0);
  return at;
}

for (const v of verifying) {
  void test(`verifyIntelQuote() after a cached success on ${v.id} still rejects each changed byte of the quote`, () => {
    const collateral = copyOf(v.collateral);
    const regions = quoteRegions(v.quote);
    const cases: [string, Uint8Array, string][] = [
      ['QE report', flip(v.quote, regions.qeReport!.start + 100), 'ATTEST_ERR_QE_REPORT_SIGNATURE'],
      ['QE report signature', flip(v.quote, regions.qeReportSignature!.start + 5), 'ATTEST_ERR_QE_REPORT_SIGNATURE'],
      ['QE auth data', flip(v.quote, regions.qeAuthData!.end - 1), 'ATTEST_ERR_QE_REPORT_BINDING'],
      ['attestation key', flip(v.quote, regions.attestationKey!.start + 10), 'ATTEST_ERR_QE_REPORT_BINDING'],
      ['quote signature', flip(v.quote, regions.quoteSignature!.end - 1), 'ATTEST_ERR_QUOTE_SIGNATURE'],
      ['report body', flip(v.quote, regions.body!.end - 1), 'ATTEST_ERR_QUOTE_SIGNATURE'],
      ['header user data', flip(v.quote, 47), 'ATTEST_ERR_QUOTE_SIGNATURE'],
    ];
    const pckAt = pckCertCharOffset(v.quote);
    const pck = v.quote.slice();
    pck[pckAt] = (pck[pckAt] === 0x41 ? 0x42 : 0x41);
    cases.push(['PCK certificate', pck, 'ATTEST_ERR_PCK_CHAIN']);
    for (const [what, quote, code] of cases) {
      accepts(v, v.quote, collateral);
      assert.equal(rejects(quote, collateral, v.at!), code, what);
      // Twice: the rejection itself is not cached into an acceptance either.
      assert.equal(rejects(quote, collateral, v.at!), code, `${what}, again`);
    }
    accepts(v, v.quote, collateral);
  });

  void test(`verifyIntelQuote() after a cached success on ${v.id} rejects a time outside the validity window`, () => {
    const collateral = copyOf(v.collateral);
    accepts(v, v.quote, collateral);
    const { from, until } = v.window!;
    accepts(v, v.quote, collateral, from);
    accepts(v, v.quote, collateral, until);
    assert.equal(rejects(v.quote, collateral, new Date(until.getTime() + 1)), 'ATTEST_ERR_COLLATERAL_EXPIRED');
    assert.equal(rejects(v.quote, collateral, new Date(from.getTime() - 1)), 'ATTEST_ERR_COLLATERAL_EXPIRED');
    accepts(v, v.quote, collateral);
  });
}

const sgx = verifying.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
const tdx = verifying.find((v) => v.id === 'tdx-v4-dcapqvl-b0c06f000000')!;

for (const v of [sgx, tdx]) {
  void test(`verifyIntelQuote() after a cached success on ${v.id} sees collateral changed in place`, () => {
    const collateral = copyOf(v.collateral);
    accepts(v, v.quote, collateral);
    // The same object, a byte of its PCK CRL's signature overwritten in the caller's buffer.
    const crl = collateral.pckCrl!;
    crl[crl.length - 3] = crl[crl.length - 3]! ^ 1;
    assert.equal(rejects(v.quote, collateral, v.at!), 'ATTEST_ERR_CRL');
    crl[crl.length - 3] = crl[crl.length - 3]! ^ 1;
    accepts(v, v.quote, collateral);
    // The same object, its TCB Info replaced by a re-serialization (other bytes, same JSON).
    const genuine = collateral.tcbInfo!;
    collateral.tcbInfo = JSON.stringify(JSON.parse(genuine), null, 1);
    assert.equal(rejects(v.quote, collateral, v.at!), 'ATTEST_ERR_TCB_INFO_SIGNATURE');
    collateral.tcbInfo = genuine;
    accepts(v, v.quote, collateral);
    // An item removed from the same object.
    delete collateral.qeIdentity;
    assert.equal(rejects(v.quote, collateral, v.at!), 'ATTEST_ERR_COLLATERAL_MISSING');
  });

  void test(`verifyIntelQuote() after a cached success on ${v.id} under the test PKI sees revocations in new CRLs`, () => {
    const pki = buildTestPki(v);
    const run = (collateral: IntelCollateral, quote = pki.quote) => verifyIntelQuote(quote, { collateral, trustAnchors: pki.trustAnchors, at: v.at! });
    const collateral = pki.collateralWith({});
    assert.equal(run(collateral).tcbStatus, v.expected.expected_result.tcb_status);
    assert.equal(codeOf(() => run(pki.collateralWith({ pckRevoked: [pki.serials.pck] }))), 'ATTEST_ERR_REVOKED');
    assert.equal(codeOf(() => run(pki.collateralWith({ rootRevoked: [pki.serials.pckCa] }))), 'ATTEST_ERR_REVOKED');
    // The same collateral object, its PCK CRL swapped for one that lists the PCK certificate.
    collateral.pckCrl = pki.collateralWith({ pckRevoked: [pki.serials.pck] }).pckCrl!;
    assert.equal(codeOf(() => run(collateral)), 'ATTEST_ERR_REVOKED');
    // The genuine quote's chain under the real Intel root is not trusted under the test root, cached or not.
    accepts(v, v.quote, v.collateral);
    assert.equal(codeOf(() => verifyIntelQuote(v.quote, { collateral: v.collateral, trustAnchors: pki.trustAnchors, at: v.at! })), 'ATTEST_ERR_UNTRUSTED_ROOT');
  });
}

void test('verifyTdxQuote() does not reuse a cached TCB evaluation for a TD with other TEE_TCB_SVNs', () => {
  const pki = buildTestPki(tdx);
  const run = (quote: Uint8Array) => verifyIntelQuote(quote, { collateral: pki.collateral, trustAnchors: pki.trustAnchors, at: tdx.at! });
  const genuine = run(pki.quote);
  assert.equal(genuine.tcbStatus, tdx.expected.expected_result.tcb_status);
  // The TDX module's major version (TEE_TCB_SVN[1]) names another module identity, absent from the TCB Info.
  const otherModule = pki.quoteWith({ signedBytes: (b) => ((b[48 + 1] = 0x7f), b) });
  assert.equal(codeOf(() => run(otherModule)), 'ATTEST_ERR_TDX_MODULE');
  // Every TDX component SVN at zero: no TCB level is met.
  const oldTd = pki.quoteWith({ signedBytes: (b) => (b.fill(0, 48 + 2, 48 + 16), b) });
  assert.equal(codeOf(() => run(oldTd)), 'ATTEST_ERR_NO_TCB_LEVEL');
  assert.deepEqual(run(pki.quote), genuine);
});

void test('parseIntelQuote() copies what it reads: a parsed quote does not change when the caller overwrites its Buffer', () => {
  const v = tdx;
  const buf = Buffer.from(v.quote);
  const q = parseIntelQuote(buf);
  const snapshot = structuredClone(q);
  buf.fill(0xee);
  assert.deepEqual(q, snapshot);
  // And the verifier's caches, filled from a Buffer that is then overwritten, still hold the genuine verdict.
  const collateral = copyOf(v.collateral);
  const quote = Buffer.from(v.quote);
  accepts(v, quote, collateral);
  quote.fill(0xee);
  accepts(v, v.quote, collateral);
});
