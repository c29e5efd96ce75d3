/**
 * Tampering with real vectors: a flipped byte in every signed region of the quote and of the collateral,
 * collateral swapped between platforms, a wrong trust anchor, truncation at every length. Each must be
 * rejected with the code that names what broke.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifyIntelQuote } from '../../../src/attestation/intel/verify.ts';
import { parseIntelQuote } from '../../../src/attestation/intel/quote.ts';
import type { IntelCollateral } from '../../../src/attestation/intel/collateral.ts';
import { codeOf, flip, loadIntelVectors, quoteRegions, VECTORS_ROOT, type IntelVector } from '../../support/intel-vectors.ts';

const vectors = await loadIntelVectors();
const verifying = vectors.filter((v) => v.expected.expected_result.verifies === true);

function verifyCode(v: IntelVector, quote: Uint8Array, collateral: IntelCollateral = v.collateral, at = v.at!): string {
  return codeOf(() => verifyIntelQuote(quote, { collateral, at }));
}

/** Changes one character of the signed member body while keeping the JSON valid (a digit of issueDate). */
function tamperMember(doc: string, member: string): string {
  const start = doc.indexOf(`"${member}":`);
  const i = doc.indexOf('"issueDate":"', start) + '"issueDate":"'.length + 3;
  assert.ok(i > start && /[0-9]/.test(doc[i]!));
  return doc.slice(0, i) + (doc[i] === '9' ? '8' : String(Number(doc[i]) + 1)) + doc.slice(i + 1);
}

const QUOTE_REGIONS: [string, string][] = [
  ['header', 'ATTEST_ERR_QUOTE_SIGNATURE'],
  ['body', 'ATTEST_ERR_QUOTE_SIGNATURE'],
  ['quoteSignature', 'ATTEST_ERR_QUOTE_SIGNATURE'],
  ['attestationKey', 'ATTEST_ERR_QE_REPORT_BINDING'],
  ['qeReport', 'ATTEST_ERR_QE_REPORT_SIGNATURE'],
  ['qeReportSignature', 'ATTEST_ERR_QE_REPORT_SIGNATURE'],
  ['qeAuthData', 'ATTEST_ERR_QE_REPORT_BINDING'],
];

for (const v of verifying) {
  void test(`verifyIntelQuote() rejects ${v.id} with a flipped byte in each signed region of the quote`, () => {
    const regions = quoteRegions(v.quote);
    for (const [name, code] of QUOTE_REGIONS) {
      const r = regions[name]!;
      // Header: bytes 0-11 are structural (version, key type, TEE type) and fail earlier; flip QE vendor ID
      // and user data, which only the signature protects.
      const start = name === 'header' ? 12 : r.start;
      for (const off of new Set([start, Math.floor((start + r.end) / 2), r.end - 1])) {
        assert.equal(verifyCode(v, flip(v.quote, off)), code, `${name} byte ${off}`);
      }
    }
  });

  void test(`verifyIntelQuote() rejects ${v.id} whose PCK certificate bytes are altered with ATTEST_ERR_PCK_CHAIN`, () => {
    const q = parseIntelQuote(v.quote);
    const leafB64 = Buffer.from(q.signature.certificationData.certificates![0]!).toString('base64');
    const at = Buffer.from(v.quote).indexOf(Buffer.from(leafB64.slice(400, 440)));
    assert.ok(at > 0);
    const ch = String.fromCharCode(v.quote[at]!);
    const tampered = v.quote.slice();
    tampered[at] = (ch === 'A' ? 'B' : 'A').charCodeAt(0);
    assert.equal(verifyCode(v, tampered), 'ATTEST_ERR_PCK_CHAIN');
  });

  void test(`verifyIntelQuote() rejects ${v.id} with tampered collateral: each signed item with the code that names it`, () => {
    const c = v.collateral;
    const cases: [string, IntelCollateral, string][] = [
      ['tcbInfo body', { ...c, tcbInfo: tamperMember(c.tcbInfo!, 'tcbInfo') }, 'ATTEST_ERR_TCB_INFO_SIGNATURE'],
      ['enclaveIdentity body', { ...c, qeIdentity: tamperMember(c.qeIdentity!, 'enclaveIdentity') }, 'ATTEST_ERR_QE_IDENTITY_SIGNATURE'],
      ['tcbInfo signature', { ...c, tcbInfo: c.tcbInfo!.replace(/"signature":"(.)/, (_m, d: string) => `"signature":"${d === 'a' ? 'b' : 'a'}`) }, 'ATTEST_ERR_TCB_INFO_SIGNATURE'],
      ['TCB Info signed by the PCK CA', { ...c, tcbInfoIssuerChain: c.pckCrlIssuerChain! }, 'ATTEST_ERR_TCB_INFO_SIGNATURE'],
      ['QE Identity signed by the PCK CA', { ...c, qeIdentityIssuerChain: c.pckCrlIssuerChain! }, 'ATTEST_ERR_QE_IDENTITY_SIGNATURE'],
      ['PCK CRL signature', { ...c, pckCrl: flip(c.pckCrl!, c.pckCrl!.length - 3) }, 'ATTEST_ERR_CRL'],
      ['Root CA CRL signature', { ...c, rootCaCrl: flip(c.rootCaCrl!, c.rootCaCrl!.length - 3) }, 'ATTEST_ERR_CRL'],
      ['PCK CRL issued by the other PCK CA', { ...c, pckCrlIssuerChain: c.tcbInfoIssuerChain! }, 'ATTEST_ERR_CRL'],
      ['TCB Info not JSON', { ...c, tcbInfo: c.tcbInfo!.slice(0, -2) }, 'ATTEST_ERR_COLLATERAL_MALFORMED'],
      ['no QE Identity', { ...c, qeIdentity: undefined }, 'ATTEST_ERR_COLLATERAL_MISSING'],
      ['no PCK CRL', { ...c, pckCrl: undefined }, 'ATTEST_ERR_COLLATERAL_MISSING'],
      ['no Root CA CRL', { ...c, rootCaCrl: undefined }, 'ATTEST_ERR_COLLATERAL_MISSING'],
      ['no TCB Info issuer chain', { ...c, tcbInfoIssuerChain: undefined }, 'ATTEST_ERR_COLLATERAL_MISSING'],
    ];
    for (const [what, collateral, code] of cases) assert.equal(verifyCode(v, v.quote, collateral), code, what);
  });

  void test(`verifyIntelQuote() rejects ${v.id} when the trust anchor is not the Intel SGX Root CA`, () => {
    const wrong = readFileSync(join(VECTORS_ROOT, 'roots', 'amd_milan_ask_ark.pem'), 'utf8');
    assert.equal(codeOf(() => verifyIntelQuote(v.quote, { collateral: v.collateral, at: v.at!, trustAnchors: [wrong] })), 'ATTEST_ERR_UNTRUSTED_ROOT');
    const tcbSigner = v.collateral.tcbInfoIssuerChain!.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n';
    assert.equal(codeOf(() => verifyIntelQuote(v.quote, { collateral: v.collateral, at: v.at!, trustAnchors: [tcbSigner] })), 'ATTEST_ERR_UNTRUSTED_ROOT');
  });
}

void test('verifyIntelQuote() accepts the Intel SGX Root CA given explicitly as PEM or DER', () => {
  const v = verifying[0]!;
  const pem = readFileSync(join(VECTORS_ROOT, 'roots', 'intel_sgx_root_ca.pem'), 'utf8');
  const der = new Uint8Array(readFileSync(join(VECTORS_ROOT, 'roots', 'intel_sgx_root_ca.der')));
  for (const trustAnchors of [[pem], [der]]) verifyIntelQuote(v.quote, { collateral: v.collateral, at: v.at!, trustAnchors });
});

// Collateral of another platform (different FMSPC) that is valid at the same time: only the FMSPC differs.
const swaps: [IntelVector, IntelVector, Date][] = [];
for (const a of verifying) {
  for (const b of verifying) {
    if (a === b || a.kind !== b.kind || a.expected.pck_certificate?.fmspc === b.expected.pck_certificate?.fmspc) continue;
    const from = Math.max(a.window!.from.getTime(), b.window!.from.getTime());
    const until = Math.min(a.window!.until.getTime(), b.window!.until.getTime());
    if (from < until && !swaps.some(([x]) => x === a)) swaps.push([a, b, new Date((from + until) / 2)]);
  }
}

void test('the vectors offer collateral swaps between platforms for both SGX and TDX', () => {
  assert.ok(swaps.some(([a]) => a.kind === 'intel-sgx'));
  assert.ok(swaps.some(([a]) => a.kind === 'intel-tdx'));
});

for (const [a, b, at] of swaps) {
  void test(`verifyIntelQuote() rejects ${a.id} with the collateral of ${b.id} (another FMSPC) with ATTEST_ERR_FMSPC_MISMATCH`, () => {
    assert.equal(verifyCode(a, a.quote, b.collateral, at), 'ATTEST_ERR_FMSPC_MISMATCH');
  });
}

void test('verifyIntelQuote() rejects a quote whose PCK CRL is the other PCK CA\'s with ATTEST_ERR_CRL', () => {
  const processor = verifying.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
  const platform = verifying.find((v) => v.id === 'sgx-v3-automata-quotev3-00606a000000-eval17')!;
  const collateral = { ...processor.collateral, pckCrl: platform.collateral.pckCrl!, pckCrlIssuerChain: platform.collateral.pckCrlIssuerChain! };
  assert.equal(verifyCode(processor, processor.quote, collateral, new Date('2025-06-25T00:00:00Z')), 'ATTEST_ERR_CRL');
});

void test('verifyIntelQuote() does not serve a tampered collateral from the cache of the genuine one', () => {
  const v = verifying[0]!;
  verifyIntelQuote(v.quote, { collateral: v.collateral, at: v.at! });
  const tampered = { ...v.collateral, tcbInfo: tamperMember(v.collateral.tcbInfo!, 'tcbInfo') };
  assert.equal(verifyCode(v, v.quote, tampered), 'ATTEST_ERR_TCB_INFO_SIGNATURE');
  verifyIntelQuote(v.quote, { collateral: v.collateral, at: v.at! });
});

void test('verifyIntelQuote() rejects a TCB Info re-serialized with other whitespace (signatures cover the exact bytes)', () => {
  const v = verifying[0]!;
  const doc = JSON.parse(v.collateral.tcbInfo!) as unknown;
  assert.equal(verifyCode(v, v.quote, { ...v.collateral, tcbInfo: JSON.stringify(doc, null, 2) }), 'ATTEST_ERR_TCB_INFO_SIGNATURE');
});

void test('verifyIntelQuote() rejects structural header changes as unsupported', () => {
  const v = verifying[0]!;
  assert.equal(verifyCode(v, flip(v.quote, 0, 0x07)), 'ATTEST_ERR_UNSUPPORTED_VERSION');
  assert.equal(verifyCode(v, flip(v.quote, 2, 0x01)), 'ATTEST_ERR_UNSUPPORTED_VERSION');
  assert.equal(verifyCode(v, flip(v.quote, 4, 0x40)), 'ATTEST_ERR_UNSUPPORTED_VERSION');
});

void test('verifyIntelQuote() requires a valid verification time', () => {
  const v = verifying[0]!;
  assert.equal(codeOf(() => verifyIntelQuote(v.quote, { collateral: v.collateral, at: new Date(NaN) })), 'ATTEST_ERR_MALFORMED');
});

for (const v of vectors) {
  void test(`verifyIntelQuote() rejects ${v.id} truncated at every length with ATTEST_ERR_MALFORMED`, () => {
    const end = v.quote.length - parseIntelQuote(v.quote).trailingBytes;
    const at = v.at ?? new Date('2025-01-01T00:00:00Z');
    for (let len = 0; len < end; len++) {
      assert.equal(codeOf(() => verifyIntelQuote(v.quote.subarray(0, len), { collateral: v.collateral, at })), 'ATTEST_ERR_MALFORMED', `length ${len}`);
    }
  });
}
