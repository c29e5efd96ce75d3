/**
 * Shared by bench/start-breakdown.ts and bench/enclave-start.ts: images of a given rootfs size, WASI modules of
 * a given size, podman configurations per mode (each its own containers.conf, so that the variables conmon
 * hands rune - RUNE_CACHE, RUNE_CACHE_DIR, RUNE_TIMINGS - differ per mode on one storage), timed `podman run
 * --rm` runs, and the step timings rune and init-runelet write with RUNE_TIMINGS.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inclavaredEnv, makeOciImage, podmanLoadImage, repoRoot, type OciImage } from '../test/support/fixtures.ts';
import { poolRequest } from '../src/attestation-socket/client.ts';
import type { PoolStatus } from '../src/inclavared/pool/manager.ts';

export const RUNC = '/usr/sbin/runc';

export function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

export const median = (v: readonly number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function must(cmd: string, args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * A busybox image with `padMb` MB more in /pad: files of at most 4 MB of random bytes (incompressible, as
 * binaries and libraries mostly are) and one small file per 256 KB, so that a larger rootfs also has more paths.
 */
export async function makeSizedImage(dir: string, name: string, padMb: number, extra: Record<string, { content: Uint8Array; mode?: number }> = {}): Promise<OciImage> {
  const files: Record<string, { content: Uint8Array; mode?: number }> = { ...extra };
  let left = padMb * 1024 * 1024;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, 4 * 1024 * 1024);
    files[`/pad/big/f${i}`] = { content: randomBytes(size) };
    left -= size;
  }
  for (let i = 0; i < padMb * 4; i++) files[`/pad/small/d${i % 16}/s${i}`] = { content: randomBytes(64 + (i % 512)) };
  return makeOciImage(dir, { name, cmd: ['true'], files });
}

const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const str = (s: string): number[] => [...leb(Buffer.byteLength(s)), ...Buffer.from(s)];
const section = (id: number, body: number[]): Buffer => Buffer.from([id, ...leb(body.length), ...body]);

/**
 * A WASI command of about `mb` MB that writes "hello from wasm\n" (the program of test/support/wasm.ts)
 * plus padding functions that are never called, each a run of 64-bit constants dropped: code V8 must decode
 * and validate, as in a large compiled program. Written directly in the binary format (wabt's text parser
 * needs minutes and gigabytes for 50 MB of text); the bench checks the module's output.
 */
export function makeSizedWasm(mb: number): Buffer {
  const constDrop = [0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x1a]; // i64.const 2^62-1; drop
  const padBody = Buffer.from([0x00, ...Array.from({ length: 180 }, () => constDrop).flat(), 0x0b]);
  const padEntry = Buffer.concat([Buffer.from(leb(padBody.length)), padBody]);
  const count = Math.max(0, Math.floor((mb * 1024 * 1024) / padEntry.length));
  // _start: store iovec {16, 16} at 0, fd_write(1, 0, 1, 8), drop
  const start = [0x00, 0x41, 0, 0x41, 16, 0x36, 2, 0, 0x41, 4, 0x41, 16, 0x36, 2, 0, 0x41, 1, 0x41, 0, 0x41, 1, 0x41, 8, 0x10, 0, 0x1a, 0x0b];
  const types = section(1, vec([[0x60, ...vec([[0x7f], [0x7f], [0x7f], [0x7f]]), ...vec([[0x7f]])], [0x60, 0, 0]]));
  const imports = section(2, vec([[...str('wasi_snapshot_preview1'), ...str('fd_write'), 0x00, 0]]));
  const funcs = Buffer.concat([Buffer.from([3]), Buffer.from(leb(leb(count + 1).length + count + 1)), Buffer.from(leb(count + 1)), Buffer.alloc(count + 1, 1)]);
  const memory = section(5, vec([[0x00, 1]]));
  const exports = section(7, vec([[...str('memory'), 0x02, 0], [...str('_start'), 0x00, 1]]));
  const startEntry = Buffer.from([...leb(start.length), ...start]);
  const codeBody = Buffer.concat([Buffer.from(leb(count + 1)), startEntry, ...Array.from({ length: count }, () => padEntry)]);
  const code = Buffer.concat([Buffer.from([10]), Buffer.from(leb(codeBody.length)), codeBody]);
  const data = section(11, vec([[0x00, 0x41, 16, 0x0b, ...str('hello from wasm\n')]]));
  return Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), types, imports, funcs, memory, exports, code, data]);
}

/** One way of running a container: its runtime, the variables conmon hands it, and what to do before each run. */
export interface Mode {
  name: string;
  runtime: 'runc' | 'rune';
  /** Variables for rune (through conmon_env_vars). */
  env?: Record<string, string>;
  /** Called before each run with the kind of container (sim, wasm): e.g. emptying the cache for a cold run, waiting for the pool. */
  before?: (kind: string) => void | Promise<void>;
}

/** A containers.conf per mode: the base one with the mode's variables added to conmon_env_vars. */
export function modeConfs(base: NodeJS.ProcessEnv, modes: readonly Mode[], dir: string): Map<string, NodeJS.ProcessEnv> {
  const text = readFileSync(base.CONTAINERS_CONF!, 'utf8');
  const out = new Map<string, NodeJS.ProcessEnv>();
  mkdirSync(dir, { recursive: true });
  for (const [i, mode] of modes.entries()) {
    const vars = Object.entries(mode.env ?? {}).map(([k, v]) => JSON.stringify(`${k}=${v}`));
    const keys = Object.keys(mode.env ?? {});
    // The mode's variables replace the base's of the same name (RUNE_CACHE_DIR is set for every test env).
    const conf = text.replace(/^conmon_env_vars = \[(.*)\]$/m, (_, list: string) => {
      const kept = (JSON.parse(`[${list}]`) as string[]).filter((e) => !keys.includes(e.slice(0, e.indexOf('='))));
      return `conmon_env_vars = [${[...kept.map((e) => JSON.stringify(e)), ...vars].join(', ')}]`;
    });
    const path = join(dir, `containers-${i}.conf`);
    writeFileSync(path, conf);
    out.set(mode.name, { ...base, CONTAINERS_CONF: path });
  }
  return out;
}

/** Loads an image into podman's store. */
export const loadImage = podmanLoadImage;

/**
 * CPU time used so far by every process of the machine, in ms: the root cgroup's cpuacct.usage (cgroup v1,
 * ns), else /proc/stat's busy time (user, nice, system, irq, softirq, steal; in clock ticks of 10 ms).
 */
export function machineCpuMs(): number {
  for (const file of ['/sys/fs/cgroup/cpuacct/cpuacct.usage', '/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage']) {
    try {
      return Number(readFileSync(file, 'utf8').trim()) / 1e6;
    } catch {
      // not cgroup v1 here
    }
  }
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) * 10;
}

/** What one timed `podman run --rm` gave. */
export interface RunResult {
  ms: number;
  /** CPU time the whole machine used meanwhile (every process: podman, conmon, runc, rune, inclavared, the workload). */
  cpuMs: number;
  startEpochMs: number;
  endEpochMs: number;
  id: string;
  stdout: string;
}

/** `podman run --rm` to exit, timed; the container's id from --cidfile. */
export function timedRun(env: NodeJS.ProcessEnv, runtime: string, work: string, args: string[]): RunResult {
  const cidfile = join(work, `cid-${randomBytes(6).toString('hex')}`);
  const startEpochMs = performance.timeOrigin + performance.now();
  const cpu0 = machineCpuMs();
  const t0 = process.hrtime.bigint();
  const stdout = must('podman', ['--runtime', runtime, 'run', '--rm', '--network', 'none', '--pull', 'never', '--cidfile', cidfile, ...args], env);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpuMs = machineCpuMs() - cpu0;
  const id = existsSync(cidfile) ? readFileSync(cidfile, 'utf8').trim() : '';
  rmSync(cidfile, { force: true });
  return { ms, cpuMs, startEpochMs, endEpochMs: startEpochMs + ms, id, stdout };
}

/** The step times rune (create) and init-runelet (init) wrote for container `id` under RUNE_TIMINGS's directory. */
export interface StepTimings {
  create: { overlapped?: boolean; marks: Record<string, number>; measured: { entries: number; bytes: number; cache?: { hits: number; misses: number; recorded: number; hitBytes: number; untrusted?: string; note?: string } } };
  init: { marks: Record<string, number> };
}

export function readTimings(dir: string, id: string): StepTimings | undefined {
  try {
    const create = JSON.parse(readFileSync(join(dir, `${id}.create.json`), 'utf8')) as StepTimings['create'];
    const init = JSON.parse(readFileSync(join(dir, `${id}.init.json`), 'utf8')) as StepTimings['init'];
    rmSync(join(dir, `${id}.create.json`), { force: true });
    rmSync(join(dir, `${id}.init.json`), { force: true });
    return { create, init };
  } catch {
    return undefined;
  }
}

/** The steps of an enclave container's start, from a run and its timings (ms; see docs/benchmarks.md). */
export function steps(run: RunResult, t: StepTimings): Record<string, number> {
  const c = t.create.marks;
  const i = t.init.marks;
  const d = (a: number | undefined, b: number | undefined): number => (a === undefined || b === undefined ? Number.NaN : b - a);
  return {
    'podman until rune create': d(run.startEpochMs, c.processStart),
    'rune create: Node.js start': d(c.processStart, c.createStart),
    // Overlapped (the default since issue #15): config, registration (pending), then runc create while the
    // measurement runs and is bound; otherwise config + measurement, registration, runc create.
    'rune create: config + measurement': t.create.overlapped === true ? d(c.createStart, c.configured) : d(c.createStart, c.measured),
    'rune create: inclavared registration': t.create.overlapped === true ? d(c.configured, c['registered with inclavared']) : d(c.measured, c['registered with inclavared']),
    'rune create: runc create': d(c['registered with inclavared'] ?? c.measured, c['backend created']),
    'rune create: measurement during runc create': t.create.overlapped === true ? d(c['registered with inclavared'] ?? c.configured, c.measured) : Number.NaN,
    'rune create: measurement bound': t.create.overlapped === true ? d(c.measured, c['measurement bound']) : Number.NaN,
    'rune create: runc start of init-runelet': d(c['backend created'], c['init-runelet started']),
    'init-runelet: Node.js start': d(i.processStart, i.main),
    'init-runelet: PAL load + init': d(i.main, i.palInit),
    'rune create: wait for init-runelet ready': d(c['init-runelet started'], c['enclave runtime initialised']),
    'podman until rune start': d(c['enclave runtime initialised'], i.startSignal),
    'workload create (wasm: read + compile)': d(i.startSignal, i.processCreated),
    'workload exec to exit': d(i.processCreated, i.workloadExited),
    'exit to podman done': d(i.workloadExited, run.endEpochMs),
    total: run.ms,
  };
}

/**
 * inclavared with the enclave pool (one warm worker per kind: sim, wasm, native) where podmanEnv(`podmanDir`) tells conmon to find
 * it; `ready(kind)` waits until a worker of that kind waits (call it before a run that should be pool-served).
 */
export function startPoolDaemon(podmanDir: string): { ready: (kind: string) => Promise<void>; stop: () => void } {
  const located = inclavaredEnv(join(podmanDir, 'podman'));
  const root = located.INCLAVARED_ROOT;
  const daemon = spawn(process.execPath, [join(repoRoot, 'dist/inclavared.mjs'), 'serve', '--root', root, '--data-dir', located.INCLAVARED_DATA_DIR, '--pool', 'sim=1,wasm=1,native=1'], { stdio: 'ignore' });
  const ready = async (kind: string): Promise<void> => {
    const key = kind.startsWith('native') ? 'native' : kind;
    for (let i = 0; i < 300; i++) {
      const s = (await poolRequest(root, 'GET', '/v1/pool').catch(() => undefined)) as PoolStatus | undefined;
      if ((s?.keys.find((k) => k.key === key)?.ready ?? 0) >= 1) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`inclavared's pool has no ${key} worker ready after 15 s`);
  };
  return { ready, stop: () => void daemon.kill('SIGTERM') };
}
