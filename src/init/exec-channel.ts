/**
 * `rune exec` into the enclave runtime instance of PID 1 (docs/enclave-containers.md, "exec").
 *
 * A native PAL library of API v2 or v3 runs several processes in one instance (pal_create_process, pal_exec,
 * pal_kill): an exec'd command belongs in the enclave the workload runs in, not in a second one. init-runelet
 * therefore serves a unix socket in the container (IN_CONTAINER.execSocket, mode 0600, its own user); the runelet
 * that runc execs for `rune exec` connects and sends one request line, and init-runelet creates the process in its
 * runtime with the runelet's own stdio, reopened through /proc/<runelet pid>/fd/{0,1,2} (pipes, FIFOs, terminals
 * and files reopen; a socket does not, and the request is refused naming it). Newline-delimited JSON:
 *
 *   runelet → init: {"argv":[...],"env":[...],"cwd":"...","pid":N}     then any number of {"signal":n}
 *   init → runelet: {"started":palPid} then {"exit":code}, or {"error":"..."} (nothing was started)
 *
 * A runelet that goes away (killed) takes its process with it: init-runelet sends SIGKILL to that pid. sim and
 * wasm runtimes and PAL v1 libraries have no such socket: their runelet runs a second instance (for sim and wasm
 * that is what a process is; for PAL v1, which runs one process per instance, the runelet says so on stderr).
 */
import { closeSync, openSync, readFileSync, constants as fsConstants } from 'node:fs';
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import { constants } from 'node:os';
import { describeError } from '../errors/errors.ts';
import type { EnclaveRuntime } from '../pal/types.ts';

/** Longest request line accepted (argv and env of a command). */
export const MAX_EXEC_REQUEST = 1 << 20;

/** What a runelet asks for. */
export interface ExecRequest {
  argv: string[];
  env: string[];
  cwd: string;
  /** The runelet's pid in the container's pid namespace (whose stdio the process gets). */
  pid: number;
}

/** Whether a runtime can run an exec'd command in its running instance. */
export function sharesInstance(runtime: EnclaveRuntime): boolean {
  return runtime.name !== 'sim' && runtime.name !== 'wasm' && runtime.version >= 2;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/** Parses a request line; a string naming the problem when it is not one. */
export function parseExecRequest(line: string): ExecRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'the request is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the request is not a JSON object';
  const r = value as Record<string, unknown>;
  if (!isStringArray(r.argv) || r.argv.length === 0) return 'argv must be a non-empty array of strings';
  if (!isStringArray(r.env)) return 'env must be an array of strings';
  if (typeof r.cwd !== 'string') return 'cwd must be a string';
  if (typeof r.pid !== 'number' || !Number.isSafeInteger(r.pid) || r.pid < 2) return 'pid must be a process id';
  return { argv: r.argv, env: r.env, cwd: r.cwd, pid: r.pid };
}

/** O_APPEND when the process's descriptor has it (/proc/PID/fdinfo/FD `flags:`, octal). */
function appendFlag(pid: number, fd: number): number {
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
    return flags !== undefined && (parseInt(flags, 8) & fsConstants.O_APPEND) !== 0 ? fsConstants.O_APPEND : 0;
  } catch {
    return 0;
  }
}

/**
 * Reopens another process's stdio through /proc (a regular file reopens at offset 0; append mode is kept);
 * closes what it opened on failure.
 */
function reopenStdio(pid: number): { stdin: number; stdout: number; stderr: number } {
  const opened: number[] = [];
  try {
    for (const [fd, flags] of [
      [0, fsConstants.O_RDONLY],
      [1, fsConstants.O_WRONLY],
      [2, fsConstants.O_WRONLY],
    ] as const) {
      try {
        opened.push(openSync(`/proc/${pid}/fd/${fd}`, flags | fsConstants.O_NOCTTY | (fd === 0 ? 0 : appendFlag(pid, fd))));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENXIO' ? 'it is a socket, which cannot be reopened' : code === 'EACCES' || code === 'EPERM' ? "the exec runs as another user than the container's process" : describeError(err);
        throw new Error(`cannot reach the exec's ${['stdin', 'stdout', 'stderr'][fd]}: ${why}`);
      }
    }
    return { stdin: opened[0]!, stdout: opened[1]!, stderr: opened[2]! };
  } catch (err) {
    for (const fd of opened) closeSync(fd);
    throw err;
  }
}

function send(socket: net.Socket, value: unknown): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(value)}\n`);
}

/** Serves exec requests into `runtime` on `path`; resolves once listening. close() stops it. */
export async function serveExecChannel(path: string, runtime: EnclaveRuntime, env: (requested: string[]) => string[]): Promise<{ close(): void }> {
  rmSync(path, { force: true });
  const server = net.createServer((socket) => {
    let buffered = '';
    let palPid: number | undefined;
    let ended = false;
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        handle(line);
      }
      if (buffered.length > MAX_EXEC_REQUEST) {
        send(socket, { error: `the request is over ${MAX_EXEC_REQUEST} bytes` });
        socket.destroy();
      }
    };
    const handle = (line: string): void => {
      if (palPid !== undefined) {
        let signal: unknown;
        try {
          signal = (JSON.parse(line) as { signal?: unknown } | null)?.signal;
        } catch {
          return;
        }
        if (typeof signal === 'number' && Number.isInteger(signal) && signal > 0 && signal < 65) {
          runtime.kill(palPid, signal).catch(() => undefined);
        }
        return;
      }
      const request = parseExecRequest(line);
      if (typeof request === 'string') {
        send(socket, { error: request });
        socket.end();
        return;
      }
      palPid = -1;
      run(request);
    };
    const run = (request: ExecRequest): void => {
      let stdio: { stdin: number; stdout: number; stderr: number };
      try {
        stdio = reopenStdio(request.pid);
      } catch (err) {
        send(socket, { error: (err as Error).message });
        socket.end();
        return;
      }
      const closeStdio = (): void => {
        for (const fd of [stdio.stdin, stdio.stdout, stdio.stderr]) closeSync(fd);
      };
      runtime
        .createProcess({ path: request.argv[0]!, argv: request.argv, env: env(request.env), cwd: request.cwd, stdio })
        .then(async (pid) => {
          palPid = pid;
          send(socket, { started: pid });
          if (ended) await runtime.kill(pid, constants.signals.SIGKILL).catch(() => undefined);
          return runtime.exec(pid);
        })
        .then(
          (code) => send(socket, { exit: code }),
          (err: unknown) => send(socket, { error: describeError(err) }),
        )
        .finally(() => {
          closeStdio();
          socket.end();
        });
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      ended = true;
      // The runelet went away (killed): its process goes too.
      if (palPid !== undefined && palPid > 0) runtime.kill(palPid, constants.signals.SIGKILL).catch(() => undefined);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  server.unref();
  return {
    close: () => {
      server.close();
      rmSync(path, { force: true });
    },
  };
}

/** The outcome of asking PID 1 to run a command: its exit code, or why it could not (nothing ran). */
export type ExecOutcome = { exit: number; error?: string } | { refused: string };

/**
 * Runs `request` in PID 1's runtime through `path`: forwards the signals the runelet receives, resolves to the
 * exit code. `refused` when there is no channel or PID 1 could not start the command.
 */
export function execInPid1(path: string, request: ExecRequest, signals: NodeJS.Signals[]): Promise<ExecOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    let buffered = '';
    let started = false;
    let settled = false;
    const forward = (signal: NodeJS.Signals): void => send(socket, { signal: constants.signals[signal] });
    const finish = (outcome: ExecOutcome): void => {
      if (settled) return;
      settled = true;
      for (const s of signals) process.off(s, forward);
      socket.destroy();
      resolve(outcome);
    };
    socket.on('connect', () => {
      for (const s of signals) process.on(s, forward);
      send(socket, request);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        let reply: { started?: number; exit?: number; error?: string };
        try {
          reply = JSON.parse(buffered.slice(0, nl)) as typeof reply;
        } catch {
          reply = { error: 'PID 1 sent a malformed reply' };
        }
        buffered = buffered.slice(nl + 1);
        if (typeof reply.started === 'number') started = true;
        else if (typeof reply.exit === 'number') finish({ exit: reply.exit });
        else finish(started ? { exit: 1, error: String(reply.error) } : { refused: String(reply.error) });
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ refused: err.code === 'ENOENT' ? "the container's runtime takes no second process (a PAL API v1 library runs one process per instance)" : describeError(err) }));
    // PID 1 ended (the container stops): the command ended with it.
    socket.on('close', () => finish(started ? { exit: 128 + constants.signals.SIGKILL } : { refused: 'PID 1 closed the exec channel' }));
  });
}
