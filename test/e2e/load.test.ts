/**
 * Load (issue #16, item 4; docs/security.md "Load"): N concurrent `podman run --rm` through rune, a third
 * each plain, sim and wasm enclave containers, each with its own exit code, for ROUNDS rounds; every exit code
 * must come back right, and afterwards nothing of any of them may be left: no rune or runc state dir, no
 * process or cgroup, no host mount, no inclavared registration or attestation socket, no conmon. Then M
 * concurrent `rune attest` of one sim container, each with a fresh nonce: every piece of evidence must verify
 * against inclavared's platform certificate and carry its own nonce and the container's measurement.
 *
 * RUNE_LOAD_N (default 50), RUNE_LOAD_ROUNDS (default 2) and RUNE_LOAD_ATTEST (default 50) set the sizes.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  defaultRuntimeRoot,
  describeRun,
  guardHostDirs,
  listProcesses,
  makeOciImage,
  makeTempDir,
  podmanEnv,
  podmanLoadImage,
  podmanReset,
  reapProcesses,
  removeNewCgroups,
  removeTempDir,
  repoRoot,
  requireTools,
  run,
  runtimeBinary,
  snapshotCgroups,
  waitFor,
  type CgroupSnapshot,
  type RunResult,
} from '../support/fixtures.ts';
import { inspectContainer, leftovers, mountsUnder, orphanSocketDirs, registeredKeys, type RuneSetup } from '../support/consistency.ts';
import { assemble, helloWat } from '../unit/pal/wasi-programs.ts';
import { verify } from '../../src/tee-tools/verify.ts';

const IMAGE = 'docker.io/inclavare/busybox:latest';
const BLOB_CACHE_DIR = '/var/lib/containers/cache';
const FIXED_HOST_DIRS = [BLOB_CACHE_DIR, '/var/lib/containers', '/run/containers/networks', '/run/containers'];

function size(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`Invalid ${name}=${raw}: give a whole number from 1 to ${max}`);
  return n;
}

/** Concurrent containers per round (exit codes 10..10+N-1 stay below 256). */
const N = size('RUNE_LOAD_N', 50, 240);
const ROUNDS = size('RUNE_LOAD_ROUNDS', 2, 20);
const ATTESTS = size('RUNE_LOAD_ATTEST', 50, 500);

type Kind = 'plain' | 'sim' | 'wasm';
const KINDS: Kind[] = ['plain', 'sim', 'wasm'];

void describe(`load: ${N} concurrent podman run --rm through ${runtimeBinary()}, ${ROUNDS} rounds; ${ATTESTS} concurrent rune attest`, { timeout: 1_800_000 }, () => {
  const runtime = runtimeBinary();
  const stateRoot = defaultRuntimeRoot(runtime);
  let tmp = '';
  let modules = '';
  let env: NodeJS.ProcessEnv = {};
  let setup: RuneSetup;
  let cgroups: CgroupSnapshot | undefined;
  let hadBlobCache = true;
  let restoreHostDirs = async (): Promise<void> => undefined;

  before(async () => {
    await requireTools([
      { bin: 'podman', pkg: 'podman' },
      { bin: 'conmon', pkg: 'conmon' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    hadBlobCache = existsSync(BLOB_CACHE_DIR);
    restoreHostDirs = await guardHostDirs([...FIXED_HOST_DIRS, stateRoot]);
    cgroups = await snapshotCgroups();
    tmp = await makeTempDir('rune-e2e-load-');
    modules = path.join(tmp, 'wasm');
    await mkdir(modules);
    // rune's on-demand inclavared is adopted by conmon, which waits for it: let it stop soon when idle.
    env = { ...(await podmanEnv(tmp, { runtimeBinary: runtime, conmonEnv: { INCLAVARED_IDLE_EXIT: '3' } })), INCLAVARED_IDLE_EXIT: '3' };
    setup = { rune: runtime, root: stateRoot, inclavaredRoot: env.INCLAVARED_ROOT!, env };
    const image = await makeOciImage(path.join(tmp, 'image'), { name: IMAGE, cmd: ['sh'] });
    await podmanLoadImage(env, image);
  });

  after(async () => {
    if (tmp === '') return;
    await podmanReset(env);
    const killed = await reapProcesses((p) => path.basename(p.argv[0] ?? '') === 'conmon' && p.argv.some((a) => a.startsWith(tmp)));
    if (killed.length > 0) console.error(`load e2e: killed lingering ${killed.join('; ')}`);
    if (cgroups) {
      const left = await removeNewCgroups(cgroups, ['libpod_parent']);
      if (left.length > 0) console.error(`load e2e: cgroups left behind: ${left.join(', ')}`);
    }
    if (!hadBlobCache) await rm(path.join(BLOB_CACHE_DIR, 'blob-info-cache-v1.boltdb'), { force: true });
    await restoreHostDirs();
    await removeTempDir(tmp);
  });

  /** The podman arguments of container `i` of a round, and the exit code it must end with. */
  async function container(kind: Kind, code: number, cidfile: string): Promise<string[]> {
    const common = ['--runtime', runtime, 'run', '--rm', '--pull', 'never', '--network', 'none', '--cidfile', cidfile];
    if (kind === 'plain') return [...common, IMAGE, 'sh', '-c', `exit ${code}`];
    if (kind === 'sim') return [...common, '--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim', IMAGE, 'sh', '-c', `test -S "$INCLAVARE_ATTESTATION_SOCKET" || exit 1; exit ${code}`];
    const module = path.join(modules, `exit${code}.wasm`);
    if (!existsSync(module)) await writeFile(module, await assemble(helloWat('', '', code)));
    return [...common, '--annotation', 'enclave.type=sim', '--annotation', 'enclave.runtime.path=wasm', '-v', `${modules}:/w:ro`, IMAGE, `/w/exit${code}.wasm`];
  }

  /** Everything that must be gone once every container of a round is: their ids, host mounts, conmons, inclavared's sockets. */
  async function assertNothingLeft(ids: string[], mountsBefore: string[], context: string): Promise<void> {
    const problems: string[] = [];
    for (const id of ids) problems.push(...leftovers(await inspectContainer(setup, id, { listed: [] })));
    // containers/storage bind-mounts its overlay home (graphroot/overlay) onto itself while the store is in use:
    // the driver's, not a container's. A container's own mounts are below it (overlay/ID/merged, shm).
    const driverHome = path.join(tmp, 'podman', 'root', 'overlay');
    const mounts = mountsUnder([tmp]).filter((m) => !mountsBefore.includes(m) && m !== driverHome);
    if (mounts.length > 0) problems.push(`host mounts left: ${mounts.join(', ')}`);
    problems.push(...orphanSocketDirs(setup.inclavaredRoot).map((d) => `orphan socket dir ${d}`));
    problems.push(...registeredKeys(setup.inclavaredRoot).map((k) => `inclavared still registers ${k}`));
    const conmons = (await listProcesses()).filter((p) => path.basename(p.argv[0] ?? '') === 'conmon' && p.argv.some((a) => a.startsWith(tmp)));
    problems.push(...conmons.map((p) => `conmon ${p.pid} still runs`));
    assert.deepEqual(problems, [], context);
  }

  for (let round = 1; round <= ROUNDS; round++) {
    void test(`round ${round}: ${N} concurrent podman run --rm (plain, sim, wasm) each end with their own exit code and leave nothing`, async () => {
      const mountsBefore = mountsUnder([tmp]);
      const dir = path.join(tmp, `round-${round}`);
      await mkdir(dir);
      const jobs = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const kind = KINDS[i % KINDS.length]!;
          // Round 1 counts up from 10, round 2 down: a result handed to the wrong container shows.
          const code = round % 2 === 1 ? 10 + i : 10 + N - 1 - i;
          const cidfile = path.join(dir, `${i}.cid`);
          return { kind, code, cidfile, args: await container(kind, code, cidfile) };
        }),
      );
      const t0 = performance.now();
      const results = await Promise.all(jobs.map((j) => run('podman', j.args, { env, timeoutMs: 900_000 })));
      const seconds = (performance.now() - t0) / 1000;
      const wrong = results
        .map((r: RunResult, i) => ({ r, j: jobs[i]! }))
        .filter(({ r, j }) => r.code !== j.code)
        .map(({ r, j }) => `${j.kind} container expected ${j.code}: ${describeRun('podman', j.args, r)}`);
      console.log(`load round ${round}: ${N} containers in ${seconds.toFixed(1)} s (${(N / seconds).toFixed(2)}/s), ${wrong.length} wrong exit codes`);
      assert.deepEqual(wrong, [], `round ${round}: wrong exit codes`);
      const ids = await Promise.all(jobs.map(async (j) => (await readFile(j.cidfile, 'utf8')).trim()));
      for (const id of ids) assert.match(id, /^[0-9a-f]{64}$/);
      // conmon exits a moment after podman run --rm returns.
      await waitFor('conmon to exit', async () => !(await listProcesses()).some((p) => path.basename(p.argv[0] ?? '') === 'conmon' && p.argv.some((a) => a.startsWith(tmp))), { timeoutMs: 30_000 });
      await assertNothingLeft(ids, mountsBefore, `round ${round}`);
    });
  }

  void test(`${ATTESTS} concurrent rune attest of one sim container: fresh nonces, every piece of evidence verifies and carries its nonce`, async () => {
    const mountsBefore = mountsUnder([tmp]);
    const started = await run('podman', ['--runtime', runtime, 'run', '-d', '--pull', 'never', '--network', 'none', '--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim', IMAGE, 'sleep', '600'], { env });
    assert.equal(started.code, 0, describeRun('podman run -d', [], started));
    const id = started.stdout.trim();
    const description = JSON.parse(await readFile(path.join(stateRoot, id, 'enclave.json'), 'utf8')) as { measurement: string };
    const cert = path.join(tmp, 'platform-cert.pem');
    const certOut = await run(process.execPath, [path.join(repoRoot, 'dist/inclavared.mjs'), 'platform-cert', '--data-dir', env.INCLAVARED_DATA_DIR!], { env });
    assert.equal(certOut.code, 0, certOut.stderr);
    await writeFile(cert, certOut.stdout);

    const dir = path.join(tmp, 'attest');
    await mkdir(dir);
    const nonces = Array.from({ length: ATTESTS }, () => randomBytes(32).toString('hex'));
    const t0 = performance.now();
    const results = await Promise.all(
      nonces.map((nonce, i) => run(runtime, ['attest', id, '--report-data', nonce, '--out', path.join(dir, `${i}.bin`), '--json'], { env, timeoutMs: 300_000 })),
    );
    const seconds = (performance.now() - t0) / 1000;
    const failed = results.filter((r) => r.code !== 0).map((r) => describeRun('rune attest', [], r));
    console.log(`load attest: ${ATTESTS} concurrent rune attest in ${seconds.toFixed(1)} s, ${failed.length} failed`);
    assert.deepEqual(failed, []);
    for (let i = 0; i < ATTESTS; i++) {
      const res = await verify({ evidence: path.join(dir, `${i}.bin`), tee: 'sim', trustAnchors: [cert], json: true });
      const report = JSON.parse(res.stdout) as { verified: boolean; claims: { reportData: string; measurements: { measurement: string } } };
      assert.equal(report.verified, true, `evidence ${i}: ${res.stdout}`);
      assert.equal(report.claims.reportData, nonces[i]!.padEnd(128, '0'), `evidence ${i} carries its own nonce`);
      assert.equal(report.claims.measurements.measurement, description.measurement);
    }

    const removed = await run('podman', ['--runtime', runtime, 'rm', '--force', '--time', '0', id], { env });
    assert.equal(removed.code, 0, describeRun('podman rm', [], removed));
    await waitFor('conmon to exit', async () => !(await listProcesses()).some((p) => path.basename(p.argv[0] ?? '') === 'conmon' && p.argv.some((a) => a.startsWith(tmp))), { timeoutMs: 30_000 });
    await assertNothingLeft([id], mountsBefore, 'after the attested container was removed');
  });
});
