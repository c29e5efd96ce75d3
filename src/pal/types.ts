/**
 * The PAL interface in TypeScript: what init-runelet calls to run a workload inside an enclave runtime,
 * whatever that runtime is (a built-in software runtime or a native PAL library). The semantics follow the
 * PAL API versions 1–3 of the original Inclavare Containers; docs/enclave-runtimes.md is the contract.
 */

/** Log levels a PAL accepts (ENCLAVE_RUNTIME_LOGLEVEL). */
export type PalLogLevel = 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'fatal' | 'panic' | 'off';

/** Every {@link PalLogLevel}, in order of verbosity. */
export const PAL_LOG_LEVELS: readonly PalLogLevel[] = ['trace', 'debug', 'info', 'warning', 'error', 'fatal', 'panic', 'off'];

/** The file descriptors a process gets as its stdin, stdout and stderr (C `struct pal_stdio_fds`). */
export interface PalStdio {
  stdin: number;
  stdout: number;
  stderr: number;
}

/** Arguments of init (C `struct pal_attr_v1`/`pal_attr_v3`). */
export interface PalInitOptions {
  /** Runtime-specific arguments (ENCLAVE_RUNTIME_ARGS). */
  args: string;
  logLevel: PalLogLevel;
  /** v3: fd of a pre-built enclave handed over by the enclave pool (-1 when none). */
  enclaveFd?: number;
  /** v3: base address of that enclave (0 when none). */
  enclaveAddr?: bigint;
}

/** What to run (C `struct pal_create_process_args`, minus the pid out-parameter). */
export interface PalProcessSpec {
  /** The executable: a program (sim), a `.wasm` module (wasm), whatever the PAL expects (native). */
  path: string;
  /** Arguments, argv[0] included. */
  argv: string[];
  /** `KEY=value` strings. */
  env: string[];
  /** Working directory (sim only; WASI and PAL processes have none). */
  cwd?: string;
  stdio: PalStdio;
  /**
   * Resource limits the process starts with (setrlimit(2), the OCI config's process.rlimits); sim only,
   * and only when the runtime was loaded with an `rlimitExec` helper.
   */
  rlimits?: PalRlimit[];
}

/** One resource limit: the resource's number (RLIMIT_NOFILE = 7 ...), soft and hard values (`Infinity` = unlimited). */
export interface PalRlimit {
  resource: number;
  soft: number;
  hard: number;
}

/** An enclave runtime loaded through the PAL API. Calls: init, then createProcess + exec (any number), kill while running, destroy. */
export interface EnclaveRuntime {
  /** `sim`, `wasm`, or the path of the PAL library. */
  readonly name: string;
  /** PAL API version (pal_get_version; a library without it is version 1). */
  readonly version: 1 | 2 | 3;
  /** Initialises the enclave (called at `rune create`). */
  init(options: PalInitOptions): Promise<void>;
  /** Creates a process without running it; resolves to the runtime's pid for it. */
  createProcess(spec: PalProcessSpec): Promise<number>;
  /** Runs a created process and waits for it; resolves to its exit code (128+n if killed by signal n). */
  exec(pid: number): Promise<number>;
  /** Sends a signal: pid -1 = every process of the runtime, 0 = the current one. */
  kill(pid: number, signal: number): Promise<void>;
  /** Tears the enclave down, ending any process still running. Idempotent. */
  destroy(): Promise<void>;
  /** v3 native runtimes only: an SGX REPORT (432 bytes) targeted at `targetInfo` (512 bytes). */
  getLocalReport?(targetInfo: Uint8Array): Promise<Uint8Array>;
}

/** Options of {@link loadEnclaveRuntime} (src/pal/registry.ts). */
export interface LoadEnclaveRuntimeOptions {
  /**
   * How long destroy() waits for processes to end after SIGKILL, and kill() for a WebAssembly worker to
   * terminate, in milliseconds (default 2000).
   */
  graceMs?: number;
  /**
   * sim: the command that sets resource limits and then execs the workload (init-runelet's rlimit-exec run
   * through the injected loader); it receives `RESOURCE=SOFT:HARD ... -- FILE ARGV0 ARGS...`.
   */
  rlimitExec?: string[];
  /**
   * wasm: validate the whole module (`WebAssembly.validate`, synchronous) before compiling it, then compile
   * it with V8's lazy validation (`--wasm-lazy-validation`, set for that compile only), which checks each
   * function body again only when it is first called. A module is refused at load exactly as without this
   * (an invalid function body anywhere is PAL_ERR_WASM before anything runs); what changes is the cost: 30
   * against 55-80 ms for a 50 MB module here, V8's validation inside the asynchronous compile being slower
   * on its one background thread. The flag is process-wide while the compile runs: for a process that
   * compiles nothing else meanwhile, as init-runelet.
   */
  wasmValidateFirst?: boolean;
}
