/**
 * The backend low-level runtime (runc by default) that runs plain containers. rune points it at the
 * container's own state directory (`--root ROOT/ID/runc`) and passes the engine's arguments through verbatim,
 * so every flag an engine passes reaches it unchanged, and its error messages reach the user intact.
 */
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';
import { delimiter, join } from 'node:path';
import { InclavareError } from '../errors/errors.ts';

const USUAL_LOCATIONS = ['/usr/local/sbin/runc', '/usr/sbin/runc', '/usr/bin/runc'];

function executable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the backend: `--backend`, then $RUNE_BACKEND, then `runc` on PATH, then the usual locations (the same
 * order as the launcher). Throws RUNE_ERR_BACKEND_MISSING with what to do.
 */
export function findBackend(flagValue: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = flagValue ?? (env.RUNE_BACKEND || undefined);
  if (explicit !== undefined) {
    if (executable(explicit)) return explicit;
    throw new InclavareError(
      'RUNE_ERR_BACKEND_MISSING',
      'failed-precondition',
      `Cannot use backend runtime ${explicit}: it does not exist or is not executable; install runc or point --backend / RUNE_BACKEND at a runc-compatible runtime`,
    );
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir.startsWith('/') && executable(join(dir, 'runc'))) return join(dir, 'runc');
  }
  for (const path of USUAL_LOCATIONS) if (executable(path)) return path;
  throw new InclavareError(
    'RUNE_ERR_BACKEND_MISSING',
    'failed-precondition',
    'Cannot find the backend runtime runc on PATH or in /usr/local/sbin, /usr/sbin, /usr/bin; install runc (apt-get install runc) or set RUNE_BACKEND',
  );
}

/** Global flags forwarded to the backend unchanged (runc's own). */
export interface BackendGlobals {
  log?: string | undefined;
  logFormat?: string | undefined;
  debug?: boolean | undefined;
  systemdCgroup?: boolean | undefined;
  rootless?: string | undefined;
  criu?: string | undefined;
}

/** The backend's argv: `--root BACKEND_ROOT GLOBALS CMD ARGS...`. */
export function backendArgs(backendRoot: string, globals: BackendGlobals, command: readonly string[]): string[] {
  const args = ['--root', backendRoot];
  if (globals.log !== undefined) args.push('--log', globals.log);
  if (globals.logFormat !== undefined) args.push('--log-format', globals.logFormat);
  if (globals.debug) args.push('--debug');
  if (globals.systemdCgroup) args.push('--systemd-cgroup');
  if (globals.rootless !== undefined) args.push('--rootless', globals.rootless);
  if (globals.criu !== undefined) args.push('--criu', globals.criu);
  return args.concat(command);
}

/** Signals rune forwards to a running backend (the ones Node.js lets a program handle). */
const FORWARDED_SIGNALS: NodeJS.Signals[] = [
  'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGALRM',
];

/** Options of {@link runBackend}. */
export interface RunBackendOptions {
  /** Extra file descriptors (3, 4, ...) to pass through: --preserve-fds plus $LISTEN_FDS. */
  extraFds?: number;
}

/**
 * Runs the backend with rune's stdio (a container's stdio is the engine's, passed straight through) and
 * forwards signals to it. Resolves to its exit status as a shell reports it (128+n when killed by signal n).
 */
export function runBackend(backend: string, args: string[], options: RunBackendOptions = {}): Promise<number> {
  const stdio: StdioOptions = ['inherit', 'inherit', 'inherit'];
  for (let fd = 3; fd < 3 + (options.extraFds ?? 0); fd++) stdio.push(fd);
  return new Promise((resolve) => {
    const child = spawn(backend, args, { stdio });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    for (const sig of FORWARDED_SIGNALS) process.on(sig, forward);
    const done = (code: number): void => {
      for (const sig of FORWARDED_SIGNALS) process.off(sig, forward);
      resolve(code);
    };
    child.on('error', (err) => {
      process.stderr.write(`rune: cannot start the backend runtime ${backend}: ${err.message}\n`);
      done(1);
    });
    child.on('exit', (code, signal) => {
      if (signal !== null) {
        done(128 + (constants.signals[signal] ?? 0));
      } else {
        done(code ?? 1);
      }
    });
  });
}

/** Runs the backend and captures its output (for list and features). */
export function captureBackend(backend: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const res = spawnSync(backend, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.error) {
    throw new InclavareError('RUNE_ERR_BACKEND', 'unavailable', `Cannot run the backend runtime ${backend}`, {
      cause: res.error,
    });
  }
  return { status: res.status ?? 1, stdout: res.stdout, stderr: res.stderr };
}
