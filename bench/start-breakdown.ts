/**
 * Benchmark (issue #15 item 1): where an enclave container's start time goes, step by step, as a function of
 * the rootfs size (sim and native PAL) and of the WebAssembly module size (wasm). Each container is a
 * `podman run --rm` to exit through dist/rune with RUNE_TIMINGS set, so rune's create and init-runelet record
 * the wall-clock time of each step (src/rune/enclave/lifecycle.ts, src/init/init-runelet.ts); the bench adds
 * the podman run's own start and end. The figures are medians over the rounds, per step, with the digest
 * cache off (what every start cost before the cache) and warm.
 *
 * Images: busybox plus /pad (random files, see start-support.ts) of 1, 10, 100 and 500 MB for sim and native;
 * busybox plus /app.wasm, a WASI module of 1, 10 and 50 MB, for wasm. Native PAL: the skeleton PAL
 * (test/fixtures/pal/skeleton.c, v3) compiled here when a C compiler is present.
 *
 * Usage (root, after npm run build): node --import tsx bench/start-breakdown.ts [--rounds N] [--sizes 1,10,100,500] [--wasm-sizes 1,10,50]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { podmanEnv, podmanReset, removeTempDir, repoRoot, type OciImage } from '../test/support/fixtures.ts';
import { writebackMarginNs } from '../src/rune/enclave/digest-cache.ts';
import { arg, loadImage, makeSizedImage, makeSizedWasm, median, modeConfs, readTimings, startPoolDaemon, steps, timedRun, type Mode } from './start-support.ts';

const RUNE = join(repoRoot, 'dist/rune');
const ROUNDS = Number(arg('--rounds', '5'));
const SIZES = arg('--sizes', '1,10,100,500').split(',').map(Number);
const WASM_SIZES = arg('--wasm-sizes', '1,10,50').split(',').map(Number);

async function main(): Promise<void> {
  if (!existsSync(RUNE)) throw new Error('dist/rune is missing: run npm run build');
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; ${ROUNDS} rounds`);
  const work = mkdtempSync(join(tmpdir(), 'start-breakdown-'));
  const base = await podmanEnv(join(work, 'podman'), { runtimeBinary: RUNE });
  let stopDaemon = (): void => undefined;
  try {
    const cacheDir = join(work, 'cache');
    const timings = join(work, 'timings');
    mkdirSync(timings, { recursive: true });
    const pool = startPoolDaemon(join(work, 'podman'));
    stopDaemon = pool.stop;
    const modes: Mode[] = [
      { name: 'cache off', runtime: 'rune', env: { RUNE_CACHE: 'off', RUNE_POOL: '0', RUNE_TIMINGS: timings } },
      { name: 'cache warm', runtime: 'rune', env: { RUNE_CACHE_DIR: cacheDir, RUNE_POOL: '0', RUNE_TIMINGS: timings } },
      { name: 'cache + pool warm', runtime: 'rune', env: { RUNE_CACHE_DIR: cacheDir, RUNE_TIMINGS: timings }, before: pool.ready },
    ];
    const envs = modeConfs(base, modes, join(work, 'confs'));

    // Images (the time to build and load them is not measured).
    const images = new Map<string, OciImage>();
    for (const mb of SIZES) images.set(`sim-${mb}`, await makeSizedImage(join(work, `img-${mb}`), `docker.io/inclavare/pad${mb}:latest`, mb));
    for (const mb of WASM_SIZES) {
      images.set(`wasm-${mb}`, await makeSizedImage(join(work, `wimg-${mb}`), `docker.io/inclavare/wasm${mb}:latest`, 0, { '/app.wasm': { content: makeSizedWasm(mb), mode: 0o755 } }));
    }
    for (const image of images.values()) await loadImage(base, image);
    const loaded = Date.now();
    let pal: string | undefined;
    if (spawnSync('cc', ['--version']).status === 0) {
      pal = join(work, 'liberpal-skeleton-v3.so');
      const cc = spawnSync('cc', ['-shared', '-fPIC', '-DPAL_VERSION=3', '-o', pal, join(repoRoot, 'test/fixtures/pal/skeleton.c')]);
      if (cc.status !== 0) pal = undefined;
    }
    // The cache records only files older than its racy margin: wait until the images' files are.
    const margin = Number(writebackMarginNs() / 1_000_000n);
    const wait = loaded + margin + 1000 - Date.now();
    if (wait > 0) {
      console.log(`waiting ${(wait / 1000).toFixed(0)} s for the digest cache's racy margin (files changed in the last ${margin / 1000} s are not cached)`);
      await new Promise((r) => setTimeout(r, wait));
    }

    const kinds: { kind: string; sizes: number[]; args: (mb: number) => string[]; expect: RegExp }[] = [
      { kind: 'sim', sizes: SIZES, args: (mb) => ['--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim', images.get(`sim-${mb}`)!.reference, 'true'], expect: /^$/ },
      { kind: 'wasm', sizes: WASM_SIZES, args: (mb) => ['--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=wasm', images.get(`wasm-${mb}`)!.reference, '/app.wasm'], expect: /^hello from wasm\n$/ },
    ];
    if (pal !== undefined) {
      kinds.push({ kind: 'native PAL (skeleton v3)', sizes: SIZES, args: (mb) => ['--env', 'ENCLAVE_TYPE=sim', '--env', `ENCLAVE_RUNTIME_PATH=${pal}`, images.get(`sim-${mb}`)!.reference, '/bin/sh'], expect: /\/bin\/sh/ });
    } else {
      console.log('native PAL: no C compiler, skipped');
    }

    for (const { kind, sizes, args, expect } of kinds) {
      for (const mode of modes) {
        const env = envs.get(mode.name)!;
        const bySize = new Map<number, Record<string, number[]>>();
        const rootfsMb = new Map<number, number>();
        for (const mb of sizes) {
          // One run first: Node.js and the page cache warm, and in "cache warm" the cache filled.
          await mode.before?.(kind);
          timedRun(env, RUNE, work, args(mb));
          const acc: Record<string, number[]> = {};
          for (let r = 0; r < ROUNDS; r++) {
            await mode.before?.(kind);
            const run = timedRun(env, RUNE, work, args(mb));
            if (!expect.test(run.stdout)) throw new Error(`${kind} ${mb} MB printed ${JSON.stringify(run.stdout.slice(0, 200))}`);
            const t = readTimings(timings, run.id);
            if (t === undefined) throw new Error(`no RUNE_TIMINGS files for ${run.id}`);
            rootfsMb.set(mb, t.create.measured.bytes / (1024 * 1024));
            if (mode.name !== 'cache off' && r === 0) {
              const c = t.create.measured.cache;
              console.log(`  ${kind} ${mb} MB warm: cache ${c === undefined ? 'off' : c.untrusted ?? `${c.hits} hits, ${c.misses} hashed`}`);
            }
            for (const [step, ms] of Object.entries(steps(run, t))) (acc[step] ??= []).push(ms);
          }
          bySize.set(mb, acc);
        }
        const unit = kind === 'wasm' ? 'module' : 'rootfs padding';
        console.log(`\n${kind}, ${mode.name}: median ms per step (${unit} size; rootfs hashed: ${sizes.map((mb) => `${rootfsMb.get(mb)!.toFixed(1)} MB`).join(', ')})\n`);
        console.log(`| step | ${sizes.map((mb) => `${mb} MB`).join(' | ')} |`);
        console.log(`|---|${sizes.map(() => '---').join('|')}|`);
        for (const step of Object.keys(bySize.get(sizes[0]!)!)) {
          const cells = sizes.map((mb) => median(bySize.get(mb)![step]!).toFixed(1));
          console.log(`| ${step === 'total' ? '**total (podman run --rm)**' : step} | ${cells.join(' | ')} |`);
        }
      }
    }
  } finally {
    stopDaemon();
    await podmanReset(base);
    await removeTempDir(work).catch(() => rmSync(work, { recursive: true, force: true }));
  }
}

await main();
