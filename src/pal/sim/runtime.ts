/**
 * The `sim` enclave runtime: it runs the workload as an ordinary child process of init-runelet.
 *
 * It ISOLATES NOTHING beyond the container itself: no enclave, no encrypted memory, no sandbox. It exists so
 * that the whole stack (rune, init-runelet, attestation with `sim` evidence) runs on any machine, for
 * development and CI; evidence for it says so (docs/enclave-runtimes.md, "`sim`").
 *
 * createProcess only resolves and checks the entrypoint; the child is spawned by exec, because the PAL
 * contract is that create_process does not run the process. Pids are runtime-local (1, 2, ...), not OS pids.
 * The program is started directly (never through `process.execPath`, which is ld.so inside a container:
 * docs/enclave-containers.md, "What happens": the host's node runs through the dynamic loader).
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { PAL_ERR_ARGS, PAL_ERR_ENTRYPOINT, palError } from '../codes.ts';
import { PalLifecycle } from '../lifecycle.ts';
import { ProcessTable, type RunningProcess } from '../process-table.ts';
import { envRecord, validateInitOptions, validateProcessSpec } from '../spec.ts';
import type { EnclaveRuntime, LoadEnclaveRuntimeOptions, PalInitOptions, PalProcessSpec } from '../types.ts';

/** PATH used to find a program when the process env sets none (runc's default for OCI specs). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface SimProcess {
  file: string;
  spec: PalProcessSpec;
  rlimitExec: string[] | undefined;
}

/** The `sim` runtime: workloads run as plain child processes (no isolation at all; see the module comment). */
export class SimRuntime implements EnclaveRuntime {
  readonly name = 'sim';
  readonly version = 2 as const;
  readonly #lifecycle = new PalLifecycle('sim');
  readonly #processes = new ProcessTable<SimProcess>('sim');
  readonly #graceMs: number;
  readonly #rlimitExec: string[] | undefined;

  constructor(options: LoadEnclaveRuntimeOptions = {}) {
    this.#graceMs = options.graceMs ?? 2000;
    this.#rlimitExec = options.rlimitExec;
  }

  /** Accepts no runtime arguments: sim has nothing to configure. */
  async init(options: PalInitOptions): Promise<void> {
    await this.#lifecycle.runInit(() => {
      validateInitOptions('sim', options);
      if (options.args.trim() !== '') {
        throw palError(PAL_ERR_ARGS, `Cannot initialize enclave runtime sim: it takes no arguments, got "${options.args}"`);
      }
    });
  }

  /** Resolves the program (PATH from the spec's env when it has no slash) and checks it is an executable file. */
  async createProcess(spec: PalProcessSpec): Promise<number> {
    this.#lifecycle.requireInitialized('createProcess');
    validateProcessSpec('sim', spec);
    const rlimits = spec.rlimits ?? [];
    if (rlimits.length > 0 && this.#rlimitExec === undefined) {
      throw palError(PAL_ERR_ARGS, 'Cannot create process in enclave runtime sim: resource limits need the rlimit-exec helper, and this runtime was loaded without one');
    }
    for (const limit of rlimits) {
      const ok = (v: number): boolean => v === Infinity || (Number.isInteger(v) && v >= 0);
      if (!Number.isInteger(limit.resource) || limit.resource < 0 || !ok(limit.soft) || !ok(limit.hard)) {
        throw palError(PAL_ERR_ARGS, `Cannot create process in enclave runtime sim: invalid resource limit ${JSON.stringify(limit)}`);
      }
    }
    const file = await resolveProgram(spec);
    const copy = { ...spec, argv: [...spec.argv], env: [...spec.env], rlimits: rlimits.map((l) => ({ ...l })) };
    return this.#processes.add({ file, spec: copy, rlimitExec: rlimits.length > 0 ? this.#rlimitExec : undefined });
  }

  /** Spawns the process with its stdio fds, env and cwd, and waits for it to end. */
  async exec(pid: number): Promise<number> {
    this.#lifecycle.requireInitialized('exec');
    return this.#processes.exec(pid, startChild);
  }

  /** Signals one process, every process (-1) or the current one (0). */
  async kill(pid: number, signal: number): Promise<void> {
    this.#lifecycle.requireInitialized('kill');
    this.#processes.kill(pid, signal);
  }

  /** Kills leftover processes (SIGKILL) and waits for them. */
  async destroy(): Promise<void> {
    if (this.#lifecycle.markDestroyed() === 'destroyed') return;
    await this.#processes.killAll(this.#graceMs);
  }
}

/** `RESOURCE=SOFT:HARD` as rlimit-exec reads it. */
export function rlimitArg({ resource, soft, hard }: { resource: number; soft: number; hard: number }): string {
  const value = (v: number): string => (v === Infinity || v >= 2 ** 64 - 1 ? 'unlimited' : String(v));
  return `${resource}=${value(soft)}:${value(hard)}`;
}

function startChild({ file, spec, rlimitExec }: SimProcess): RunningProcess {
  const { stdin, stdout, stderr } = spec.stdio;
  const argv0 = spec.argv[0] ?? spec.path;
  // With resource limits the child is the helper, which sets them and then execs the program itself: the
  // workload is the same process (same pid), started with exactly these limits.
  const [command, args] =
    rlimitExec === undefined
      ? [file, spec.argv.slice(1)]
      : [rlimitExec[0]!, [...rlimitExec.slice(1), ...(spec.rlimits ?? []).map(rlimitArg), '--', file, argv0, ...spec.argv.slice(1)]];
  const child = spawn(command, args, {
    argv0: rlimitExec === undefined ? argv0 : command,
    env: envRecord(spec.env),
    cwd: spec.cwd,
    stdio: [stdin, stdout, stderr],
  });
  const exited = new Promise<number>((resolvePromise, reject) => {
    child.once('error', (err) => {
      reject(palError(PAL_ERR_ENTRYPOINT, `Cannot start process ${file}: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code, signal) => {
      if (signal !== null) resolvePromise(128 + (constants.signals[signal] ?? 0));
      else resolvePromise(code ?? 0);
    });
  });
  return {
    exited,
    signal(sig: number): void {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        child.kill(sig);
      } catch {
        // ESRCH: it ended between the check and the signal.
      }
    },
  };
}

/** The absolute path of the program `spec.path`, as execvp(3) would find it; PAL_ERR_ENTRYPOINT if there is none. */
export async function resolveProgram(spec: Pick<PalProcessSpec, 'path' | 'env' | 'cwd'>): Promise<string> {
  const candidates: string[] = [];
  if (spec.path.includes('/')) {
    candidates.push(isAbsolute(spec.path) ? spec.path : resolve(spec.cwd ?? process.cwd(), spec.path));
  } else {
    const path = envRecord(spec.env).PATH ?? DEFAULT_PATH;
    for (const dir of path.split(':')) {
      if (dir !== '') candidates.push(resolve(spec.cwd ?? process.cwd(), join(dir, spec.path)));
    }
  }
  let reason = 'does not exist';
  for (const candidate of candidates) {
    try {
      const info = await stat(candidate);
      if (!info.isFile()) {
        reason = 'is not a regular file';
        continue;
      }
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') reason = 'is not executable';
    }
  }
  const where = spec.path.includes('/') ? '' : ' in PATH';
  throw palError(PAL_ERR_ENTRYPOINT, `Cannot create process: entrypoint ${spec.path}${where} ${reason}`, {
    details: { path: spec.path },
  });
}
