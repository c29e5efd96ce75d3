/**
 * Benchmark: what rune costs on a plain container, as ratios against runc measured in the same run.
 *
 * 1. Direct lifecycle: create, start, wait for the process to exit, delete, through rune and through runc
 *    with the same bundle, alternating, N pairs; prints the median of the per-pair ratios rune/runc.
 * 2. `podman run --rm` with `--runtime rune` versus `--runtime runc`, alternating, N pairs.
 * 3. `podman run --rm` of a plain container with runc, and of `sim` and `wasm` enclave containers through
 *    rune, alternating; ratios against the plain/runc run.
 * 4. Where a sim enclave container's time goes (each rune call timed) and init-runelet's peak memory.
 *
 * Usage: node --import tsx bench/rune.ts [--pairs N]   (root; dist/rune must be built)
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBundle, makeBusyboxRootfs } from '../test/support/busybox.ts';
import { buildWasm } from '../test/support/wasm.ts';
import { inclavaredEnv, makeOciImage, podmanEnv, podmanLoadImage, podmanReset, removeTempDir, repoRoot, stopInclavared } from '../test/support/fixtures.ts';

const pairsArg = process.argv.indexOf('--pairs');
const PAIRS = pairsArg > 0 ? Number(process.argv[pairsArg + 1]) : 60;
const RUNE = join(repoRoot, 'dist/rune');
const RUNC = '/usr/sbin/runc';

/** Runs a command; stderr goes to a file, since a created container keeps a pipe open until it exits. */
function must(cmd: string, args: string[], env?: NodeJS.ProcessEnv): void {
  const errFile = join(tmpdir(), `rune-bench-stderr-${process.pid}`);
  const fd = openSync(errFile, 'w');
  try {
    const res = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', fd], env: env ?? process.env });
    if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.status}): ${readFileSync(errFile, 'utf8')}`);
  } finally {
    closeSync(fd);
    rmSync(errFile, { force: true });
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Waits until a process has exited (its /proc entry is gone or a zombie), polling without a runtime call. */
function waitExit(pid: number): void {
  for (;;) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    if (/\) Z /.test(stat)) return;
    Atomics.wait(pause, 0, 0, 1); // 1 ms, without spawning anything
  }
}

/** One full lifecycle of a plain container through `runtime`; returns milliseconds. */
function lifecycle(runtime: string, root: string, bundle: string, id: string): number {
  const pidFile = join(root, `${id}.pid`);
  const t0 = process.hrtime.bigint();
  must(runtime, ['--root', root, 'create', '--bundle', bundle, '--pid-file', pidFile, id]);
  must(runtime, ['--root', root, 'start', id]);
  waitExit(Number(readFileSync(pidFile, 'utf8')));
  must(runtime, ['--root', root, 'delete', id]);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

interface Pairs {
  rune: number[];
  runc: number[];
  ratios: number[];
}

function alternate(pairs: number, one: (which: 'rune' | 'runc', i: number) => number): Pairs {
  const out: Pairs = { rune: [], runc: [], ratios: [] };
  for (let i = 0; i < pairs; i++) {
    // Alternate which goes first so warm caches favour neither.
    const order: ('rune' | 'runc')[] = i % 2 === 0 ? ['rune', 'runc'] : ['runc', 'rune'];
    const t: Record<string, number> = {};
    for (const which of order) t[which] = one(which, i);
    out.rune.push(t.rune!);
    out.runc.push(t.runc!);
    out.ratios.push(t.rune! / t.runc!);
  }
  return out;
}

function report(name: string, p: Pairs): void {
  console.log(
    `${name}: median rune ${median(p.rune).toFixed(1)} ms, runc ${median(p.runc).toFixed(1)} ms, ` +
      `median ratio rune/runc ${median(p.ratios).toFixed(3)} (${p.ratios.length} pairs)`,
  );
}

async function main(): Promise<void> {
  if (!existsSync(RUNE)) throw new Error('dist/rune is missing: run npm run build');
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${spawnSync(RUNC, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]}`);
  const work = mkdtempSync(join(tmpdir(), 'rune-bench-'));
  try {
    // 1. direct lifecycle
    const rootfs = join(work, 'rootfs');
    makeBusyboxRootfs(rootfs);
    const bundle = makeBundle(join(work, 'bundle'), { args: ['true'], rootfs });
    // State roots on tmpfs, as in every deployment (runc's /run/runc, rune's /run/rune, containerd's
    // /run/containerd/...): rune keeps a directory per container, which on a disk-backed /tmp adds file-system
    // metadata work that no engine would see.
    const stateTmp = mkdtempSync('/run/rune-bench-');
    const roots = { rune: join(stateTmp, 'rune-root'), runc: join(stateTmp, 'runc-root') };
    for (let i = 0; i < 3; i++) for (const which of ['rune', 'runc'] as const) lifecycle(which === 'rune' ? RUNE : RUNC, roots[which], bundle, `warm${i}`);
    const direct = alternate(PAIRS, (which, i) => lifecycle(which === 'rune' ? RUNE : RUNC, roots[which], bundle, `c${i}`));
    report('lifecycle (create, start, wait, delete)', direct);
    rmSync(stateTmp, { recursive: true, force: true });

    // 2. podman run --rm
    const env = await podmanEnv(join(work, 'podman'), { runtimeBinary: RUNE });
    try {
      const image = await makeOciImage(join(work, 'image'), { name: 'docker.io/inclavare/busybox:latest', cmd: ['true'] });
      await podmanLoadImage(env, image);
      const podmanRun = (which: 'rune' | 'runc'): number => {
        const t0 = process.hrtime.bigint();
        must('podman', ['--runtime', which === 'rune' ? RUNE : RUNC, 'run', '--rm', '--network', 'none', '--pull', 'never', image.reference, 'true'], env);
        return Number(process.hrtime.bigint() - t0) / 1e6;
      };
      for (let i = 0; i < 2; i++) {
        podmanRun('rune');
        podmanRun('runc');
      }
      report('podman run --rm', alternate(PAIRS, podmanRun));

      // 3. enclave containers: podman run --rm of sim and wasm enclaves through rune against plain/runc.
      const modules = join(work, 'wasm');
      mkdirSync(modules);
      writeFileSync(join(modules, 'hello.wasm'), await buildWasm('hello'));
      const base = ['run', '--rm', '--network', 'none', '--pull', 'never'];
      const variants: Record<string, string[]> = {
        'plain/runc': ['--runtime', RUNC, ...base, image.reference, 'true'],
        sim: ['--runtime', RUNE, ...base, '--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim', image.reference, 'true'],
        wasm: ['--runtime', RUNE, ...base, '--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=wasm', '-v', `${modules}:/w:ro`, image.reference, '/w/hello.wasm'],
      };
      const times: Record<string, number[]> = { 'plain/runc': [], sim: [], wasm: [] };
      const ratios: Record<string, number[]> = { sim: [], wasm: [] };
      for (let i = 0; i < PAIRS; i++) {
        const t: Record<string, number> = {};
        for (const name of i % 2 ? Object.keys(variants).reverse() : Object.keys(variants)) {
          const t0 = process.hrtime.bigint();
          must('podman', variants[name]!, env);
          t[name] = Number(process.hrtime.bigint() - t0) / 1e6;
          times[name]!.push(t[name]);
        }
        ratios.sim!.push(t.sim! / t['plain/runc']!);
        ratios.wasm!.push(t.wasm! / t['plain/runc']!);
      }
      console.log(
        `podman run --rm, enclave containers: plain/runc ${median(times['plain/runc']!).toFixed(1)} ms, ` +
          `sim ${median(times.sim!).toFixed(1)} ms (median ratio ${median(ratios.sim!).toFixed(3)}), ` +
          `wasm ${median(times.wasm!).toFixed(1)} ms (median ratio ${median(ratios.wasm!).toFixed(3)}) (${PAIRS} rounds)`,
      );
    } finally {
      await podmanReset(env);
    }
    // 4. where an enclave container's time goes, measured directly (no engine), and init-runelet's memory.
    await enclavePhases(work);
  } finally {
    await removeTempDir(work).catch(() => rmSync(work, { recursive: true, force: true }));
  }
}

/** Times each rune call of a sim enclave container's lifecycle and reads PID 1's (init-runelet-sim's) peak memory. */
async function enclavePhases(work: string): Promise<void> {
  // rune starts inclavared for enclave containers: keep it in the temp dir, and stop it afterwards.
  const confined = inclavaredEnv(work);
  Object.assign(process.env, confined);
  try {
    enclavePhasesIn(work);
  } finally {
    await stopInclavared(confined);
    delete process.env.INCLAVARED_ROOT;
    delete process.env.INCLAVARED_DATA_DIR;
  }
}

function enclavePhasesIn(work: string): void {
  const rootfs = join(work, 'rootfs');
  const root = join(work, 'phases-root');
  const bundle = makeBundle(join(work, 'enclave-bundle'), {
    args: ['sh', '-c', 'grep VmHWM /proc/1/status > /tmp/hwm'],
    rootfs,
    env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'],
    edit: (c) => {
      c.root = { path: rootfs, readonly: false };
    },
  });
  const phases: Record<string, number[]> = { 'rune create (Node.js + runc create + init-runelet start)': [], 'rune start': [], 'wait for exit': [], 'rune delete': [] };
  const names = Object.keys(phases);
  const timed = (name: string, fn: () => void): void => {
    const t0 = process.hrtime.bigint();
    fn();
    phases[name]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
  };
  for (let i = 0; i < Math.min(PAIRS, 15); i++) {
    const id = `phase${i}`;
    const pidFile = join(work, `${id}.pid`);
    timed(names[0]!, () => must(RUNE, ['--root', root, 'create', '--bundle', bundle, '--pid-file', pidFile, id]));
    timed(names[1]!, () => must(RUNE, ['--root', root, 'start', id]));
    timed(names[2]!, () => waitExit(Number(readFileSync(pidFile, 'utf8'))));
    timed(names[3]!, () => must(RUNE, ['--root', root, 'delete', id]));
  }
  console.log('sim enclave container, direct rune calls (median):');
  for (const name of names) console.log(`  ${name}: ${median(phases[name]!).toFixed(1)} ms`);
  console.log('  Node.js starts per container: 1 (rune create; PID 1 is init-runelet\'s C build); start, kill and delete stay in the launcher');
  console.log(`  PID 1 (init-runelet-sim) peak memory: ${readFileSync(join(rootfs, 'tmp/hwm'), 'utf8').trim().replace(/\s+/g, ' ')}`);
}

await main();
