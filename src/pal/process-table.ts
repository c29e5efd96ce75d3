/**
 * The process table of the software runtimes (sim, wasm): runtime-local pids, the created → running →
 * exited state of each process, and kill semantics (-1 = every process, 0 = the current one). A runtime
 * supplies only how to start a process and how to signal it.
 */
import { constants } from 'node:os';
import { PAL_ERR_STATE, palCallError, palError } from './codes.ts';
import { defaultDisposition, isValidSignal } from './signals.ts';

/** A process that has started. */
export interface RunningProcess {
  /** Delivers signal `sig` (1..64) to the process. */
  signal(sig: number): void;
  /** Resolves to the exit code (128+n when killed by signal n) once the process has ended. */
  readonly exited: Promise<number>;
}

interface Entry<P> {
  pid: number;
  prepared: P;
  state: 'created' | 'running';
  /** A terminating signal received before the process started: exec then reports 128+n without starting it. */
  killedBy?: number;
  running?: RunningProcess;
}

/** Runtime-local processes: created by {@link add}, run by {@link exec}, signalled by {@link kill}. */
export class ProcessTable<P> {
  readonly #runtime: string;
  readonly #entries = new Map<number, Entry<P>>();
  #nextPid = 1;
  #lastStarted: number | undefined;

  constructor(runtime: string) {
    this.#runtime = runtime;
  }

  /** Records a created process and returns its pid. */
  add(prepared: P): number {
    const pid = this.#nextPid++;
    this.#entries.set(pid, { pid, prepared, state: 'created' });
    return pid;
  }

  /** Starts a created process with `start` and resolves to its exit code; the pid is gone afterwards. */
  async exec(pid: number, start: (prepared: P) => RunningProcess): Promise<number> {
    const entry = this.#entries.get(pid);
    if (entry === undefined) {
      throw palError(PAL_ERR_STATE, `Cannot exec process ${pid} in enclave runtime ${this.#runtime}: no such process was created`);
    }
    if (entry.state !== 'created') {
      throw palError(PAL_ERR_STATE, `Cannot exec process ${pid} in enclave runtime ${this.#runtime}: it is already running`);
    }
    if (entry.killedBy !== undefined) {
      this.#entries.delete(pid);
      return 128 + entry.killedBy;
    }
    entry.state = 'running';
    try {
      entry.running = start(entry.prepared);
    } catch (err) {
      this.#entries.delete(pid);
      throw err;
    }
    this.#lastStarted = pid;
    try {
      return await entry.running.exited;
    } finally {
      this.#entries.delete(pid);
    }
  }

  /** kill(2) semantics on runtime pids: -1 = all, 0 = current; an unknown pid is ESRCH, a bad signal EINVAL. */
  kill(pid: number, sig: number): void {
    if (!isValidSignal(sig) || !Number.isInteger(pid)) throw palCallError('kill', -constants.errno.EINVAL);
    const targets = this.#targets(pid);
    if (sig === 0) return;
    for (const entry of targets) {
      if (entry.running !== undefined) entry.running.signal(sig);
      else if (defaultDisposition(sig) === 'terminate') entry.killedBy ??= sig;
    }
  }

  /** Sends SIGKILL to every process, forgets the ones never started, and waits up to `graceMs` for the rest to end. */
  async killAll(graceMs: number): Promise<void> {
    const running: Promise<number>[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.running === undefined) {
        this.#entries.delete(entry.pid);
        continue;
      }
      entry.running.signal(constants.signals.SIGKILL);
      running.push(entry.running.exited.catch(() => 0));
    }
    if (running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(running), timeout]);
    clearTimeout(timer);
  }

  #targets(pid: number): Entry<P>[] {
    if (pid === -1) return [...this.#entries.values()];
    if (pid === 0) {
      const current = this.#current();
      return current === undefined ? [] : [current];
    }
    const entry = this.#entries.get(pid);
    if (entry === undefined) throw palCallError('kill', -constants.errno.ESRCH, { details: { pid } });
    return [entry];
  }

  /** The current process: the last one started if it still runs, else the last one created. */
  #current(): Entry<P> | undefined {
    if (this.#lastStarted !== undefined) {
      const started = this.#entries.get(this.#lastStarted);
      if (started !== undefined) return started;
    }
    return [...this.#entries.values()].at(-1);
  }
}
