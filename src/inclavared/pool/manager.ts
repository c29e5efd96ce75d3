/**
 * inclavared's enclave pool (docs/enclave-pool.md): per key, a number of warm rune workers
 * (./worker.ts), each a Node.js process with rune's program loaded and listening on a socket in
 * ROOT/pool/ready/KEY/. The launcher takes one for an enclave `create` by renaming its socket to
 * ROOT/pool/taken/ (rename is atomic: one caller wins, the others see ENOENT and try the next). A worker
 * serves one call and exits; the manager then starts another (refill in the background), within the
 * per-key size and the memory cap.
 *
 * No orphans: each worker reads a pipe from the daemon and exits when it ends (the daemon died), and a
 * starting daemon kills what a pid file in ROOT/pool/workers/ names if it is still one of its workers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../../attestation-socket/codes.ts';
import { checkSocketPath } from '../../attestation-socket/paths.ts';
import type { DaemonLog } from '../log.ts';

/** Keys the launcher asks for: the enclave runtime of the container (sim, wasm, or native for a PAL library). */
export const POOL_KEY = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** Default per-key sizes: on, small. */
export const DEFAULT_POOL_SIZES: Readonly<Record<string, number>> = Object.freeze({ sim: 1, wasm: 1 });
/** Default memory cap of all warm workers together. */
export const DEFAULT_POOL_MEMORY_BYTES = 256 * 1024 * 1024;
/** Largest size a key may have. */
export const MAX_POOL_SIZE = 16;
/** What a worker is assumed to take before one was measured. */
const ASSUMED_WORKER_BYTES = 64 * 1024 * 1024;
/** After a worker was taken, how long the refill waits: the new worker's start would compete with that create for the CPU. */
export const REFILL_DELAY_MS = 1000;
/** How long a worker may take to start listening. */
const START_TIMEOUT_MS = 30_000;

/** The pool's configuration. */
export interface PoolConfig {
  /** Per key, how many warm workers to keep (0: none). Empty: the pool is off. */
  sizes: Record<string, number>;
  /** The memory (RSS) all warm workers together may use; no worker is started beyond it. */
  memoryCapBytes: number;
}

/** What the manager needs besides its configuration. */
export interface PoolEnvironment {
  /** inclavared's ROOT (the pool lives in ROOT/pool). */
  root: string;
  /** The command that starts a worker, before the socket path: [node, --no-lazy, dist/rune-worker.mjs] (defaultWorkerCommand). */
  workerCommand: string[];
  log: DaemonLog;
}

/** One entry, as `list` shows it. */
export interface PoolEntry {
  id: string;
  key: string;
  pid: number;
  state: 'starting' | 'ready' | 'picked';
  created: string;
  rssBytes?: number;
}

/** `list`'s answer. */
export interface PoolStatus {
  enabled: boolean;
  memoryCapBytes: number;
  memoryUsedBytes: number;
  keys: { key: string; size: number; ready: number; starting: number; served: number; failed: number }[];
  entries: PoolEntry[];
}

interface Worker extends PoolEntry {
  child: ChildProcess;
  socket: string;
  /** The worker said a caller connected. */
  connected?: boolean;
}

/** How long a taken entry may wait for its caller to connect before it is killed (the caller died). */
export const CONNECT_TIMEOUT_MS = 10_000;

function poolError(code: 'POOL_EMPTY' | 'POOL_NOT_FOUND' | 'BAD_REQUEST', message: string): Error {
  return inclavaredError(INCLAVARED_ERROR_CODES[code], message);
}

/** Checks a key's name; throws INCLAVARED_ERR_BAD_REQUEST. */
export function checkPoolKey(key: unknown): string {
  if (typeof key !== 'string' || !POOL_KEY.test(key)) {
    throw poolError('BAD_REQUEST', `Cannot use pool key ${JSON.stringify(key)}: a key is 1-32 lowercase letters, digits or dashes (sim, wasm, native)`);
  }
  return key;
}

/** Checks a key's size; throws INCLAVARED_ERR_BAD_REQUEST. */
export function checkPoolSize(size: unknown): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > MAX_POOL_SIZE) {
    throw poolError('BAD_REQUEST', `Cannot set a pool size of ${JSON.stringify(size)}: it is an integer from 0 to ${MAX_POOL_SIZE}`);
  }
  return size;
}

/**
 * Parses `--pool`: `off`, or `KEY=N[,KEY=N...]` (e.g. `sim=2,wasm=1`). Throws INCLAVARED_ERR_BAD_REQUEST
 * naming what is wrong.
 */
export function parsePoolSizes(text: string): Record<string, number> {
  if (text === 'off' || text === '0') return {};
  const sizes: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^([^=]+)=([0-9]+)$/.exec(part.trim());
    if (m === null) throw poolError('BAD_REQUEST', `Cannot read --pool ${JSON.stringify(text)}: write off, or KEY=N pairs separated by commas (sim=1,wasm=1)`);
    sizes[checkPoolKey(m[1])] = checkPoolSize(Number(m[2]));
  }
  return sizes;
}

/** Parses `--pool-memory`: a number of MiB (`256`) or with a unit (`512M`, `1G`). */
export function parseMemory(text: string): number {
  const m = /^([0-9]+)([MmGg]?)$/.exec(text.trim());
  if (m === null || Number(m[1]) === 0) throw poolError('BAD_REQUEST', `Cannot read --pool-memory ${JSON.stringify(text)}: give MiB (256) or a size with M or G (512M, 1G)`);
  return Number(m[1]) * (m[2]!.toLowerCase() === 'g' ? 1024 : 1) * 1024 * 1024;
}

/** The RSS of a process in bytes (undefined when it is gone). */
function rssOf(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+([0-9]+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A process's start time (field 22 of /proc/PID/stat): with the pid, it names one process for good. */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The pool of one daemon. */
export class PoolManager {
  readonly #env: PoolEnvironment;
  readonly #sizes = new Map<string, number>();
  readonly #workers = new Map<string, Worker>();
  readonly #served = new Map<string, number>();
  readonly #failed = new Map<string, number>();
  #memoryCap: number;
  #closing = false;
  #refilling: Promise<void> | undefined;
  #again = false;
  #backoffUntil = 0;
  #measured = ASSUMED_WORKER_BYTES;
  #sweeper: NodeJS.Timeout | undefined;
  readonly dir: { pool: string; ready: string; taken: string; pids: string; warm: string };

  constructor(config: PoolConfig, env: PoolEnvironment) {
    this.#env = env;
    for (const [key, size] of Object.entries(config.sizes)) this.#sizes.set(checkPoolKey(key), checkPoolSize(size));
    this.#memoryCap = config.memoryCapBytes;
    const pool = join(env.root, 'pool');
    this.dir = { pool, ready: join(pool, 'ready'), taken: join(pool, 'taken'), pids: join(pool, 'workers'), warm: join(pool, 'warm') };
  }

  /** Kills the workers a previous daemon left (kill -9), clears the directories, starts filling. */
  start(): void {
    mkdirSync(this.dir.pool, { recursive: true, mode: 0o700 });
    mkdirSync(this.dir.pids, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.dir.pids)) {
      const file = join(this.dir.pids, name);
      try {
        const [pid, started] = readFileSync(file, 'utf8').trim().split(' ');
        // A worker a launcher took (its socket renamed into taken/) is serving that launcher's create: it is
        // no longer the pool's, exits when the create ends, and killing it would fail the create.
        const taken = existsSync(join(this.dir.taken, name.replace(/\.pid$/, '.sock')));
        // Only the very process the pid file names: same pid and same start time.
        if (!taken && Number(pid) > 0 && started !== undefined && startTimeOf(Number(pid)) === started) {
          process.kill(Number(pid), 'SIGKILL');
          this.#env.log.info(`pool: killed worker ${name.replace(/\.pid$/, '')} (pid ${pid}) left by a previous inclavared`);
        }
      } catch {
        // gone already, or unreadable: nothing to kill
      }
      rmSync(file, { force: true });
    }
    rmSync(this.dir.ready, { recursive: true, force: true });
    rmSync(this.dir.taken, { recursive: true, force: true });
    rmSync(this.dir.warm, { recursive: true, force: true });
    mkdirSync(this.dir.ready, { mode: 0o700 });
    mkdirSync(this.dir.taken, { mode: 0o700 });
    mkdirSync(this.dir.warm, { mode: 0o700 });
    this.#sweeper = setInterval(() => this.#sweep(), 2000);
    this.#sweeper.unref();
    this.refill();
  }

  /**
   * Stops every worker that was not taken, and stops refilling. A taken worker serves its launcher's create
   * to the end: it is let go (its pipes closed, its exit no longer awaited), or this process would not exit
   * until that create ends.
   */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    const waiting = [...this.#workers.values()].filter((w) => w.state !== 'picked');
    await Promise.all(waiting.map((w) => this.#stop(w)));
    for (const w of this.#workers.values()) {
      if (w.state !== 'picked') continue;
      for (const pipe of [w.child.stdin, w.child.stdout, w.child.stderr]) pipe?.destroy();
      w.child.unref();
    }
  }

  /** The pool's keys, sizes, entries and memory. */
  list(): PoolStatus {
    const entries = [...this.#workers.values()].map((w) => this.#entryOf(w));
    const keys = new Set([...this.#sizes.keys(), ...entries.map((e) => e.key)]);
    return {
      enabled: [...this.#sizes.values()].some((n) => n > 0),
      memoryCapBytes: this.#memoryCap,
      memoryUsedBytes: this.#memoryUsed(),
      keys: [...keys].sort().map((key) => ({
        key,
        size: this.#sizes.get(key) ?? 0,
        ready: entries.filter((e) => e.key === key && e.state === 'ready').length,
        starting: entries.filter((e) => e.key === key && e.state === 'starting').length,
        served: this.#served.get(key) ?? 0,
        failed: this.#failed.get(key) ?? 0,
      })),
      entries,
    };
  }

  /**
   * Takes a ready worker of `key` (as the launcher does: by renaming its socket) and returns the socket to
   * connect to. Throws INCLAVARED_ERR_POOL_EMPTY when there is none.
   */
  pick(key: string): { id: string; key: string; socket: string } {
    checkPoolKey(key);
    for (const w of this.#workers.values()) {
      if (w.key !== key || w.state !== 'ready') continue;
      const taken = join(this.dir.taken, `${w.id}.sock`);
      try {
        renameSync(w.socket, taken);
      } catch {
        w.state = 'picked'; // a launcher renamed it first
        continue;
      }
      w.state = 'picked';
      this.#watch(w);
      setTimeout(() => this.refill(), REFILL_DELAY_MS).unref();
      return { id: w.id, key, socket: taken };
    }
    throw poolError('POOL_EMPTY', `Cannot pick from the pool: no warm entry for ${key}${this.#sizes.get(key) ? '' : ' (the pool keeps none for this key)'}`);
  }

  /** Sets a key's size (0 keeps none); the pool fills or trims in the background. */
  save(key: string, size: number): PoolStatus['keys'][number] {
    checkPoolKey(key);
    checkPoolSize(size);
    this.#sizes.set(key, size);
    this.#trim(key);
    this.refill();
    return this.list().keys.find((k) => k.key === key)!;
  }

  /** Removes a key (and its waiting workers), or one entry by id. Throws INCLAVARED_ERR_POOL_NOT_FOUND. */
  async delete(what: { key: string } | { id: string }): Promise<void> {
    if ('key' in what) {
      if (!this.#sizes.has(what.key) && ![...this.#workers.values()].some((w) => w.key === what.key)) {
        throw poolError('POOL_NOT_FOUND', `Cannot delete pool key ${what.key}: the pool has no such key`);
      }
      this.#sizes.delete(what.key);
      await Promise.all([...this.#workers.values()].filter((w) => w.key === what.key && w.state !== 'picked').map((w) => this.#stop(w)));
      return;
    }
    const w = this.#workers.get(what.id);
    if (w === undefined || w.state === 'picked') throw poolError('POOL_NOT_FOUND', `Cannot delete pool entry ${what.id}: no waiting entry has this id`);
    await this.#stop(w);
    this.refill();
  }

  /** healthz: whether every key is at its size, and what is missing. */
  healthz(): { ok: boolean; missing: Record<string, number> } {
    const status = this.list();
    const missing: Record<string, number> = {};
    for (const k of status.keys) if (k.ready < k.size) missing[k.key] = k.size - k.ready;
    return { ok: Object.keys(missing).length === 0, missing };
  }

  /** Fills every key up to its size, one worker at a time, in the background. */
  refill(): void {
    if (this.#closing) return;
    if (this.#refilling !== undefined) {
      this.#again = true;
      return;
    }
    this.#refilling = this.#fill().finally(() => {
      this.#refilling = undefined;
      if (this.#again) {
        this.#again = false;
        this.refill();
      }
    });
  }

  async #fill(): Promise<void> {
    for (;;) {
      if (this.#closing) return;
      const wait = this.#backoffUntil - Date.now();
      if (wait > 0) {
        setTimeout(() => this.refill(), wait).unref();
        return;
      }
      const key = [...this.#sizes.entries()].find(([k, size]) => this.#waiting(k) < size)?.[0];
      if (key === undefined) return;
      if (this.#memoryUsed() + this.#measured > this.#memoryCap) {
        this.#env.log.debug(`pool: not starting a worker for ${key}: the pool would exceed its memory cap of ${this.#memoryCap} bytes`);
        return;
      }
      const ok = await this.#spawn(key);
      if (!ok) {
        this.#failed.set(key, (this.#failed.get(key) ?? 0) + 1);
        this.#backoffUntil = Date.now() + Math.min(30_000, 500 * 2 ** Math.min(6, this.#failed.get(key)!));
      }
    }
  }

  /** Kills a taken worker whose caller never connects (it died between the rename and the connect). */
  #watch(w: Worker): void {
    setTimeout(() => {
      if (!w.connected && this.#workers.has(w.id)) {
        this.#env.log.info(`pool: worker ${w.id} was taken but nobody connected within ${CONNECT_TIMEOUT_MS / 1000} s; stopping it`);
        w.child.kill('SIGKILL');
      }
    }, CONNECT_TIMEOUT_MS).unref();
  }

  /** Ready workers whose socket a launcher renamed away: taken (the launcher connects, or the watchdog ends them). */
  #sweep(): void {
    for (const w of this.#workers.values()) {
      if (w.state === 'ready' && !existsSync(w.socket)) {
        w.state = 'picked';
        this.#watch(w);
        setTimeout(() => this.refill(), REFILL_DELAY_MS).unref();
      }
    }
  }

  #waiting(key: string): number {
    return [...this.#workers.values()].filter((w) => w.key === key && w.state !== 'picked').length;
  }

  #memoryUsed(): number {
    let sum = 0;
    for (const w of this.#workers.values()) if (w.state !== 'picked') sum += rssOf(w.pid) ?? 0;
    return sum;
  }

  #entryOf(w: Worker): PoolEntry {
    const rss = w.state === 'picked' ? undefined : rssOf(w.pid);
    return { id: w.id, key: w.key, pid: w.pid, state: w.state, created: w.created, ...(rss !== undefined ? { rssBytes: rss } : {}) };
  }

  /** Trims a key to its size (the newest waiting workers go). */
  #trim(key: string): void {
    const size = this.#sizes.get(key) ?? 0;
    const waiting = [...this.#workers.values()].filter((w) => w.key === key && w.state !== 'picked');
    for (const w of waiting.slice(size)) void this.#stop(w);
  }

  /** Starts one worker for `key`; resolves true once it listens. */
  #spawn(key: string): Promise<boolean> {
    const id = randomBytes(6).toString('hex');
    const dir = join(this.dir.ready, key);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const socket = join(dir, `${id}.sock`);
    checkSocketPath(socket, 'a pool socket');
    // The worker's scratch space for its warm-up (src/rune/enclave/warm-up.ts): removed when it exits, and
    // with the whole directory at the next start if inclavared was killed.
    const warmDir = join(this.dir.warm, id);
    const [command, ...args] = this.#env.workerCommand;
    const child = spawn(command!, [...args, socket, warmDir], { stdio: ['pipe', 'pipe', 'pipe'], cwd: '/' });
    if (child.pid === undefined) {
      return new Promise((resolve) => child.once('error', (err) => {
        this.#env.log.error(`pool: cannot start a worker for ${key}: ${err.message}`);
        resolve(false);
      }));
    }
    const worker: Worker = { id, key, pid: child.pid, state: 'starting', created: new Date().toISOString(), child, socket };
    this.#workers.set(id, worker);
    const pidFile = join(this.dir.pids, `${id}.pid`);
    writeFileSync(pidFile, `${child.pid} ${startTimeOf(child.pid) ?? ''}\n`, { mode: 0o600 });
    child.stdin!.on('error', () => undefined);
    createInterface({ input: child.stderr! }).on('line', (line) => this.#env.log.info(`pool worker ${id}: ${line}`));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#env.log.error(`pool: worker ${id} for ${key} did not start listening within ${START_TIMEOUT_MS / 1000} s`);
        child.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line === 'ready' && worker.state === 'starting') {
          clearTimeout(timer);
          worker.state = 'ready';
          this.#measured = rssOf(worker.pid) ?? this.#measured;
          this.#env.log.debug(`pool: worker ${id} for ${key} is ready (pid ${worker.pid})`);
          resolve(true);
        } else if (line === 'picked') {
          worker.state = 'picked';
          worker.connected = true;
          this.#served.set(key, (this.#served.get(key) ?? 0) + 1);
          setTimeout(() => this.refill(), REFILL_DELAY_MS).unref();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const was = worker.state;
        this.#workers.delete(id);
        rmSync(pidFile, { force: true });
        rmSync(warmDir, { recursive: true, force: true });
        for (const path of [socket, join(this.dir.taken, `${id}.sock`)]) {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        }
        if (was === 'starting') {
          this.#env.log.error(`pool: worker ${id} for ${key} exited before it was ready (${signal ?? `status ${code}`})`);
          resolve(false);
        } else if (was === 'ready' && !this.#closing) {
          // Died while waiting: launchers that find its socket get ECONNREFUSED and take the slow path.
          this.#env.log.error(`pool: waiting worker ${id} for ${key} died (${signal ?? `status ${code}`}); starting another`);
        }
        if (was === 'picked') setTimeout(() => this.refill(), REFILL_DELAY_MS).unref();
        else this.refill();
      });
    });
  }

  async #stop(w: Worker): Promise<void> {
    if (w.child.exitCode !== null || w.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => w.child.once('exit', () => resolve()));
    // Out of the ready directory first, so that no launcher takes it while it stops.
    try {
      renameSync(w.socket, join(this.dir.taken, `${w.id}.sock`));
    } catch {
      if (w.state === 'ready') w.state = 'picked'; // a launcher took it: let it serve
    }
    if (w.state === 'picked') return;
    w.child.kill('SIGKILL');
    await exited;
  }
}
