/**
 * fetchIntelCollateral() against a PCS-compatible HTTP server started on 127.0.0.1 that serves a vector's
 * collateral the way Intel PCS v4 does (bodies, URL-encoded issuer chains in response headers). No network
 * beyond loopback.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fetchIntelCollateral, fetchIntelCollateralForQuote } from '../../../src/collateral/intel-pcs.ts';
import { loadIntelCollateral } from '../../../src/collateral/intel-dir.ts';
import { verifyIntelQuote } from '../../../src/attestation/intel/verify.ts';
import { codeOfAsync, loadIntelVectors } from '../../support/intel-vectors.ts';
import { startFakePcs, type FakePcs } from '../../support/fake-pcs.ts';

const vectors = await loadIntelVectors();
const sgx = vectors.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
const tdx = vectors.find((v) => v.id === 'tdx-v5-alibaba-90c06f000000-2025')!;

let pcs: FakePcs;
let baseUrl: string;
let cacheDir: string;

before(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'inclavare-pcs-'));
  pcs = await startFakePcs(sgx);
  baseUrl = pcs.baseUrl;
});

after(async () => {
  await pcs.close();
  await rm(cacheDir, { recursive: true, force: true });
});

for (const v of [sgx, tdx]) {
  const tee = v.kind === 'intel-sgx' ? 'sgx' : 'tdx';
  const fmspc = v.expected.pck_certificate!.fmspc as string;
  const ca = v.expected.pck_certificate!.issuing_ca as 'processor' | 'platform';

  void test(`fetchIntelCollateral() fetches ${tee} collateral from PCS, caches it in the vector layout, and it verifies ${v.id}`, async () => {
    pcs.serve(v);
    pcs.requests.length = 0;
    const collateral = await fetchIntelCollateral({ fmspc, tee, baseUrl, cacheDir, at: v.at!, ca });
    assert.deepEqual(pcs.requests.sort(), [
      `/${tee}/certification/v4/qe/identity`,
      `/${tee}/certification/v4/tcb?fmspc=${fmspc}`,
      '/sgx/certification/v4/pckcrl?ca=' + ca + '&encoding=der',
      '/sgx/certification/v4/rootcacrl',
    ].sort());
    assert.deepEqual(collateral, v.collateral);
    const dir = join(cacheDir, `${tee}-${fmspc}-${ca}`);
    assert.equal(await readFile(join(dir, 'tcb_info.json'), 'utf8'), v.collateral.tcbInfo);
    assert.deepEqual(new Uint8Array(await readFile(join(dir, 'root_ca_crl.der'))), v.collateral.rootCaCrl);
    assert.deepEqual(await loadIntelCollateral(dir), v.collateral);
    assert.equal(verifyIntelQuote(v.quote, { collateral, at: v.at! }).tcbStatus, v.expected.expected_result.tcb_status);
  });

  void test(`fetchIntelCollateral() reuses the ${tee} cache while every nextUpdate is in the future and refetches after`, async () => {
    pcs.serve(v);
    pcs.requests.length = 0;
    await fetchIntelCollateral({ fmspc, tee, baseUrl, cacheDir, at: v.at!, ca });
    assert.equal(pcs.requests.length, 0);
    await fetchIntelCollateral({ fmspc, tee, baseUrl, cacheDir, at: new Date(v.window!.until.getTime() + 86_400_000), ca });
    assert.equal(pcs.requests.length, 4);
  });
}

void test('fetchIntelCollateralForQuote() takes FMSPC, TEE and PCK CA from the quote', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'inclavare-pcs-q-'));
  pcs.serve(tdx);
  try {
    const collateral = await fetchIntelCollateralForQuote(tdx.quote, { baseUrl, cacheDir: dir, at: tdx.at! });
    assert.deepEqual(collateral, tdx.collateral);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('fetchIntelCollateral() reports an HTTP error of the service as ATTEST_ERR_COLLATERAL_FETCH', async () => {
  pcs.failWith(503);
  try {
    const dir = await mkdtemp(join(tmpdir(), 'inclavare-pcs-e-'));
    assert.equal(await codeOfAsync(() => fetchIntelCollateral({ fmspc: 'ffffffffffff', tee: 'sgx', baseUrl, cacheDir: dir })), 'ATTEST_ERR_COLLATERAL_FETCH');
    await rm(dir, { recursive: true, force: true });
  } finally {
    pcs.failWith(undefined);
  }
});

void test('fetchIntelCollateral() reports an unreachable service as ATTEST_ERR_COLLATERAL_FETCH', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'inclavare-pcs-u-'));
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  assert.equal(
    await codeOfAsync(() => fetchIntelCollateral({ fmspc: '00a067110000', tee: 'sgx', baseUrl: `http://127.0.0.1:${port}`, cacheDir: dir })),
    'ATTEST_ERR_COLLATERAL_FETCH',
  );
  await rm(dir, { recursive: true, force: true });
});

void test('fetchIntelCollateral() refuses an FMSPC that is not 6 bytes of hex (it names a cache directory)', async () => {
  assert.equal(await codeOfAsync(() => fetchIntelCollateral({ fmspc: '../../etc', tee: 'sgx', baseUrl, cacheDir })), 'ATTEST_ERR_MALFORMED');
});
