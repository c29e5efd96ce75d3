/**
 * One container process (a container's init or an exec) and its state machine:
 *
 *     created ──start──▶ running ──exit──▶ stopped ──delete──▶ (gone)
 *        │                  ▲ │
 *        └──────────────────┼─┘ (init only: pause ⇄ resume → paused)
 *
 * The process is started through rune-shim-monitor (src/shim/monitor.c), which runs the rune command, becomes
 * the parent of what rune started, reports its pid and exit status on a control socket, and for a terminal
 * receives the pty master and copies it to our pipes. This module owns the stdio: containerd's fifos on one
 * side, the monitor's pipes on the other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { close as closeCb, constants, open as openCb } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

/** Process states (containerd.v1.types.Status numbers). */
export const STATUS = { unknown: 0, created: 1, running: 2, stopped: 3, paused: 4 } as const;
export type ProcState = 'created' | 'running' | 'stopped' | 'paused';

/** containerd's stdio for a process. */
export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** What the monitor reports for a launch. */
export interface LaunchResult {
  /** The rune command's exit status. */
  runtimeStatus: number;
  /** The process rune started (0 when it failed). */
  pid: number;
}

/** How to start a process through the monitor. */
export interface LaunchOptions {
  monitor: string;
  runtime: string;
  args: readonly string[];
  pidFile: string;
  /** Present for a terminal: where the runtime sends the pty master. */
  consoleSocket?: string;
  env: NodeJS.ProcessEnv;
}

/** Opens a fifo for writing without blocking the event loop: O_WRONLY when a reader is there, else O_RDWR. */
function openWriteFifo(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    openCb(path, constants.O_WRONLY | constants.O_NONBLOCK, (err, fd) => {
      const wrap = (f: number): void => resolve(new Socket({ fd: f, readable: false, writable: true }));
      if (!err) return wrap(fd);
      if (err.code !== 'ENXIO') return reject(err);
      openCb(path, constants.O_RDWR | constants.O_NONBLOCK, (err2, fd2) => (err2 ? reject(err2) : wrap(fd2)));
    });
  });
}

/** Opens a fifo for reading; waits (in libuv's thread pool) until containerd opens its writing end. */
function openReadFifo(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    openCb(path, constants.O_RDONLY, (err, fd) => (err ? reject(err) : resolve(new Socket({ fd, readable: true, writable: false }))));
  });
}

/** A process of a container. */
export class Proc {
  readonly containerId: string;
  /** '' for the init process. */
  readonly execId: string;
  readonly stdio: StdioPaths;
  state: ProcState = 'created';
  pid = 0;
  exitStatus = 0;
  exitedAt: Date | undefined;
  /** For an exec: the process spec file. */
  specFile = '';
  #monitor: ChildProcess | undefined;
  #ctl: Socket | undefined;
  #stdinPipe: Writable | undefined;
  #stdinFifo: Socket | undefined;
  /** The stdin fifo's open is waiting (in the thread pool) for containerd's writer. */
  #stdinOpening = false;
  #outputDone: Promise<void> = Promise.resolve();
  #exited: Promise<void>;
  #resolveExited!: () => void;
  #onExit: ((proc: Proc) => void) | undefined;

  constructor(containerId: string, execId: string, stdio: StdioPaths) {
    this.containerId = containerId;
    this.execId = execId;
    this.stdio = stdio;
    this.#exited = new Promise((resolve) => (this.#resolveExited = resolve));
  }

  /** Resolves once the process exited and its output was copied. */
  waitExit(): Promise<void> {
    return this.#exited;
  }

  /** Called once when the process exits (after its output was copied). */
  onExit(fn: (proc: Proc) => void): void {
    this.#onExit = fn;
  }

  /**
   * Runs `rune ...` through the monitor. Resolves when rune's command ended: with the pid of the process it
   * started, or with its failure status (then the process never existed).
   */
  async launch(opts: LaunchOptions): Promise<LaunchResult> {
    const { stdio } = this;
    const monitorArgs = ['-p', opts.pidFile, ...(opts.consoleSocket !== undefined ? ['-c', opts.consoleSocket] : []), '--', opts.runtime, ...opts.args];
    const wantIn = stdio.stdin !== '';
    const wantOut = stdio.stdout !== '';
    const wantErr = stdio.stderr !== '' && !stdio.terminal;
    // Open containerd's fifos before the process can write (stdout/stderr) or wait for input (stdin).
    const [outFifo, errFifo] = await Promise.all([wantOut ? openWriteFifo(stdio.stdout) : undefined, wantErr ? openWriteFifo(stdio.stderr) : undefined]);
    const child = spawn(opts.monitor, monitorArgs, {
      stdio: [wantIn ? 'pipe' : 'ignore', wantOut ? 'pipe' : 'ignore', wantErr ? 'pipe' : 'ignore', 'pipe'],
      env: opts.env,
    });
    this.#monitor = child;
    const ctl = child.stdio[3] as Socket;
    this.#ctl = ctl;
    const copies: Promise<void>[] = [];
    const copy = (from: Readable | null, to: Socket | undefined): void => {
      if (!from || !to) return;
      to.on('error', () => {
        from.unpipe(to);
        from.resume(); // nobody reads any more: keep the process from blocking on a full pipe
      });
      copies.push(new Promise((resolve) => from.once('close', resolve).once('end', resolve)));
      from.pipe(to);
    };
    copy(child.stdout, outFifo);
    copy(child.stderr, errFifo);
    this.#outputDone = Promise.all(copies).then(() => undefined);
    if (wantIn && child.stdin) {
      this.#stdinPipe = child.stdin;
      child.stdin.on('error', () => undefined);
      this.#stdinOpening = true;
      openReadFifo(stdio.stdin).then(
        (fifo) => {
          this.#stdinOpening = false;
          this.#stdinFifo = fifo;
          fifo.on('error', () => undefined);
          if (this.#stdinPipe === undefined) {
            fifo.destroy();
            return;
          }
          fifo.pipe(child.stdin!);
        },
        () => {
          this.#stdinOpening = false;
          this.closeStdin();
        },
      );
    }

    return new Promise<LaunchResult>((resolve) => {
      let buf = '';
      let runtimeStatus = -1;
      let settled = false;
      const settle = (r: LaunchResult): void => {
        if (!settled) {
          settled = true;
          resolve(r);
        }
      };
      const exited = (status: number): void => {
        if (this.exitedAt !== undefined) return;
        this.exitStatus = status;
        this.exitedAt = new Date();
        // Orphans that share the pid namespace may hold the pipes: the exit is not held back more than 5 s.
        const timeout = new Promise<void>((r) => setTimeout(r, 5000).unref());
        void Promise.race([this.#outputDone, timeout]).then(() => {
          this.state = 'stopped';
          outFifo?.end();
          errFifo?.end();
          this.closeStdin();
          this.#ctl?.destroy();
          this.#onExit?.(this);
          this.#resolveExited();
        });
      };
      ctl.setEncoding('utf8');
      ctl.on('error', () => undefined);
      ctl.on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).split(' ');
          buf = buf.slice(nl + 1);
          if (line[0] === 'runtime') {
            runtimeStatus = Number(line[1]);
            if (runtimeStatus !== 0) settle({ runtimeStatus, pid: 0 });
          } else if (line[0] === 'pid') {
            this.pid = Number(line[1]);
            settle({ runtimeStatus: 0, pid: this.pid });
          } else if (line[0] === 'exit') {
            exited(Number(line[2]));
          }
        }
      });
      child.once('error', () => settle({ runtimeStatus: 127, pid: 0 }));
      let gone = false;
      const monitorGone = (): void => {
        if (gone) return;
        gone = true;
        // The monitor ends after "exit"; if it died otherwise, the process is lost to us.
        settle({ runtimeStatus: runtimeStatus < 0 ? 255 : runtimeStatus, pid: this.pid });
        if (this.pid > 0) exited(this.exitStatus !== 0 ? this.exitStatus : 255);
        else {
          outFifo?.destroy();
          errFifo?.destroy();
          this.closeStdin();
        }
      };
      child.once('exit', () => {
        // 'exit' can come before the monitor's last lines ("exit <pid> <status>") were read from the control
        // socket (both pending in one turn of the event loop): read them to its end first.
        if (ctl.destroyed || ctl.readableEnded) monitorGone();
        else {
          ctl.once('end', monitorGone);
          ctl.once('close', monitorGone);
          setTimeout(monitorGone, 1000).unref();
        }
      });
    });
  }

  /** Marks a process whose runtime command failed as stopped with `status` (Wait answers it). */
  fail(status: number): void {
    if (this.exitedAt !== undefined) return;
    this.state = 'stopped';
    this.exitStatus = status;
    this.exitedAt = new Date();
    this.#onExit?.(this);
    this.#resolveExited();
  }

  /** Closes the process's stdin (CloseIO, or the stdin fifo's end). */
  closeStdin(): void {
    const pipe = this.#stdinPipe;
    this.#stdinPipe = undefined;
    if (this.#stdinOpening) {
      // Nobody opened the fifo's writing end: open it ourselves so the waiting open returns (a thread of
      // libuv's pool would stay blocked, and the shim could not exit).
      openCb(this.stdio.stdin, constants.O_WRONLY | constants.O_NONBLOCK, (err, fd) => {
        if (!err) closeCb(fd, () => undefined);
      });
    }
    if (this.#stdinFifo) {
      this.#stdinFifo.unpipe();
      this.#stdinFifo.destroy();
    }
    pipe?.end();
  }

  /** Sets the terminal's size (ResizePty). */
  resize(width: number, height: number): void {
    if (this.#ctl && !this.#ctl.destroyed) this.#ctl.write(`winsize ${height} ${width}\n`);
  }

  /** Sends a signal to the process itself (exec processes; the init goes through rune kill). */
  signal(sig: number): void {
    if (this.pid > 0 && this.state !== 'stopped') process.kill(this.pid, sig);
  }

  /** Forgets the monitor (it ends by itself once the process exits). */
  dispose(): void {
    this.closeStdin();
    this.#ctl?.destroy();
    if (this.#monitor && this.#monitor.exitCode === null && this.state === 'stopped') this.#monitor.kill('SIGKILL');
  }
}
