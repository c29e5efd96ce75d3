// `podman run --rm` of sim enclave containers served by inclavared's enclave pool (docs/enclave-pool.md):
// the warm worker runs rune's create and the launcher runs runc, so conmon (the subreaper) still sees the
// container's init exit and the exit status comes back; with the pool emptied the same run takes the slow path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inclavaredEnv, makeOciImage, podmanEnv, podmanLoadImage, podmanReset, repoRoot, requireTools, run } from '../support/fixtures.ts';
import { poolRequest } from '../../src/attestation-socket/client.ts';
import type { PoolStatus } from '../../src/inclavared/pool/manager.ts';

const IMAGE = 'localhost/pool-busybox:latest';
let tmp = '';
let env: NodeJS.ProcessEnv = {};
let ird = '';
let daemon: ChildProcess | undefined;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const status = async (): Promise<PoolStatus> => (await poolRequest(ird, 'GET', '/v1/pool')) as PoolStatus;
async function until(what: string, pred: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await pred().catch(() => false)) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

before(async () => {
  await requireTools([{ bin: 'podman', pkg: 'podman' }, { bin: 'conmon', pkg: 'conmon' }, { bin: 'umoci', pkg: 'umoci' }]);
  tmp = await mkdtemp(path.join(tmpdir(), 'podman-pool-'));
  env = await podmanEnv(tmp);
  // podman hands the runtime only the inclavared location podmanEnv configured: serve the pool there.
  const located = inclavaredEnv(path.join(tmp, 'podman'));
  ird = located.INCLAVARED_ROOT;
  daemon = spawn(process.execPath, [path.join(repoRoot, 'dist/inclavared.mjs'), 'serve', '--root', ird, '--data-dir', located.INCLAVARED_DATA_DIR, '--pool', 'sim=1'], { stdio: 'ignore' });
  await until('inclavared', async () => (await status()) !== undefined);
  await podmanLoadImage(env, await makeOciImage(path.join(tmp, 'image'), { name: IMAGE, cmd: ['sh'] }));
});

after(async () => {
  await podmanReset(env).catch(() => undefined);
  if (daemon !== undefined && daemon.exitCode === null) {
    const exited = new Promise((r) => daemon!.once('exit', r));
    daemon.kill('SIGTERM');
    await exited;
  }
  await rm(tmp, { recursive: true, force: true });
});

const podmanRun = (): ReturnType<typeof run> =>
  run('podman', ['--runtime', path.join(repoRoot, 'dist/rune'), 'run', '--rm', '--pull', 'never', '--network', 'none', '-e', 'ENCLAVE_TYPE=sim', '-e', 'ENCLAVE_RUNTIME_PATH=sim', IMAGE, 'sh', '-c', 'echo pid1=$(tr "\\0" " " < /proc/1/cmdline | cut -d" " -f4); exit 4'], { env, timeoutMs: 60_000 });

test('podman run --rm of a sim enclave container is served by a warm worker; exit status and output come back', { timeout: 120_000 }, async () => {
  for (let round = 1; round <= 2; round++) {
    await until('a ready sim worker', async () => (await status()).keys.find((k) => k.key === 'sim')?.ready === 1);
    const res = await podmanRun();
    assert.equal(res.code, 4, res.stderr);
    assert.equal(res.stdout.trim(), 'pid1=/.rune/init-runelet-sim');
    assert.equal((await status()).keys.find((k) => k.key === 'sim')!.served, round);
  }
  // The pool emptied: the same run takes the slow path.
  await poolRequest(ird, 'PUT', '/v1/pool/keys/sim', { size: 0 });
  await until('an empty pool', async () => (await status()).entries.every((e) => e.state === 'picked'));
  const res = await podmanRun();
  assert.equal(res.code, 4, res.stderr);
  assert.equal((await status()).keys.find((k) => k.key === 'sim')!.served, 2);
});
