/**
 * The contract between rune (host side, src/rune/enclave/) and init-runelet (inside the container,
 * src/init/): the enclave description rune writes at create (ROOT/ID/enclave.json) and init-runelet reads
 * inside the container (/.rune/enclave.json), and the control files they exchange (ROOT/ID/control,
 * /.rune/control). Both sides import it from here, with the paths inside the container (IN_CONTAINER).
 */

import type { PalRlimit } from '../pal/types.ts';

/** What init-runelet needs to run the workload inside the enclave runtime. */
export interface EnclaveDescription {
  version: 1;
  id: string;
  /** The engine's bundle (rune runs the container from a derived bundle beside its state). */
  bundle: string;
  type: string;
  /** 'sim', 'wasm', or the PAL library's path inside the container. */
  runtime: string;
  /** The PAL library's host path (native runtimes only). */
  runtimeHostPath?: string;
  runtimeArgs: string;
  logLevel: string;
  /** SHA-384 measurement computed on the host at create (lowercase hex). */
  measurement: string;
  process: {
    /** The entrypoint as the container sees it (resolved in PATH). */
    path: string;
    args: string[];
    env: string[];
    cwd: string;
    terminal: boolean;
    /** Resource limits the workload starts with (sim: the config's process.rlimits, set by rlimit-exec). */
    rlimits?: PalRlimit[];
  };
  /** The attestation socket inside the container, when inclavared serves this container. */
  attestationSocket?: string;
  /**
   * Secrets init-runelet fetches from verdictd during create, before it reports ready (docs/secrets.md):
   * over RATS-TLS that ends in init-runelet, through inclavared's relay on the attestation socket.
   */
  secrets?: SecretsToFetch;
  /**
   * The config's startContainer hooks. rune starts init-runelet (the backend's process) at create, so runc
   * would run them then; rune takes them out of the derived config and init-runelet runs them after
   * `rune start`, before the workload, as runc runs them for a plain container.
   */
  startContainer?: StartContainerHooks;
  created: string;
  /**
   * Set when rune runs with RUNE_TIMINGS (benchmarks): init-runelet writes the times of its steps (epoch ms)
   * as JSON to this file in the container (under /.rune/timings, a bind mount of that host directory).
   */
  timings?: string;
}

/** What init-runelet needs to fetch the container's secrets. */
export interface SecretsToFetch {
  /** Resource paths `repo/type/tag`; each lands in /run/secrets/<repo>/<type>/<tag>, mode 0400. */
  resources: string[];
  /** verdictd's address as the host reaches it; the relay connects there and nowhere else. */
  verdictd: string;
  /** The pin of verdictd's key, `sha256:<hex>`: any other server is refused. */
  verdictdKey: string;
}

/** One OCI hook (runtime-spec config.md "POSIX-platform Hooks"). */
export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** startContainer hooks and what their state on stdin needs beyond the description's id and bundle. */
export interface StartContainerHooks {
  hooks: OciHook[];
  /** The backend's runtime-spec version (the state's ociVersion, as runc reports it). */
  ociVersion: string;
  /** The config's annotations (absent when there are none, as runc omits them). */
  annotations?: Record<string, string>;
}

/** Files of the control directory. */
export const CONTROL = {
  /** FIFO: init-runelet waits on it after PAL init; `rune start` writes one byte. */
  start: 'start',
  /** JSON written by init-runelet after PAL init: {"state":"ready"} or {"state":"error","message":…}. */
  status: 'status',
  /** JSON written by init-runelet when the workload ended: {"exitCode":n}. */
  exit: 'exit',
  /**
   * JSON written by init-runelet after the start signal once the startContainer hooks ran (only when there
   * are some): {"state":"running"} or {"state":"error","message":…}; `rune start` waits for it.
   */
  started: 'started',
  /**
   * Written by init-runelet as soon as it read the start byte: the container is started even when the `rune
   * start` that wrote the byte was killed before it recorded so (docs/security.md "Fault injection").
   */
  released: 'released',
  /**
   * Written by rune at create when PID 1 is init-runelet-sim (src/init/init-runelet-sim.c): the workload to
   * run, in the NUL-separated form of src/runelet/launch.ts.
   */
  launch: 'launch',
} as const;

/** The workload's env as PID 1 gives it: its own, plus where to ask for evidence. */
export function workloadEnv(description: Pick<EnclaveDescription, 'attestationSocket'>, env: string[]): string[] {
  return description.attestationSocket ? env.concat(`INCLAVARE_ATTESTATION_SOCKET=${description.attestationSocket}`) : env;
}

/** init-runelet's report after PAL init. */
export type InitStatus = { state: 'ready' } | { state: 'error'; message: string; code?: 'secrets' };

/** init-runelet's report after the startContainer hooks. */
export type StartStatus = { state: 'running' } | { state: 'error'; message: string };

/** Where rune puts init-runelet, the host's node, the description and the control files inside the container. */
export const IN_CONTAINER = {
  dir: '/.rune',
  node: '/.rune/node',
  libDir: '/.rune/lib',
  init: '/.rune/init-runelet.mjs',
  /** PID 1 of a `sim` container without secrets or startContainer hooks: init-runelet in C (src/init/init-runelet-sim.c). */
  initSim: '/.rune/init-runelet-sim',
  chunks: '/.rune/chunks',
  enclave: '/.rune/enclave.json',
  control: '/.rune/control',
  attestDir: '/.rune/attest',
  timings: '/.rune/timings',
  attestSocket: '/.rune/attest/attest.sock',
  palDir: '/.rune/pal',
  modules: '/.rune/node_modules',
  rlimitExec: '/.rune/rlimit-exec',
  /** init-runelet's socket for `rune exec` into its runtime instance (native PAL v2/v3; src/init/exec-channel.ts). */
  execSocket: '/.rune/control/exec.sock',
  /** The tmpfs rune mounts for secrets (docs/secrets.md). */
  secrets: '/run/secrets',
} as const;
