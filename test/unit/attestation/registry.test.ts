/**
 * The TEE registry (issue #11 item 2): one scheme per TEE with the same files and the same entry
 * {detect, reportData, cborTag, verify, dump}, listed once; verifyEvidence() takes per-TEE options
 * `{ sgx?, tdx?, snp?, sim? }` and still accepts the flat options of the first releases; report_data, CBOR tags
 * and dumps come from the registry.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TEE_SCHEMES, TEE_TYPES } from '../../../src/attestation/registry.ts';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { TEE_REGISTRY, teeOptionsOf, verifyEvidence } from '../../../src/attestation/verify-evidence.ts';
import { readReportData } from '../../../src/rats-tls/report-data.ts';
import { TAG_INTEL_QUOTE, TAG_SIM_EVIDENCE, TAG_SNP_REPORT, TAG_TEES, tagOfTee } from '../../../src/rats-tls/format.ts';
import { dumpEvidence } from '../../../src/tee-tools/dump.ts';
import { codeOf, loadIntelVectors } from '../../support/intel-vectors.ts';
import { loadSnpVectorFiles, snpInputs } from '../../support/snp-vectors.ts';

const SRC = fileURLToPath(new URL('../../../src/attestation/', import.meta.url));
const intel = await loadIntelVectors();
const sgx = intel.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
const tdx = intel.find((v) => v.id === 'tdx-v4-dcapqvl-b0c06f000000')!;
const otherSgx = intel.find((v) => v.id === 'sgx-v3-tlsn-quote9-00906ed50000')!;
const milanFiles = loadSnpVectorFiles().find((v) => v.id === 'snp-v5-gcp-milan')!;
const milan = { bytes: new Uint8Array(readFileSync(milanFiles.report)), ...snpInputs(milanFiles), at: milanFiles.at };
const platform = generateKeyPairSync('ed25519');
const SIM_AT = new Date('2026-03-01T12:00:00.000Z');
const sim = createSimEvidence({ measurement: new Uint8Array(48), reportData: new Uint8Array(64).fill(9), platformKey: platform.privateKey, at: SIM_AT });

describe('the registry', () => {
  test('lists sgx, tdx, snp and sim, each folder with the same files', () => {
    assert.deepEqual([...TEE_TYPES], ['sgx', 'tdx', 'snp', 'sim']);
    for (const tee of TEE_TYPES) {
      for (const file of ['parse.ts', 'verify.ts', 'claims.ts', 'dump.ts', 'scheme.ts']) {
        assert.ok(existsSync(join(SRC, tee, file)), `${tee}/${file}`);
      }
    }
  });

  test('every scheme exports detect, reportData, cborTag, verify and dump', () => {
    for (const tee of TEE_TYPES) {
      const s = TEE_SCHEMES[tee];
      for (const f of ['detect', 'reportData', 'verify', 'dump'] as const) assert.equal(typeof s[f], 'function', `${tee}.${f}`);
      assert.ok(Number.isInteger(s.cborTag), `${tee}.cborTag`);
      assert.ok(Object.isFrozen(s));
    }
  });

  test('gives the RATS-TLS CBOR tags: 60000 for sgx and tdx, 0x1a7504 for snp, 0x1a7600 for sim', () => {
    assert.deepEqual(Object.fromEntries(TEE_TYPES.map((t) => [t, tagOfTee(t)])), { sgx: 60000, tdx: 60000, snp: 0x1a7504, sim: 0x1a7600 });
    assert.deepEqual([TAG_INTEL_QUOTE, TAG_SNP_REPORT, TAG_SIM_EVIDENCE], [60000, 0x1a7504, 0x1a7600]);
    assert.deepEqual([...TAG_TEES].map(([tag, tees]) => [tag, [...tees]]), [[60000, ['sgx', 'tdx']], [0x1a7504, ['snp']], [0x1a7600, ['sim']]]);
  });

  test('reads report_data of each TEE as the claims state it, without verifying', () => {
    const cases: [string, Uint8Array, () => string][] = [
      ['sgx', sgx.quote, () => verifyEvidence(sgx.quote, { sgx: { collateral: sgx.collateral }, at: sgx.at! }).reportData],
      ['tdx', tdx.quote, () => verifyEvidence(tdx.quote, { tdx: { collateral: tdx.collateral }, at: tdx.at! }).reportData],
      ['snp', milan.bytes, () => verifyEvidence(milan.bytes, { snp: milan, at: milan.at }).reportData],
      ['sim', sim, () => verifyEvidence(sim, { sim: { platformKeys: [platform.publicKey] }, at: SIM_AT }).reportData],
    ];
    for (const [tee, bytes, claimsReportData] of cases) {
      const rd = readReportData(bytes, tee as 'sgx');
      assert.equal(rd.length, 64, tee);
      assert.equal(Buffer.from(rd).toString('hex'), claimsReportData(), tee);
    }
  });

  test('dumps each TEE through its scheme, under the format names tee-tools always printed', () => {
    const formats = Object.fromEntries(
      ([['sgx', sgx.quote], ['tdx', tdx.quote], ['snp', milan.bytes], ['sim', sim]] as const).map(([tee, bytes]) => [tee, dumpEvidence(bytes).format]),
    );
    assert.deepEqual(formats, { sgx: 'intel-dcap-quote', tdx: 'intel-dcap-quote', snp: 'sev-snp-attestation-report', sim: 'inclavare-sim-evidence' });
    assert.equal((dumpEvidence(tdx.quote).fields.pckChain as { pckExtensions: { fmspc: string } }).pckExtensions.fmspc, 'b0c06f000000');
  });
});

describe('verifyEvidence() per-TEE options', () => {
  test('give the same claims as the flat options of the first releases', () => {
    assert.deepEqual(
      verifyEvidence(sgx.quote, { sgx: { collateral: sgx.collateral }, at: sgx.at! }),
      verifyEvidence(sgx.quote, { intelCollateral: sgx.collateral, at: sgx.at! }),
    );
    assert.deepEqual(
      verifyEvidence(tdx.quote, { tdx: { collateral: tdx.collateral }, at: tdx.at! }),
      verifyEvidence(tdx.quote, { intelCollateral: tdx.collateral, at: tdx.at! }),
    );
    assert.deepEqual(
      verifyEvidence(milan.bytes, { snp: { vcek: milan.vcek, ...(milan.certChain ? { certChain: milan.certChain } : {}) }, at: milan.at }),
      verifyEvidence(milan.bytes, { vcek: milan.vcek, ...(milan.certChain ? { certChain: milan.certChain } : {}), at: milan.at }),
    );
    assert.deepEqual(
      verifyEvidence(sim, { sim: { platformKeys: [platform.publicKey] }, at: SIM_AT }),
      verifyEvidence(sim, { simPlatformKeys: [platform.publicKey], at: SIM_AT }),
    );
  });

  test('are read only by their TEE: sgx evidence with only tdx collateral lacks collateral', () => {
    assert.equal(codeOf(() => verifyEvidence(sgx.quote, { tdx: { collateral: sgx.collateral }, at: sgx.at! })), 'ATTEST_ERR_COLLATERAL_MISSING');
    assert.equal(codeOf(() => verifyEvidence(milan.bytes, { sgx: { collateral: sgx.collateral }, at: milan.at })), 'ATTEST_ERR_COLLATERAL_MISSING');
    assert.equal(codeOf(() => verifyEvidence(sim, { snp: { vcek: milan.vcek }, at: SIM_AT })), 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY');
  });

  test('win over the flat options field by field', () => {
    // The flat collateral is another platform's (FMSPC mismatch); the sgx key's is the quote's own.
    assert.equal(verifyEvidence(sgx.quote, { intelCollateral: otherSgx.collateral, sgx: { collateral: sgx.collateral }, at: sgx.at! }).tee, 'sgx');
    // A flat field the per-TEE key does not set still applies: the AMD root as flat trustAnchors.
    const ark = readFileSync(join(milanFiles.dir, 'cert_chain.pem'), 'utf8');
    assert.equal(codeOf(() => verifyEvidence(sgx.quote, { trustAnchors: [ark], sgx: { collateral: sgx.collateral }, at: sgx.at! })), 'ATTEST_ERR_UNTRUSTED_ROOT');
    assert.deepEqual(teeOptionsOf('sgx', { intelCollateral: otherSgx.collateral, trustAnchors: [ark], sgx: { collateral: sgx.collateral } }), {
      collateral: sgx.collateral,
      trustAnchors: [ark],
    });
    assert.deepEqual(teeOptionsOf('sim', { trustAnchors: [ark] }), {});
  });

  test('sim takes its freshness limits from its options', () => {
    const later = new Date(SIM_AT.getTime() + 10 * 60_000);
    assert.equal(codeOf(() => verifyEvidence(sim, { sim: { platformKeys: [platform.publicKey] }, at: later })), 'ATTEST_ERR_COLLATERAL_EXPIRED');
    assert.equal(verifyEvidence(sim, { sim: { platformKeys: [platform.publicKey], maxAgeMs: 3_600_000 }, at: later }).tee, 'sim');
  });
});

describe('TEE_REGISTRY (the first releases\' export)', () => {
  test('still verifies with verifyEvidence()-shaped options and recognizes its evidence', () => {
    assert.equal(TEE_REGISTRY.sgx.verify(sgx.quote, { intelCollateral: sgx.collateral, at: sgx.at! }).tee, 'sgx');
    assert.equal(TEE_REGISTRY.tdx.verify(tdx.quote, { tdx: { collateral: tdx.collateral }, at: tdx.at! }).tee, 'tdx');
    assert.equal(TEE_REGISTRY.sim.verify(sim, { simPlatformKeys: [platform.publicKey], at: SIM_AT }).tee, 'sim');
    assert.ok(TEE_REGISTRY.snp.detect(milan.bytes));
    assert.equal(TEE_REGISTRY.snp.cborTag, 0x1a7504);
  });
});
