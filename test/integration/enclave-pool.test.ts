/**
 * inclavared's enclave pool against the built programs and real runc (docs/enclave-pool.md): enclave
 * creates are served by warm single-use rune workers, an entry is never given to two callers and never
 * reused, the evidence of a pooled container is that of an unpooled one, a dead entry means the slow path,
 * and a kill -9 of inclavared with a warm pool leaves no worker behind.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBundle, makeBusyboxRootfs } from '../support/busybox.ts';
import { poolRequest } from '../../src/attestation-socket/client.ts';
import { verifyEvidence } from '../../src/attestation/verify-evidence.ts';
import type { PoolStatus } from '../../src/inclavared/pool/manager.ts';
import { encodeRequest, parseFrames, type PoolFrame } from '../../src/inclavared/pool/wire.ts';
import { connect } from 'node:net';

const repo = new URL('../..', import.meta.url).pathname;
const RUNE = join(repo, 'dist/rune');
const INCLAVARED = join(repo, 'dist/inclavared.mjs');
const SIM = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'];

let work: string;
let rootfs: string;
let root: string;
let ird: string;
let dataDir: string;
let daemon: ChildProcess | undefined;
let n = 0;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs rune (stdio in files: a created container keeps its stdio open). */
function rune(args: string[], env: Record<string, string> = {}): Result {
  const id = ++n;
  const out = join(work, `out-${id}`);
  const err = join(work, `err-${id}`);
  const outFd = openSync(out, 'w');
  const errFd = openSync(err, 'w');
  try {
    const res = spawnSync(RUNE, ['--root', root, ...args], { cwd: work, timeout: 60_000, stdio: ['ignore', outFd, errFd], env: { ...process.env, INCLAVARED_ROOT: ird, INCLAVARED_DATA_DIR: dataDir, ...env } });
    return { code: res.status, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
}

/** The same, without blocking the event loop (for concurrent creates). */
function runeAsync(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(RUNE, ['--root', root, ...args], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, INCLAVARED_ROOT: ird, INCLAVARED_DATA_DIR: dataDir } });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // A created container's init-runelet keeps the stderr pipe: resolve on exit, not on close.
    child.on('exit', (code) => resolve({ code, stdout: '', stderr }));
  });
}

function bundle(args: string[], env = SIM): string {
  return makeBundle(join(work, `bundle-${++n}`), { rootfs, args, env });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function status(): Promise<PoolStatus> {
  return (await poolRequest(ird, 'GET', '/v1/pool')) as PoolStatus;
}

async function until(what: string, pred: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function warm(key: string, count: number): Promise<void> {
  await until(`${count} ready ${key} worker(s)`, async () => (await status()).keys.find((k) => k.key === key)?.ready === count);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

/** Pids of rune workers whose socket lies under this test's inclavared root. */
function workerPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes('rune-worker.mjs') && cmd.includes(ird)) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

async function startDaemon(pool: string, extra: string[] = []): Promise<void> {
  daemon = spawn(process.execPath, [INCLAVARED, 'serve', '--root', ird, '--data-dir', dataDir, '--pool', pool, '--log', join(work, 'inclavared.log'), ...extra], { stdio: 'ignore', detached: true });
  // A kill -9'd daemon leaves its control.sock: wait until the new one answers.
  await until('inclavared', () => poolRequest(ird, 'GET', '/v1/pool').then(() => true, () => false));
}

async function stopDaemon(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const d = daemon;
  daemon = undefined;
  if (d === undefined || d.exitCode !== null) return;
  const exited = new Promise((r) => d.once('exit', r));
  d.kill(signal);
  await exited;
}

before(async () => {
  assert.ok(existsSync(RUNE) && existsSync(join(repo, 'dist/rune-worker.mjs')), 'dist/ is missing or old: run `npm run build` first');
  work = mkdtempSync(join(tmpdir(), 'enclave-pool-'));
  rootfs = join(work, 'rootfs');
  makeBusyboxRootfs(rootfs);
  root = join(work, 'root');
  ird = join(work, 'ird');
  dataDir = join(work, 'ird-data');
  await startDaemon('sim=1,wasm=0');
});

after(async () => {
  for (const id of existsSync(root) ? readdirSync(root) : []) rune(['delete', '--force', id]);
  await stopDaemon();
  for (const pid of workerPids()) process.kill(pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

describe('enclave pool', { timeout: 240_000 }, () => {
  test('a sim create is served by a warm worker, which then exits (never reused) and is replaced', async () => {
    await warm('sim', 1);
    const before = await status();
    const entry = before.entries.find((e) => e.key === 'sim' && e.state === 'ready')!;
    const b = bundle(['sh', '-c', 'echo hello from the pool; exit 3']);
    const created = rune(['create', '--bundle', b, 'served']);
    assert.equal(created.code, 0, created.stderr);
    await until('the served count', async () => (await status()).keys.find((k) => k.key === 'sim')!.served === 1);
    assert.equal(rune(['start', 'served']).code, 0);
    await until('the workload to end', () => rune(['state', 'served']).stdout.includes('"stopped"'));
    assert.equal(JSON.parse(readFileSync(join(root, 'served', 'control', 'exit'), 'utf8')).exitCode, 3);
    assert.equal(rune(['delete', 'served']).code, 0);
    // The worker that served it is gone, and another one, with a new id and pid, waits.
    await until('the worker to exit', () => !alive(entry.pid));
    await warm('sim', 1);
    const after = (await status()).entries.find((e) => e.key === 'sim' && e.state === 'ready')!;
    assert.notEqual(after.id, entry.id);
    assert.notEqual(after.pid, entry.pid);
  });

  test('an entry is never given to two callers: concurrent picks of the last entries', async () => {
    await poolRequest(ird, 'PUT', '/v1/pool/keys/sim', { size: 3 });
    await warm('sim', 3);
    const answers = await Promise.allSettled(Array.from({ length: 8 }, () => poolRequest(ird, 'POST', '/v1/pool/pick', { key: 'sim' })));
    const won = answers.filter((a) => a.status === 'fulfilled').map((a) => (a as PromiseFulfilledResult<{ id: string; socket: string }>).value);
    const lost = answers.filter((a) => a.status === 'rejected').map((a) => ((a as PromiseRejectedResult).reason as { code: string }).code);
    assert.equal(won.length, 3);
    assert.equal(new Set(won.map((w) => w.id)).size, 3);
    assert.deepEqual([...new Set(lost)], ['INCLAVARED_ERR_POOL_EMPTY']);
    // Picked but never connected to (as if the callers died): the daemon stops them after its connect timeout.
    const pids = (await status()).entries.filter((e) => won.some((w) => w.id === e.id)).map((e) => e.pid);
    assert.equal(pids.length, 3);
    for (const w of won) rmSync(w.socket, { force: true });
    await until('the taken but unused workers to be stopped', () => pids.every((pid) => !alive(pid)), 30_000);
    await poolRequest(ird, 'PUT', '/v1/pool/keys/sim', { size: 1 });
  });

  test('concurrent creates racing for the last entry: one is served by it, the others take the slow path, all run', async () => {
    await warm('sim', 1);
    const servedBefore = (await status()).keys.find((k) => k.key === 'sim')!.served;
    const b = bundle(['true']);
    const results = await Promise.all(['race-1', 'race-2', 'race-3'].map((id) => runeAsync(['create', '--bundle', b, id])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const served = (await status()).keys.find((k) => k.key === 'sim')!.served - servedBefore;
    assert.equal(served, 1, 'exactly one create was served by the one warm entry');
    for (const id of ['race-1', 'race-2', 'race-3']) {
      assert.equal(rune(['start', id]).code, 0);
      await until(`${id} to end`, () => rune(['state', id]).stdout.includes('"stopped"'));
      assert.equal(rune(['delete', id]).code, 0);
    }
  });

  test('item 4: a container from the pool has the evidence claims of one created without it', async () => {
    await warm('sim', 1);
    const b = bundle(['sleep', '30']);
    const servedBefore = (await status()).keys.find((k) => k.key === 'sim')!.served;
    assert.equal(rune(['create', '--bundle', b, 'attest-pool']).code, 0);
    assert.equal((await status()).keys.find((k) => k.key === 'sim')!.served, servedBefore + 1, 'served by the pool');
    const plain = rune(['create', '--bundle', b, 'attest-plain'], { RUNE_POOL: '0' });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal((await status()).keys.find((k) => k.key === 'sim')!.served, servedBefore + 1, 'not served by the pool');
    const cert = new X509Certificate(spawnSync(process.execPath, [INCLAVARED, 'platform-cert', '--data-dir', dataDir]).stdout);
    const claimsOf = (id: string): Record<string, unknown> => {
      assert.equal(rune(['start', id]).code, 0);
      const res = rune(['attest', '--json', '--report-data', 'ab'.repeat(32), id]);
      assert.equal(res.code, 0, res.stderr);
      const answer = JSON.parse(res.stdout) as { evidence: string };
      return verifyEvidence(Buffer.from(answer.evidence, 'base64'), { simPlatformKeys: [cert.publicKey], at: new Date() }) as unknown as Record<string, unknown>;
    };
    const pooled = claimsOf('attest-pool');
    const unpooled = claimsOf('attest-plain');
    // The signing time (extra.timestamp) and the validity it starts (validFrom, validUntil) are the per-call
    // values: they say when, not what, and differ between any two calls. Everything else must be equal.
    const FRESH = new Set(['validFrom', 'validUntil', 'timestamp']);
    const strip = (c: Record<string, unknown>): string => JSON.stringify(c, (k, v: unknown) => (FRESH.has(k) ? undefined : v));
    assert.notEqual(pooled.validFrom, undefined);
    assert.equal(strip(pooled), strip(unpooled));
    assert.ok(JSON.stringify(pooled).includes(readFileSync(join(root, 'attest-pool', 'enclave.json'), 'utf8').match(/"measurement": "([0-9a-f]+)"/)![1]!));
    for (const id of ['attest-pool', 'attest-plain']) assert.equal(rune(['delete', '--force', id]).code, 0);
  });

  test('an entry whose process died: the create takes the slow path and succeeds', async () => {
    await warm('sim', 1);
    const entry = (await status()).entries.find((e) => e.key === 'sim' && e.state === 'ready')!;
    const readyDir = join(ird, 'pool', 'ready', 'sim');
    const stale = join(readyDir, 'dead0000dead.sock');
    // Freeze inclavared while the worker dies, and keep its socket under a name the daemon does not know:
    // a launcher then finds an entry whose process is gone (connect: ECONNREFUSED).
    daemon!.kill('SIGSTOP');
    try {
      process.kill(entry.pid, 'SIGKILL');
      await until('the worker to die', () => !alive(entry.pid));
      renameSync(join(readyDir, `${entry.id}.sock`), stale);
    } finally {
      daemon!.kill('SIGCONT');
    }
    const res = rune(['create', '--bundle', bundle(['true']), 'dead-entry']);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(!existsSync(stale), 'the launcher removed the dead entry');
    assert.equal(rune(['start', 'dead-entry']).code, 0);
    await until('dead-entry to end', () => rune(['state', 'dead-entry']).stdout.includes('"stopped"'));
    assert.equal(rune(['delete', 'dead-entry']).code, 0);
    await warm('sim', 1);
  });

  test('a worker that stops after the launcher took it but before it accepted the call: the create takes the slow path and succeeds (seen in CI)', async () => {
    await warm('sim', 1);
    const entry = (await status()).entries.find((e) => e.key === 'sim' && e.state === 'ready')!;
    // Frozen, the worker cannot accept the connection's call; the kernel still completes the connect.
    process.kill(entry.pid, 'SIGSTOP');
    const taken = join(ird, 'pool', 'taken', `${entry.id}.sock`);
    const creating = runeAsync(['create', '--bundle', bundle(['true']), 'unaccepted']);
    try {
      await until('the launcher to take the entry', () => existsSync(taken));
      await new Promise((r) => setTimeout(r, 100)); // its connect and its request
    } finally {
      // As when its daemon stopped: the worker ends without having read the call.
      process.kill(entry.pid, 'SIGKILL');
    }
    const res = await creating;
    assert.equal(res.code, 0, res.stderr);
    assert.doesNotMatch(res.stderr, /stopped before it finished/);
    assert.equal(rune(['start', 'unaccepted']).code, 0);
    await until('unaccepted to end', () => rune(['state', 'unaccepted']).stdout.includes('"stopped"'));
    assert.equal(rune(['delete', 'unaccepted']).code, 0);
    await warm('sim', 1);
  });

  test('kill -9 of inclavared with a warm pool: its workers exit, and a restarted daemon has only its own', async () => {
    await poolRequest(ird, 'PUT', '/v1/pool/keys/sim', { size: 2 });
    await warm('sim', 2);
    const old = workerPids();
    assert.equal(old.length, 2);
    // Started with V8's eager compilation (defaultWorkerCommand): create's code compiled before it is asked for.
    for (const pid of old) assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--no-lazy'), `worker ${pid} runs without --no-lazy`);
    await stopDaemon('SIGKILL');
    await until('the orphaned workers to exit', () => old.every((pid) => !alive(pid)), 10_000);
    // What a worker killed in the middle of its warm-up leaves: its scratch digest cache.
    mkdirSync(join(ird, 'pool', 'warm', 'dead0000dead', 'cache'), { recursive: true });
    await startDaemon('sim=1');
    await warm('sim', 1);
    const now = workerPids();
    assert.equal(now.length, 1);
    assert.ok(!old.includes(now[0]!));
    assert.deepEqual(readdirSync(join(ird, 'pool', 'warm')), [], 'the warm-up scratch of dead and ready workers is gone');
  });

  test('a worker a launcher took keeps serving its call while inclavared stops and a new one starts (found by the load test)', async () => {
    await warm('sim', 1);
    const entry = (await status()).entries.find((e) => e.key === 'sim' && e.state === 'ready')!;
    const taken = join(ird, 'pool', 'taken', `${entry.id}.sock`);
    renameSync(join(ird, 'pool', 'ready', 'sim', `${entry.id}.sock`), taken);
    const sock = connect(taken);
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    await until('the daemon to see the entry picked', async () => (await status()).entries.every((e) => e.id !== entry.id || e.state === 'picked'));
    await stopDaemon();
    await startDaemon('sim=1');
    await warm('sim', 1);
    assert.ok(alive(entry.pid), 'the new daemon left the taken worker alone');
    const frames: PoolFrame[] = [];
    let buffered = Buffer.alloc(0);
    const done = new Promise<void>((resolve) => {
      sock.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        const parsed = parseFrames(buffered);
        buffered = buffered.subarray(parsed.used);
        frames.push(...parsed.frames);
        if (frames.some((f) => f.type === 'x')) resolve();
      });
      sock.once('close', () => resolve());
    });
    sock.write(encodeRequest({ cwd: '/', argv: ['--version'], env: [] }));
    await done;
    sock.destroy();
    const exit = frames.find((f) => f.type === 'x');
    assert.equal(exit?.payload.toString(), '0', `the worker answered the call: ${JSON.stringify(frames.map((f) => [f.type, f.payload.toString()]))}`);
    assert.match(Buffer.concat(frames.filter((f) => f.type === 'o').map((f) => f.payload)).toString(), /\d+\.\d+/);
  });

  test('the memory cap bounds the pool: no worker beyond it, and healthz says what is missing', async () => {
    await stopDaemon();
    await startDaemon('sim=4', ['--pool-memory', '100']);
    await until('the pool to settle', async () => (await status()).keys[0]!.ready >= 1);
    await sleep(3000);
    const capped = await status();
    assert.ok(capped.keys[0]!.ready < 4, `${capped.keys[0]!.ready} workers within 100 MiB`);
    assert.ok(capped.memoryUsedBytes <= capped.memoryCapBytes);
    const health = (await poolRequest(ird, 'GET', '/v1/pool/healthz')) as { ok: boolean; missing: Record<string, number> };
    assert.equal(health.ok, false);
    assert.equal(health.missing.sim, 4 - capped.keys[0]!.ready);
    await stopDaemon();
    await startDaemon('sim=2', ['--pool-memory', '1']);
    await sleep(2000);
    assert.equal((await status()).entries.length, 0);
    assert.equal(workerPids().length, 0);
  });
});
