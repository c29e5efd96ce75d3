/**
 * The built `rats-tls` sample (dist/rats-tls.mjs, `npm run build`): server and client processes on 127.0.0.1,
 * the C samples' flags and wire protocol, sim evidence signed with a platform key made by the test.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAMPLE_MESSAGE as MESSAGE } from '../../src/rats-tls/sample.ts';
import { RATS_TLS, startSampleServer, writePlatformKey } from '../support/rats-tls.ts';

let dir: string;
let key: string;
let anchor: string;
const servers: ChildProcess[] = [];

before(() => {
  assert.ok(existsSync(RATS_TLS), 'dist/rats-tls.mjs is missing: run `npm run build` first');
  dir = mkdtempSync(join(tmpdir(), 'incl-rats-tls-'));
  ({ key, anchor } = writePlatformKey(dir));
});
after(() => {
  for (const s of servers) s.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

const server = (...args: string[]): Promise<number> => startSampleServer(servers, ...args);

function client(port: number, ...args: string[]) {
  const r = spawnSync(process.execPath, [RATS_TLS, 'client', '-i', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

void describe('rats-tls sample CLI', () => {
  test('a sim server and a client trusting its platform key: the echo matches, exit 0', async () => {
    const port = await server('-a', 'sim', '--sim-platform-key', key);
    const r = client(port, '--trust-anchor', anchor, '-v', 'sim');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `Server:\n${MESSAGE}`);
  });

  test('the client fails closed (exit 1) on untrusted evidence and on a measurement mismatch', async () => {
    const port = await server('-a', 'sim', '--sim-platform-key', key);
    const untrusted = client(port);
    assert.equal(untrusted.status, 1);
    assert.match(untrusted.stderr, /platform key is not trusted/);
    const mismatch = client(port, '--trust-anchor', anchor, '--expect-measurement', 'ff'.repeat(48));
    assert.equal(mismatch.status, 1);
    assert.match(mismatch.stderr, /measurement/);
  });

  test('an unattested server (-a nullattester) is rejected unless the client says -v nullverifier', async () => {
    const port = await server('-a', 'nullattester');
    const strict = client(port, '--trust-anchor', anchor);
    assert.equal(strict.status, 1);
    assert.match(strict.stderr, /no evidence/);
    assert.equal(client(port, '-v', 'nullverifier').status, 0);
  });

  test('mutual (-m): an attested client is served, a nullattester client is dropped', async () => {
    const port = await server('-m', '-a', 'sim', '--sim-platform-key', key, '--trust-anchor', anchor);
    assert.equal(client(port, '-m', '-a', 'sim', '--sim-platform-key', key, '--trust-anchor', anchor).status, 0);
    assert.equal(client(port, '-m', '-a', 'nullattester', '--trust-anchor', anchor).status, 1);
  });

  test('in-band nonce mode on both ends works', async () => {
    const port = await server('-a', 'sim', '--sim-platform-key', key, '--nonce');
    assert.equal(client(port, '--trust-anchor', anchor, '--nonce').status, 0);
  });

  test('usage errors exit 2: nulltls, an unknown verifier, -e without Intel evidence or a collateral source; a hardware attester this build lacks exits 1', () => {
    assert.equal(client(1, '-t', 'nulltls').status, 2);
    assert.equal(client(1, '-v', 'nosuchverifier').status, 2);
    const hw = client(1, '-a', 'sgx_la');
    assert.equal(hw.status, 1);
    assert.match(hw.stderr, /no sgx_la attester/);
    const simEndorsed = client(1, '-a', 'sim', '--sim-platform-key', key, '-e');
    assert.equal(simEndorsed.status, 2);
    assert.match(simEndorsed.stderr, /endorsements .* Intel evidence/);
    const noSource = client(1, '-a', 'tdx_ecdsa', '-e');
    assert.equal(noSource.status, 2);
    assert.match(noSource.stderr, /--collateral DIR or --pccs-url URL/);
    const noDir = client(1, '--collateral', join(dir, 'no-such-dir'));
    assert.equal(noDir.status, 2);
    assert.match(noDir.stderr, /Cannot use --collateral .*no-such-dir/);
    const outsideGramine = client(1, '-a', 'sgx_ecdsa');
    assert.equal(outsideGramine.status, 1);
    assert.match(outsideGramine.stderr, /Cannot get sgx evidence from \/dev\/attestation/);
  });
});
