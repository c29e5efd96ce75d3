/**
 * Native enclave runtimes: a PAL shared library (liberpal-skeleton-v*.so, libocclum-pal.so, libwamr-pal.so,
 * ...) loaded with koffi and called per the PAL C ABI (./abi.ts). What it isolates is whatever the library
 * provides (an SGX enclave for Occlum and the skeleton on SGX hardware).
 *
 * pal_init and pal_exec run on koffi's worker threads (async calls): init may build an enclave for hundreds
 * of milliseconds and exec blocks until the workload ends, while the main thread must stay free to forward
 * signals through pal_kill. The other calls are short and synchronous.
 *
 * A library is loaded once per process by the dynamic loader: two runtimes loaded from the same path share
 * the library's global state (as two pal_init calls in one process would in the original). Libraries are
 * never unloaded (dlclose of a runtime with threads or TLS is unsafe; init-runelet exits after destroy).
 */
import { stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { isAbsolute } from 'node:path';
import koffi from 'koffi';
import type { LibraryHandle } from 'koffi';
import { PAL_ERR_LOAD, PAL_ERR_STATE, PAL_ERR_UNSUPPORTED, palCallError, palError } from '../codes.ts';
import { PalLifecycle } from '../lifecycle.ts';
import { validateInitOptions, validateProcessSpec } from '../spec.ts';
import type { EnclaveRuntime, LoadEnclaveRuntimeOptions, PalInitOptions, PalProcessSpec } from '../types.ts';
import {
  PalAttrV1,
  PalAttrV3,
  PalCreateProcessArgs,
  PalExecArgs,
  PalStdioFds,
  PROTOTYPES,
  REQUIRED_SYMBOLS,
  SGX_REPORT_SIZE,
} from './abi.ts';
import { NativeArena, type NativePointer } from './memory.ts';

type KoffiFunction = ReturnType<LibraryHandle['func']>;

/** The PAL functions a library exports, typed by what this loader calls. */
interface PalFunctions {
  init: KoffiFunction;
  exec: KoffiFunction;
  destroy: KoffiFunction;
  createProcess?: KoffiFunction;
  kill?: KoffiFunction;
  getLocalReport?: KoffiFunction;
}

/** Calls `fn` on a koffi worker thread. */
function callAsync(fn: KoffiFunction, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, result: number) => (err ? reject(err as Error) : resolve(result)));
  });
}

function lookup(lib: LibraryHandle, symbol: string, prototype: readonly [string, readonly string[]]): KoffiFunction | undefined {
  try {
    return lib.func(symbol, prototype[0], [...prototype[1]]);
  } catch {
    return undefined;
  }
}

/** A process created in a v1 runtime: v1 has no create_process, so exec receives the spec itself. */
interface V1Process {
  path: NativePointer;
  argv: NativePointer;
  stdio: NativePointer;
}

/** An enclave runtime backed by a native PAL library (PAL API v1, v2 or v3). */
export class NativeRuntime implements EnclaveRuntime {
  readonly name: string;
  readonly version: 1 | 2 | 3;
  /** v3 libraries that export pal_get_local_report: an SGX REPORT for `targetInfo`. */
  readonly getLocalReport?: (targetInfo: Uint8Array) => Promise<Uint8Array>;
  readonly #fns: PalFunctions;
  readonly #lifecycle: PalLifecycle;
  readonly #arena = new NativeArena();
  readonly #graceMs: number;
  readonly #v1Processes = new Map<number, V1Process>();
  readonly #running = new Set<Promise<unknown>>();
  #nextV1Pid = 1;

  /** Use {@link loadNativeRuntime}. */
  constructor(name: string, version: 1 | 2 | 3, fns: PalFunctions, options: LoadEnclaveRuntimeOptions = {}) {
    this.name = name;
    this.version = version;
    this.#fns = fns;
    this.#lifecycle = new PalLifecycle(name);
    this.#graceMs = options.graceMs ?? 2000;
    if (fns.getLocalReport !== undefined) {
      const fn = fns.getLocalReport;
      this.getLocalReport = async (targetInfo) => this.#localReport(fn, targetInfo);
    }
  }

  /** pal_init with attr v1 (v1/v2) or v3 (with the pooled enclave's fd and address, -1/0 when none). */
  async init(options: PalInitOptions): Promise<void> {
    this.#lifecycle.beginInit();
    let ok = false;
    try {
      validateInitOptions(this.name, options);
      const fd = options.enclaveFd ?? -1;
      const addr = options.enclaveAddr ?? 0n;
      if (this.version < 3 && (fd !== -1 || addr !== 0n)) {
        throw palError(PAL_ERR_UNSUPPORTED, `Cannot hand a pre-built enclave to ${this.name}: that needs PAL API v3, the library is v${this.version}`);
      }
      const v1 = { args: this.#arena.cString(options.args), log_level: this.#arena.cString(options.logLevel) };
      const attr = this.version === 3 ? this.#arena.value(PalAttrV3, { attr_v1: v1, fd, addr }) : this.#arena.value(PalAttrV1, v1);
      const ret = await callAsync(this.#fns.init, attr);
      if (ret < 0) throw palCallError('init', ret, { details: { runtime: this.name } });
      ok = true;
    } finally {
      this.#lifecycle.endInit(ok);
    }
  }

  /** v2/v3: pal_create_process; v1: records the process for pal_exec (v1 has no env, it is not passed). */
  async createProcess(spec: PalProcessSpec): Promise<number> {
    this.#lifecycle.requireInitialized('createProcess');
    validateProcessSpec(this.name, spec);
    const a = this.#arena;
    const stdio = a.value(PalStdioFds, { stdin: spec.stdio.stdin, stdout: spec.stdio.stdout, stderr: spec.stdio.stderr });
    if (this.#fns.createProcess === undefined) {
      const pid = this.#nextV1Pid++;
      this.#v1Processes.set(pid, { path: a.cString(spec.path), argv: a.cStringArray(spec.argv), stdio });
      return pid;
    }
    const pidOut = a.value('int', 0);
    const args = a.value(PalCreateProcessArgs, {
      path: a.cString(spec.path),
      argv: a.cStringArray(spec.argv),
      env: a.cStringArray(spec.env),
      stdio,
      pid: pidOut,
    });
    const ret = this.#fns.createProcess(args) as number;
    if (ret < 0) throw palCallError('create_process', ret, { details: { runtime: this.name, path: spec.path } });
    return koffi.decode(pidOut, 'int') as number;
  }

  /** pal_exec on a koffi worker thread; resolves to the exit value the library reports. */
  async exec(pid: number): Promise<number> {
    this.#lifecycle.requireInitialized('exec');
    const exitOut = this.#arena.value('int', 0);
    let call: Promise<number>;
    if (this.version === 1) {
      const p = this.#v1Processes.get(pid);
      if (p === undefined) throw palError(PAL_ERR_STATE, `Cannot exec process ${pid} in enclave runtime ${this.name}: no such process was created`);
      this.#v1Processes.delete(pid);
      call = callAsync(this.#fns.exec, p.path, p.argv, p.stdio, exitOut);
    } else {
      call = callAsync(this.#fns.exec, this.#arena.value(PalExecArgs, { pid, exit_value: exitOut }));
    }
    this.#running.add(call);
    try {
      const ret = await call;
      if (ret < 0) throw palCallError('exec', ret, { details: { runtime: this.name, pid } });
      return koffi.decode(exitOut, 'int') as number;
    } finally {
      this.#running.delete(call);
    }
  }

  /** pal_kill(pid, sig); PAL_ERR_UNSUPPORTED on a v1 library, which has no kill. */
  async kill(pid: number, signal: number): Promise<void> {
    this.#lifecycle.requireInitialized('kill');
    if (this.#fns.kill === undefined) {
      throw palError(PAL_ERR_UNSUPPORTED, `Cannot kill process ${pid} of enclave runtime ${this.name}: PAL API v1 has no pal_kill`);
    }
    const ret = this.#fns.kill(pid, signal) as number;
    if (ret < 0) throw palCallError('kill', ret, { details: { runtime: this.name, pid, signal } });
  }

  /** Kills running processes (v2/v3), waits for their exec to return, then calls pal_destroy. */
  async destroy(): Promise<void> {
    const previous = this.#lifecycle.markDestroyed();
    if (previous !== 'initialized') return;
    if (this.#running.size > 0 && this.#fns.kill !== undefined) this.#fns.kill(-1, constants.signals.SIGKILL);
    const drained = await settleWithin([...this.#running], this.#graceMs);
    const ret = this.#fns.destroy() as number;
    // Memory a still-running pal_exec may use is leaked rather than freed under it.
    if (drained) this.#arena.free();
    if (ret < 0) throw palCallError('destroy', ret, { details: { runtime: this.name } });
  }

  async #localReport(fn: KoffiFunction, targetInfo: Uint8Array): Promise<Uint8Array> {
    this.#lifecycle.requireInitialized('getLocalReport');
    const target = Buffer.from(targetInfo);
    const report = Buffer.alloc(SGX_REPORT_SIZE);
    const reportLen = new Int32Array([SGX_REPORT_SIZE]);
    const ret = fn(target, target.length, report, reportLen) as number;
    if (ret < 0) throw palCallError('get_local_report', ret, { details: { runtime: this.name } });
    const len = reportLen[0] ?? 0;
    return new Uint8Array(report.subarray(0, Math.min(Math.max(len, 0), SGX_REPORT_SIZE)));
  }
}

/** Resolves true when every promise settled within `ms`, false on timeout. */
async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  if (promises.length === 0) return true;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const all = Promise.allSettled(promises).then(() => true);
  try {
    return await Promise.race([all, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Loads the PAL library at `path` (absolute). PAL_ERR_LOAD when it does not exist, is not a shared library,
 * reports an unknown version or lacks a symbol its version requires (the message names the symbols).
 */
export async function loadNativeRuntime(path: string, options: LoadEnclaveRuntimeOptions = {}): Promise<NativeRuntime> {
  const fail = (why: string, cause?: unknown): never => {
    throw palError(PAL_ERR_LOAD, `Cannot load enclave runtime ${path}: ${why}`, { cause, details: { path } });
  };
  if (!isAbsolute(path)) fail('the path of a PAL library must be absolute');
  const info = await stat(path).catch((err: unknown) => fail('it does not exist', err));
  if (!info.isFile()) fail('it is not a regular file');
  let lib: LibraryHandle;
  try {
    lib = koffi.load(path);
  } catch (err) {
    return fail(`it is not a shared library (${(err as Error).message})`, err);
  }
  const getVersion = lookup(lib, 'pal_get_version', PROTOTYPES.pal_get_version);
  const reported = getVersion === undefined ? 1 : (getVersion() as number);
  if (reported !== 1 && reported !== 2 && reported !== 3) fail(`pal_get_version() returned ${reported}, supported PAL API versions are 1, 2 and 3`);
  const version = reported as 1 | 2 | 3;
  const fns = {
    pal_init: lookup(lib, 'pal_init', PROTOTYPES.pal_init),
    pal_exec: lookup(lib, 'pal_exec', version === 1 ? PROTOTYPES.pal_exec_v1 : PROTOTYPES.pal_exec_v2),
    pal_destroy: lookup(lib, 'pal_destroy', PROTOTYPES.pal_destroy),
    pal_create_process: version === 1 ? undefined : lookup(lib, 'pal_create_process', PROTOTYPES.pal_create_process),
    pal_kill: version === 1 ? undefined : lookup(lib, 'pal_kill', PROTOTYPES.pal_kill),
    pal_get_local_report: version === 3 ? lookup(lib, 'pal_get_local_report', PROTOTYPES.pal_get_local_report) : undefined,
  };
  const missing = REQUIRED_SYMBOLS[version].filter((symbol) => fns[symbol as keyof typeof fns] === undefined);
  if (missing.length > 0) {
    const what = missing.length === REQUIRED_SYMBOLS[version].length ? 'it is not a PAL library: ' : '';
    fail(`${what}it does not export ${missing.join(', ')} (required by PAL API v${version})`);
  }
  const { pal_init: init, pal_exec: exec, pal_destroy: destroy } = fns;
  if (init === undefined || exec === undefined || destroy === undefined) return fail('internal error: symbols vanished');
  return new NativeRuntime(
    path,
    version,
    { init, exec, destroy, createProcess: fns.pal_create_process, kill: fns.pal_kill, getLocalReport: fns.pal_get_local_report },
    options,
  );
}
