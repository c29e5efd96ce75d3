/**
 * Benchmark (issue #15 item 6): `podman run --rm` to exit of `sim` and `wasm` enclave containers against the
 * plain runc container of the same image in the same run, over rootfs sizes (sim: busybox plus 1, 10, 100,
 * 500 MB) and module sizes (wasm: 1, 10, 50 MB), in each mode of MODES: without the digest cache and the
 * enclave pool (RUNE_CACHE=off, RUNE_POOL=0), cold (cache emptied before each run, no pool: a first start),
 * the cache warm without the pool, and both warm (inclavared's pool has a worker of the container's kind
 * ready before each run), also with the Node.js init-runelet as PID 1 of sim containers (RUNE_SIM_INIT=node,
 * as before init-runelet's C build; wasm containers always have it), measured first (RUNE_CREATE_OVERLAP=0),
 * with the rootfs walked in JavaScript only (RUNE_NATIVE_WALK=0, as before the C walk).
 * Each round runs every mode once, in a rotating order; the figures are medians of the times and of the
 * per-round ratios against plain/runc. Flatness: time at the largest size over time at the smallest. A second
 * table gives the CPU time the whole machine used during each start (every process: the root cgroup's
 * cpuacct.usage): the work a mode adds, which on a machine with few CPUs decides its time. Every run, of
 * every mode, waits until the pool has a worker of its kind ready, so that no refill runs during it.
 *
 * To add a mode, append to MODES: a name, the runtime, the variables conmon hands rune (RUNE_*), and what to
 * do before each run.
 *
 * Usage (root, after npm run build): node --import tsx bench/enclave-start.ts [--rounds N] [--sizes 1,10,100,500] [--wasm-sizes 1,10,50]
 *   [--modes "cache + pool warm,..."] (";" separates names that contain commas; plain/runc always runs)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { podmanEnv, podmanReset, removeTempDir, repoRoot, type OciImage } from '../test/support/fixtures.ts';
import { writebackMarginNs } from '../src/rune/enclave/digest-cache.ts';
import { arg, loadImage, makeSizedImage, makeSizedWasm, median, modeConfs, RUNC, startPoolDaemon, timedRun, type Mode, type RunResult } from './start-support.ts';

const RUNE = join(repoRoot, 'dist/rune');
const ROUNDS = Number(arg('--rounds', '7'));
const SIZES = arg('--sizes', '1,10,100,500').split(',').map(Number);
const WASM_SIZES = arg('--wasm-sizes', '1,10,50').split(',').map(Number);

async function main(): Promise<void> {
  if (!existsSync(RUNE)) throw new Error('dist/rune is missing: run npm run build');
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; ${ROUNDS} rounds`);
  const work = mkdtempSync(join(tmpdir(), 'enclave-start-'));
  const base = await podmanEnv(join(work, 'podman'), { runtimeBinary: RUNE });
  let stopDaemon = (): void => undefined;
  try {
    const cacheDir = join(work, 'cache');
    mkdirSync(cacheDir, { mode: 0o700 });
    const pool = startPoolDaemon(join(work, 'podman'));
    stopDaemon = pool.stop;
    const MODES: Mode[] = [
      { name: 'plain/runc', runtime: 'runc' },
      { name: 'no cache, no pool', runtime: 'rune', env: { RUNE_CACHE: 'off', RUNE_POOL: '0' } },
      { name: 'cold', runtime: 'rune', env: { RUNE_CACHE_DIR: cacheDir, RUNE_POOL: '0' }, before: () => rmSync(join(cacheDir, 'digests'), { recursive: true, force: true }) },
      { name: 'cache warm, no pool', runtime: 'rune', env: { RUNE_CACHE_DIR: cacheDir, RUNE_POOL: '0' } },
      { name: 'cache + pool warm', runtime: 'rune', env: { RUNE_CACHE_DIR: cacheDir } },
      // The same with the rootfs measured before runc creates the container instead of meanwhile.
      { name: 'cache + pool warm (measured first)', runtime: 'rune', env: { RUNE_CACHE_DIR: cacheDir, RUNE_CREATE_OVERLAP: '0' } },
      // The same with the Node.js init-runelet as PID 1 of sim containers (before it had a C build; wasm: unchanged).
      { name: 'cache + pool warm (Node.js PID 1)', runtime: 'rune', env: { RUNE_CACHE_DIR: cacheDir, RUNE_SIM_INIT: 'node' } },
      // The same with the rootfs walked in JavaScript only (before the C walk of the warm path).
      { name: 'cache + pool warm (JavaScript walk)', runtime: 'rune', env: { RUNE_CACHE_DIR: cacheDir, RUNE_NATIVE_WALK: '0' } },
    ];
    // --modes NAME,NAME (or NAME;NAME, for names with commas): only these (plain/runc is always run: the ratios are to it).
    const modesArg = arg('--modes', '');
    const only = modesArg.split(modesArg.includes(';') ? ';' : ',').map((m) => m.trim()).filter((m) => m !== '');
    if (only.length > 0) {
      const unknown = only.filter((m) => !MODES.some((mode) => mode.name === m));
      if (unknown.length > 0) throw new Error(`unknown mode(s) ${unknown.join(', ')}: the modes are ${MODES.map((m) => m.name).join(', ')}`);
      MODES.splice(0, MODES.length, ...MODES.filter((m) => m.name === 'plain/runc' || only.includes(m.name)));
    }
    const envs = modeConfs(base, MODES, join(work, 'confs'));

    const images = new Map<string, OciImage>();
    for (const mb of SIZES) images.set(`sim-${mb}`, await makeSizedImage(join(work, `img-${mb}`), `docker.io/inclavare/pad${mb}:latest`, mb));
    for (const mb of WASM_SIZES) {
      images.set(`wasm-${mb}`, await makeSizedImage(join(work, `wimg-${mb}`), `docker.io/inclavare/wasm${mb}:latest`, 0, { '/app.wasm': { content: makeSizedWasm(mb), mode: 0o755 } }));
    }
    for (const image of images.values()) await loadImage(base, image);
    const loaded = Date.now();
    const margin = Number(writebackMarginNs() / 1_000_000n);
    const wait = loaded + margin + 1000 - Date.now();
    if (wait > 0) {
      console.log(`waiting ${(wait / 1000).toFixed(0)} s for the digest cache's racy margin`);
      await new Promise((r) => setTimeout(r, wait));
    }

    const kinds = [
      { kind: 'sim', label: 'rootfs padding', sizes: SIZES, enclave: (mb: number) => ['--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim', images.get(`sim-${mb}`)!.reference, 'true'], plain: (mb: number) => [images.get(`sim-${mb}`)!.reference, 'true'] },
      // The plain container of a wasm image runs `true` from the same image: what a container start costs without the enclave.
      { kind: 'wasm', label: 'module', sizes: WASM_SIZES, enclave: (mb: number) => ['--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=wasm', images.get(`wasm-${mb}`)!.reference, '/app.wasm'], plain: (mb: number) => [images.get(`wasm-${mb}`)!.reference, 'true'] },
    ];
    for (const { kind, label, sizes, enclave, plain } of kinds) {
      const results = new Map<number, Map<string, { ms: number[]; ratio: number[]; cpuMs: number[] }>>();
      for (const mb of sizes) {
        const byMode = new Map(MODES.map((m) => [m.name, { ms: [] as number[], ratio: [] as number[], cpuMs: [] as number[] }]));
        const runOnce = async (mode: Mode): Promise<RunResult> => {
          // Every mode, plain runc's too, starts once the pool has refilled: a refill (a worker's Node.js
          // start and warm-up, a second after a worker was taken) must not land in another mode's run.
          await pool.ready(kind);
          await mode.before?.(kind);
          const r = timedRun(envs.get(mode.name)!, mode.runtime === 'runc' ? RUNC : RUNE, work, mode.runtime === 'runc' ? plain(mb) : enclave(mb));
          if (kind === 'wasm' && mode.runtime === 'rune' && r.stdout !== 'hello from wasm\n') throw new Error(`wasm ${mb} MB printed ${JSON.stringify(r.stdout.slice(0, 200))}`);
          return r;
        };
        for (const mode of MODES) await runOnce(mode); // warm-up: page cache, Node.js, the digest cache filled
        for (let round = 0; round < ROUNDS; round++) {
          const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]!);
          const t = new Map<string, RunResult>();
          for (const mode of order) t.set(mode.name, await runOnce(mode));
          for (const mode of MODES) {
            const r = byMode.get(mode.name)!;
            r.ms.push(t.get(mode.name)!.ms);
            r.ratio.push(t.get(mode.name)!.ms / t.get('plain/runc')!.ms);
            r.cpuMs.push(t.get(mode.name)!.cpuMs);
          }
        }
        results.set(mb, byMode);
        console.log(`  ${kind} ${mb} MB done`);
      }
      // One table per figure: a row per size, a column per mode.
      const table = (title: string, cell: (r: { ms: number[]; ratio: number[]; cpuMs: number[] }, mode: Mode) => string): void => {
        console.log(`\n${kind}: ${title}, by ${label} size\n`);
        console.log(`| ${label} | ${MODES.map((m) => m.name).join(' | ')} |`);
        console.log(`|---|${MODES.map(() => '---').join('|')}|`);
        for (const mb of sizes) console.log(`| ${mb} MB | ${MODES.map((m) => cell(results.get(mb)!.get(m.name)!, m)).join(' | ')} |`);
      };
      table('podman run --rm to exit, median ms (median ratio to plain/runc)', (r, m) =>
        m.runtime === 'runc' ? `${median(r.ms).toFixed(0)}` : `${median(r.ms).toFixed(0)} (${median(r.ratio).toFixed(2)})`);
      // The work behind the time: on a machine with few CPUs a start is as fast as the work it needs allows.
      table('CPU time of the whole machine (every process) during the start, median ms', (r) => median(r.cpuMs).toFixed(0));
      const first = sizes[0]!;
      const last = sizes[sizes.length - 1]!;
      const flat = MODES.map((m) => `${m.name} ${(median(results.get(last)!.get(m.name)!.ms) / median(results.get(first)!.get(m.name)!.ms)).toFixed(2)}`);
      console.log(`\n${kind}: time at ${last} MB / time at ${first} MB: ${flat.join(', ')}`);
    }
  } finally {
    stopDaemon();
    await podmanReset(base);
    await removeTempDir(work).catch(() => rmSync(work, { recursive: true, force: true }));
  }
}

await main();
