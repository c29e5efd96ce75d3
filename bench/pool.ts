/**
 * bench/pool.ts: what inclavared's enclave pool saves (docs/enclave-pool.md). For sim and wasm enclave
 * containers, in one run and alternating: `rune create` (to init-runelet ready) and create + start + the
 * workload's end, with the pool warm, with the pool off (RUNE_POOL=0), and for plain runc on the same rootfs.
 * Prints medians and ratios; run as `node --import tsx bench/pool.ts [rounds]` after `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBundle, makeBusyboxRootfs } from '../test/support/busybox.ts';
import { buildWasm } from '../test/support/wasm.ts';
import { poolRequest } from '../src/attestation-socket/client.ts';
import type { PoolStatus } from '../src/inclavared/pool/manager.ts';

const rounds = Number(process.argv[2] ?? 10);
const repo = new URL('..', import.meta.url).pathname;
const RUNE = join(repo, 'dist/rune');
const work = mkdtempSync(join(tmpdir(), 'bench-pool-'));
const ird = join(work, 'ird');
const env = { ...process.env, INCLAVARED_ROOT: ird, INCLAVARED_DATA_DIR: join(work, 'ird-data') };
const rootfs = join(work, 'rootfs');
makeBusyboxRootfs(rootfs);
writeFileSync(join(rootfs, 'hello.wasm'), await buildWasm('hello'));
const bundles = {
  sim: makeBundle(join(work, 'sim'), { rootfs, args: ['true'], env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'] }),
  wasm: makeBundle(join(work, 'wasm'), { rootfs, args: ['/hello.wasm'], env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm'] }),
  plain: makeBundle(join(work, 'plain'), { rootfs, args: ['true'] }),
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const root = join(work, 'root');
let n = 0;

async function warm(key: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const s = (await poolRequest(ird, 'GET', '/v1/pool').catch(() => undefined)) as PoolStatus | undefined;
    if (s?.keys.find((k) => k.key === key)?.ready === 1) return;
    await sleep(100);
  }
  throw new Error(`the pool did not warm ${key}`);
}

/** One container: [create ms, create+start+end ms]. */
function one(bundle: string, pool: boolean): [number, number] {
  const id = `b${++n}`;
  const opts = { stdio: 'ignore' as const, env: { ...env, RUNE_POOL: pool ? '1' : '0' } };
  const t0 = performance.now();
  const c = spawnSync(RUNE, ['--root', root, 'create', '--bundle', bundle, id], opts);
  const t1 = performance.now();
  if (c.status !== 0) throw new Error(`create ${id} failed`);
  spawnSync(RUNE, ['--root', root, 'start', id], opts);
  const exitFile = join(root, id, 'control', 'exit');
  const plain = bundle === bundles.plain;
  for (;;) {
    if (plain ? !spawnSync(RUNE, ['--root', root, 'state', id], { env }).stdout.toString().includes('"running"') : existsSync(exitFile)) break;
  }
  const t2 = performance.now();
  spawnSync(RUNE, ['--root', root, 'delete', '--force', id], opts);
  return [t1 - t0, t2 - t0];
}

// The first enclave create starts inclavared (with its default pool: sim=1, wasm=1).
one(bundles.sim, false);
const modes = ['sim pool', 'sim no pool', 'wasm pool', 'wasm no pool', 'plain runc'] as const;
const results = new Map<string, [number, number][]>(modes.map((m) => [m, []]));
for (let r = 0; r < rounds; r++) {
  for (const mode of modes) {
    const [kind, ...rest] = mode.split(' ');
    const pool = rest.join(' ') === 'pool';
    if (pool) await warm(kind!);
    else await sleep(1200); // the same pause as a refill: every mode starts on a machine at rest
    results.get(mode)!.push(one(bundles[kind as 'sim' | 'wasm' | 'plain'], pool));
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const plainRun = median(results.get('plain runc')!.map((x) => x[1]));
console.log(`rounds: ${rounds}; medians in ms (create = rune create to init ready; run = create + start + the workload's end)`);
for (const mode of modes) {
  const xs = results.get(mode)!;
  const create = median(xs.map((x) => x[0]));
  const run = median(xs.map((x) => x[1]));
  console.log(`${mode.padEnd(13)} create ${create.toFixed(0).padStart(5)}  run ${run.toFixed(0).padStart(5)}  run/plain runc ${(run / plainRun).toFixed(2)}`);
}
for (const kind of ['sim', 'wasm']) {
  const p = median(results.get(`${kind} pool`)!.map((x) => x[0]));
  const o = median(results.get(`${kind} no pool`)!.map((x) => x[0]));
  console.log(`${kind}: create with the pool / without ${(p / o).toFixed(2)} (${(o - p).toFixed(0)} ms saved)`);
}
const pid = Number(readFileSync(join(ird, 'inclavared.pid'), 'utf8'));
process.kill(pid, 'SIGTERM');
await sleep(500);
rmSync(work, { recursive: true, force: true });
