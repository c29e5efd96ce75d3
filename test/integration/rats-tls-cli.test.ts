/**
 * The built `rats-tls` sample (dist/rats-tls.mjs, `npm run build`): server and client processes on 127.0.0.1,
 * the C samples' flags and wire protocol, sim evidence signed with a platform key made by the test.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';

const repo = new URL('../..', import.meta.url).pathname;
const RATS_TLS = join(repo, 'dist/rats-tls.mjs');
const MESSAGE = '\x1b[91mHello and welcome to RATS-TLS!\x1b[0m\n';

let dir: string;
let key: string;
let anchor: string;
const servers: ChildProcess[] = [];

before(() => {
  assert.ok(existsSync(RATS_TLS), 'dist/rats-tls.mjs is missing: run `npm run build` first');
  dir = mkdtempSync(join(tmpdir(), 'incl-rats-tls-'));
  const platform = generateKeyPairSync('ed25519');
  key = join(dir, 'platform.key');
  anchor = join(dir, 'platform.pub');
  writeFileSync(key, platform.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(anchor, platform.publicKey.export({ type: 'spki', format: 'pem' }));
});
after(() => {
  for (const s of servers) s.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `rats-tls server -i 127.0.0.1 -p 0 ...args`; resolves to its port. */
async function server(...args: string[]): Promise<number> {
  const child = spawn(process.execPath, [RATS_TLS, 'server', '-i', '127.0.0.1', '-p', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  child.stderr.resume();
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const m = /^listening on 127\.0\.0\.1:(\d+)$/.exec(line);
    if (m) return Number(m[1]);
  }
  throw new Error('the server exited without listening');
}

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
