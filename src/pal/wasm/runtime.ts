/**
 * The `wasm` enclave runtime: runs a WebAssembly/WASI (preview1) module in a worker thread, the role WAMR
 * played in the original. Isolation is the WASI sandbox: the module sees only its args, its env, its three
 * stdio fds and the directories preopened by the runtime arguments (./args.ts); nothing else of the file
 * system, no sockets, no other processes.
 *
 * A worker thread (not the main thread) runs the module so init-runelet keeps handling signals while it
 * runs; kill with a terminating signal terminates the worker and exec reports 128+n. A blocking host call
 * cannot be interrupted by a terminate, so the module's reads of stdin (the one fd a workload commonly
 * blocks on) go through the main thread (./stdin-pump.ts; the worker waits interruptibly): a module waiting
 * for input is killed at once. Should another host call block (poll_oneoff on stdin), exec still reports
 * 128+n after the grace period, and the thread ends when the call returns.
 * A trap is reported on the stderr fd and gives exit code 134 (128+SIGABRT), as a native process that aborts.
 */
import { writeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { PAL_ERR_ARGS, PAL_ERR_ENTRYPOINT, PAL_ERR_WASM, palError } from '../codes.ts';
import { PalLifecycle } from '../lifecycle.ts';
import { ProcessTable, type RunningProcess } from '../process-table.ts';
import { defaultDisposition } from '../signals.ts';
import { envRecord, validateInitOptions, validateProcessSpec } from '../spec.ts';
import type { EnclaveRuntime, LoadEnclaveRuntimeOptions, PalInitOptions, PalProcessSpec } from '../types.ts';
import { parseWasmRuntimeArgs, type WasmPreopen } from './args.ts';
import { webAssembly, type CompiledWasmModule } from './webassembly.ts';
import { StdinPump } from './stdin-pump.ts';
import { WASM_WORKER_SOURCE } from './worker-source.ts';

/** The import module a WASI preview1 program links against. */
export const WASI_MODULE = 'wasi_snapshot_preview1';
/** Exit code after a trap: 128 + SIGABRT. */
export const WASM_TRAP_EXIT_CODE = 134;

interface WasmProcess {
  module: CompiledWasmModule;
  spec: PalProcessSpec;
}

type WorkerResult = { kind: 'exit'; code: number } | { kind: 'trap'; message: string } | { kind: 'link-error'; message: string };
type WorkerMessage = WorkerResult | { kind: 'stdin-read'; max: number };

/**
 * The functions of WASI preview1 (frozen since 2020; node:wasi provides all of them). A list rather than
 * asking node:wasi, because loading node:wasi prints an ExperimentalWarning on the container's stderr.
 */
export const WASI_PREVIEW1_FUNCTIONS: ReadonlySet<string> = new Set([
  'args_get', 'args_sizes_get', 'clock_res_get', 'clock_time_get', 'environ_get', 'environ_sizes_get',
  'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags',
  'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread',
  'fd_prestat_dir_name', 'fd_prestat_get', 'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek',
  'fd_sync', 'fd_tell', 'fd_write', 'path_create_directory', 'path_filestat_get', 'path_filestat_set_times',
  'path_link', 'path_open', 'path_readlink', 'path_remove_directory', 'path_rename', 'path_symlink',
  'path_unlink_file', 'poll_oneoff', 'proc_exit', 'proc_raise', 'random_get', 'sched_yield', 'sock_accept',
  'sock_recv', 'sock_send', 'sock_shutdown',
]);

/**
 * Compiles a module WebAssembly.validate accepted, with V8's lazy validation on for this compile only: the
 * function bodies were just validated, so checking them again is the cost this saves. The flag is set back
 * at once: V8 keys its code caches on the flags, and a worker thread started with another value than the
 * process started with compiles Node.js's own JavaScript from source (about 20 ms more per worker here).
 */
async function compileValidated(bytes: Uint8Array): Promise<CompiledWasmModule> {
  setFlagsFromString('--wasm-lazy-validation');
  try {
    return await webAssembly.compile(bytes);
  } finally {
    setFlagsFromString('--no-wasm-lazy-validation');
  }
}

/**
 * Compiles `bytes` and checks it is a WASI command: it exports `_start` and `memory` and imports only
 * functions WASI preview1 provides. Throws PAL_ERR_WASM naming what is wrong; never anything else. With
 * `validateFirst`, the whole module is validated before it is compiled (see wasmValidateFirst).
 */
export async function compileWasiCommand(bytes: Uint8Array, path: string, validateFirst = false): Promise<CompiledWasmModule> {
  let module: CompiledWasmModule;
  try {
    // A module validate refuses is compiled anyway, without lazy validation, for V8's message naming the fault.
    module = validateFirst && webAssembly.validate(bytes) ? await compileValidated(bytes) : await webAssembly.compile(bytes);
  } catch (err) {
    throw palError(PAL_ERR_WASM, `Cannot load ${path}: it is not a valid WebAssembly module (${(err as Error).message})`, { cause: err });
  }
  const exports = webAssembly.Module.exports(module);
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) {
    throw palError(PAL_ERR_WASM, `Cannot load ${path}: the module exports no _start function (not a WASI command)`);
  }
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) {
    throw palError(PAL_ERR_WASM, `Cannot load ${path}: the module exports no memory (WASI needs it)`);
  }
  for (const imp of webAssembly.Module.imports(module)) {
    if (imp.module !== WASI_MODULE || imp.kind !== 'function' || !WASI_PREVIEW1_FUNCTIONS.has(imp.name)) {
      throw palError(
        PAL_ERR_WASM,
        `Cannot load ${path}: it imports ${imp.kind} ${imp.module}.${imp.name}, which the WASI preview1 runtime does not provide`,
      );
    }
  }
  return module;
}

/** The `wasm` runtime: WASI modules in worker threads, with only the configured directories preopened. */
export class WasmRuntime implements EnclaveRuntime {
  readonly name = 'wasm';
  readonly version = 2 as const;
  readonly #lifecycle = new PalLifecycle('wasm');
  readonly #processes = new ProcessTable<WasmProcess>('wasm');
  readonly #graceMs: number;
  readonly #validateFirst: boolean;
  #preopens: WasmPreopen[] = [];

  constructor(options: LoadEnclaveRuntimeOptions = {}) {
    this.#graceMs = options.graceMs ?? 2000;
    this.#validateFirst = options.wasmValidateFirst === true;
  }

  /** Parses the runtime arguments (see ./args.ts) and checks every preopened host directory exists. */
  async init(options: PalInitOptions): Promise<void> {
    await this.#lifecycle.runInit(async () => {
      validateInitOptions('wasm', options);
      const { preopens } = parseWasmRuntimeArgs(options.args);
      for (const { host } of preopens) {
        const info = await stat(host).catch(() => undefined);
        if (info === undefined || !info.isDirectory()) {
          throw palError(PAL_ERR_ARGS, `Cannot preopen ${host} for the wasm runtime: ${info === undefined ? 'it does not exist' : 'it is not a directory'}`);
        }
      }
      this.#preopens = preopens;
    });
  }

  /** Reads and validates the module (PAL_ERR_ENTRYPOINT if missing, PAL_ERR_WASM if not a WASI command). */
  async createProcess(spec: PalProcessSpec): Promise<number> {
    this.#lifecycle.requireInitialized('createProcess');
    validateProcessSpec('wasm', spec);
    const path = resolve(spec.cwd ?? process.cwd(), spec.path);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? String(err)})`;
      throw palError(PAL_ERR_ENTRYPOINT, `Cannot create process: entrypoint ${spec.path} ${why}`, { cause: err, details: { path: spec.path } });
    }
    const module = await compileWasiCommand(bytes, spec.path, this.#validateFirst);
    return this.#processes.add({ module, spec: { ...spec, argv: [...spec.argv], env: [...spec.env] } });
  }

  /** Runs the module in a new worker thread and resolves to its exit code. */
  async exec(pid: number): Promise<number> {
    this.#lifecycle.requireInitialized('exec');
    return this.#processes.exec(pid, (p) => this.#start(p));
  }

  /** Terminating signals end the module (128+n); default-ignored and stop signals do nothing. */
  async kill(pid: number, signal: number): Promise<void> {
    this.#lifecycle.requireInitialized('kill');
    this.#processes.kill(pid, signal);
  }

  /** Terminates every running module. */
  async destroy(): Promise<void> {
    if (this.#lifecycle.markDestroyed() === 'destroyed') return;
    await this.#processes.killAll(this.#graceMs);
  }

  #start({ module, spec }: WasmProcess): RunningProcess {
    const stdin = new StdinPump(spec.stdio.stdin);
    const worker = new Worker(WASM_WORKER_SOURCE, {
      eval: true,
      // Without this the worker would inherit the parent's --import/--require hooks (e.g. tsx in tests).
      execArgv: [],
      workerData: {
        module,
        args: spec.argv,
        env: envRecord(spec.env),
        preopens: Object.fromEntries(this.#preopens.map((p) => [p.guest, p.host])),
        stdin: spec.stdio.stdin,
        stdout: spec.stdio.stdout,
        stderr: spec.stdio.stderr,
        stdinBridge: stdin.shared,
      },
    });
    let killedBy: number | undefined;
    let settle: ((code: number) => void) | undefined;
    let fail: ((err: Error) => void) | undefined;
    const exited = new Promise<number>((resolvePromise, reject) => {
      settle = resolvePromise;
      fail = reject;
    });
    let done = false;
    const finish = (msg: WorkerResult): void => {
      if (done || killedBy !== undefined) return;
      done = true;
      switch (msg.kind) {
        case 'exit':
          return settle?.(msg.code & 0xff);
        case 'trap':
          try {
            writeSync(spec.stdio.stderr, `wasm trap in ${spec.path}: ${msg.message}\n`);
          } catch {
            // The stderr fd may be closed; the exit code still says it trapped.
          }
          return settle?.(WASM_TRAP_EXIT_CODE);
        case 'link-error':
          return fail?.(palError(PAL_ERR_WASM, `Cannot run ${spec.path}: ${msg.message}`));
      }
    };
    worker.on('message', (msg: WorkerMessage) => (msg.kind === 'stdin-read' ? stdin.request(msg.max) : finish(msg)));
    worker.once('error', (err) => finish({ kind: 'link-error', message: err.message }));
    let graceTimer: NodeJS.Timeout | undefined;
    worker.once('exit', () => {
      clearTimeout(graceTimer);
      stdin.close();
      if (killedBy !== undefined) settle?.(128 + killedBy);
      else if (!done) fail?.(palError(PAL_ERR_WASM, `Cannot run ${spec.path}: its worker thread ended without a result`));
    });
    const graceMs = this.#graceMs;
    return {
      exited,
      signal(sig: number): void {
        if (done || killedBy !== undefined || defaultDisposition(sig) === 'ignore') return;
        killedBy = sig;
        void worker.terminate();
        worker.unref();
        // A worker blocked in another host call cannot be terminated until the call returns: report the kill
        // anyway after the grace period (see the module comment and docs/enclave-runtimes.md).
        graceTimer = setTimeout(() => settle?.(128 + sig), graceMs);
      },
    };
  }
}
