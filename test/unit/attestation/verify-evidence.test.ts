/**
 * The evidence registry: detectTee() names the TEE of every shared vector from its header alone, and
 * verifyEvidence() dispatches to the per-TEE verifier, refuses a TEE other than the one asked for, and fails
 * closed on unknown bytes and missing inputs.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { verifySgxQuote } from '../../../src/attestation/sgx/verify.ts';
import { verifySnpReport } from '../../../src/attestation/snp/verify.ts';
import { verifyTdxQuote } from '../../../src/attestation/tdx/verify.ts';
import { detectTee, TEE_TYPES, verifyEvidence } from '../../../src/attestation/verify-evidence.ts';
import { codeOf, loadIntelVectors, VECTORS_ROOT } from '../../support/intel-vectors.ts';
import { loadSnpVectorFiles, snpInputs } from '../../support/snp-vectors.ts';

const intel = await loadIntelVectors();
const snp = loadSnpVectorFiles().map((v) => ({ ...v, bytes: new Uint8Array(readFileSync(v.report)), vcekBytes: snpInputs(v).vcek }));
const platform = generateKeyPairSync('ed25519');
const SIM_AT = new Date('2026-03-01T12:00:00.000Z');
const sim = createSimEvidence({ measurement: new Uint8Array(48), reportData: new Uint8Array(64).fill(9), platformKey: platform.privateKey, at: SIM_AT });
const sgx = intel.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
const tdx = intel.find((v) => v.id === 'tdx-v5-alibaba-90c06f000000-2025')!;
const milan = snp.find((v) => v.id === 'snp-v5-gcp-milan')!;

describe('detectTee()', () => {
  test('names sgx or tdx for every shared Intel quote, by the TEE type of its header', () => {
    for (const v of intel) assert.equal(detectTee(v.quote), v.kind === 'intel-sgx' ? 'sgx' : 'tdx', v.id);
  });

  test('names snp for every shared SEV-SNP report (v2, v3, v5)', () => {
    for (const v of snp) assert.equal(detectTee(v.bytes), 'snp', v.id);
  });

  test('names sgx for the quotes embedded in the RA-TLS vectors', () => {
    for (const id of ['ratls-gramine-interop-sgx', 'ratls-rats-rs-demo-sgx', 'csr-steward-sgx-icelake-xeon']) {
      assert.equal(detectTee(new Uint8Array(readFileSync(join(VECTORS_ROOT, 'ra-tls', id, 'embedded_quote.bin')))), 'sgx', id);
    }
  });

  test('names sim for sim evidence', () => {
    assert.equal(detectTee(sim), 'sim');
  });

  test('returns null for bytes of no known format: empty, collateral, an SNP report of the wrong size or version', () => {
    const badVersion = milan.bytes.slice();
    badVersion[0] = 9;
    for (const bytes of [new Uint8Array(), new Uint8Array(4096), new Uint8Array(readFileSync(join(sgx.dir, 'tcb_info.json'))), milan.bytes.subarray(0, 1183), badVersion]) {
      assert.equal(detectTee(bytes), null);
    }
  });

  test('returns null for a v3 quote header claiming TDX and for an unknown attestation key type', () => {
    const v3tdx = sgx.quote.slice();
    v3tdx[4] = 0x81;
    const p384 = sgx.quote.slice();
    p384[2] = 3;
    assert.equal(detectTee(v3tdx), null);
    assert.equal(detectTee(p384), null);
  });

  test('knows exactly the TEEs sgx, tdx, snp and sim', () => {
    assert.deepEqual([...TEE_TYPES].sort(), ['sgx', 'sim', 'snp', 'tdx']);
  });
});

describe('verifyEvidence()', () => {
  test('returns the same claims as the per-TEE verifier for SGX, TDX and SNP evidence (tee auto)', () => {
    assert.deepEqual(verifyEvidence(sgx.quote, { intelCollateral: sgx.collateral, at: sgx.at! }), verifySgxQuote(sgx.quote, { collateral: sgx.collateral, at: sgx.at! }));
    assert.deepEqual(verifyEvidence(tdx.quote, { tee: 'tdx', intelCollateral: tdx.collateral, at: tdx.at! }), verifyTdxQuote(tdx.quote, { collateral: tdx.collateral, at: tdx.at! }));
    assert.deepEqual(verifyEvidence(milan.bytes, { vcek: milan.vcekBytes, at: milan.at }), verifySnpReport(milan.bytes, { vcek: milan.vcekBytes, at: milan.at }));
  });

  test('verifies sim evidence only with its platform key among simPlatformKeys', () => {
    assert.equal(verifyEvidence(sim, { simPlatformKeys: [platform.publicKey], at: SIM_AT }).tee, 'sim');
    assert.equal(codeOf(() => verifyEvidence(sim, { at: SIM_AT })), 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY');
  });

  test('rejects evidence of another TEE than the one asked for with ATTEST_ERR_TEE_MISMATCH', () => {
    const at = sgx.at!;
    assert.equal(codeOf(() => verifyEvidence(sgx.quote, { tee: 'tdx', intelCollateral: sgx.collateral, at })), 'ATTEST_ERR_TEE_MISMATCH');
    assert.equal(codeOf(() => verifyEvidence(tdx.quote, { tee: 'sgx', intelCollateral: tdx.collateral, at })), 'ATTEST_ERR_TEE_MISMATCH');
    assert.equal(codeOf(() => verifyEvidence(milan.bytes, { tee: 'sim', at })), 'ATTEST_ERR_TEE_MISMATCH');
    assert.equal(codeOf(() => verifyEvidence(sim, { tee: 'snp', vcek: milan.vcekBytes, at })), 'ATTEST_ERR_TEE_MISMATCH');
  });

  test('rejects unknown bytes with ATTEST_ERR_UNKNOWN_TEE, or with the parser error of the TEE asked for', () => {
    assert.equal(codeOf(() => verifyEvidence(new Uint8Array(100), { at: SIM_AT })), 'ATTEST_ERR_UNKNOWN_TEE');
    assert.equal(codeOf(() => verifyEvidence(new Uint8Array(100), { tee: 'snp', vcek: milan.vcekBytes, at: SIM_AT })), 'ATTEST_ERR_MALFORMED');
    assert.equal(codeOf(() => verifyEvidence(new Uint8Array(100), { tee: 'sgx', at: SIM_AT })), 'ATTEST_ERR_UNSUPPORTED_VERSION');
  });

  test('fails closed on missing inputs: no Intel collateral, no VCEK, no time', () => {
    assert.equal(codeOf(() => verifyEvidence(sgx.quote, { at: sgx.at! })), 'ATTEST_ERR_COLLATERAL_MISSING');
    assert.equal(codeOf(() => verifyEvidence(milan.bytes, { at: milan.at })), 'ATTEST_ERR_COLLATERAL_MISSING');
    assert.equal(codeOf(() => verifyEvidence(sgx.quote, { intelCollateral: sgx.collateral } as unknown as { at: Date })), 'ATTEST_ERR_MALFORMED');
    assert.equal(codeOf(() => verifyEvidence(sgx.quote, { tee: 'tpm' as 'sgx', at: sgx.at! })), 'ATTEST_ERR_MALFORMED');
  });

  test('passes trustAnchors to the verifier: the AMD anchors do not make an Intel quote trusted', () => {
    const ark = readFileSync(join(milan.dir, 'cert_chain.pem'), 'utf8');
    assert.equal(codeOf(() => verifyEvidence(sgx.quote, { intelCollateral: sgx.collateral, trustAnchors: [ark], at: sgx.at! })), 'ATTEST_ERR_UNTRUSTED_ROOT');
  });

  test('with rejectDebug refuses a debug enclave with ATTEST_ERR_DEBUG and accepts a production one', () => {
    const debug = intel.find((v) => v.id === 'sgx-v3-trustee-occlum-00606a000000-tcbinfo-v2')!;
    assert.equal(verifyEvidence(debug.quote, { intelCollateral: debug.collateral, at: debug.at! }).debug, true);
    assert.equal(codeOf(() => verifyEvidence(debug.quote, { intelCollateral: debug.collateral, at: debug.at!, rejectDebug: true })), 'ATTEST_ERR_DEBUG');
    assert.equal(verifyEvidence(sgx.quote, { intelCollateral: sgx.collateral, at: sgx.at!, rejectDebug: true }).debug, false);
  });
});
