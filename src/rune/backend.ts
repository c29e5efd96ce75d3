/**
 * The backend low-level runtime (runc by default) that runs plain containers. rune points it at the
 * container's own state directory (`--root ROOT/ID/runc`) and passes the engine's arguments through verbatim,
 * so every flag an engine passes reaches it unchanged, and its error messages reach the user intact.
 */
import { delimiter, join } from 'node:path';
import { runeError } from './codes.ts';
import type { Sys } from '../sys/sys.ts';

const USUAL_LOCATIONS = ['/usr/local/sbin/runc', '/usr/sbin/runc', '/usr/bin/runc'];

/**
 * Finds the backend: `--backend`, then $RUNE_BACKEND, then `runc` on PATH, then the usual locations (the same
 * order as the launcher). Throws RUNE_ERR_BACKEND_MISSING with what to do.
 */
export function findBackend(sys: Sys, flagValue: string | undefined): string {
  const env = sys.env;
  const explicit = flagValue ?? (env.RUNE_BACKEND || undefined);
  if (explicit !== undefined) {
    if (sys.isExecutable(explicit)) return explicit;
    throw runeError(
      'RUNE_ERR_BACKEND_MISSING',
      `Cannot use backend runtime ${explicit}: it does not exist or is not executable; install runc or point --backend / RUNE_BACKEND at a runc-compatible runtime`,
    );
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir.startsWith('/') && sys.isExecutable(join(dir, 'runc'))) return join(dir, 'runc');
  }
  for (const path of USUAL_LOCATIONS) if (sys.isExecutable(path)) return path;
  throw runeError(
    'RUNE_ERR_BACKEND_MISSING',
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
export async function runBackend(sys: Sys, backend: string, args: string[], options: RunBackendOptions = {}): Promise<number> {
  try {
    return await sys.run(backend, args, { extraFds: options.extraFds ?? 0, forwardSignals: FORWARDED_SIGNALS });
  } catch (err) {
    sys.stderr(`rune: cannot start the backend runtime ${backend}: ${(err as Error).message}\n`);
    return 1;
  }
}

/** Runs the backend and captures its output (for list and features). */
export function captureBackend(sys: Sys, backend: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const res = sys.capture(backend, args);
  if (res.error) {
    throw runeError('RUNE_ERR_BACKEND_EXEC', `Cannot run the backend runtime ${backend}`, {
      cause: res.error,
    });
  }
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}
