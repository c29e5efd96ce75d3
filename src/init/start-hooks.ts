/**
 * startContainer hooks of an enclave container, run by init-runelet after `rune start` and before the
 * workload, as runc's init runs them for a plain container (runc 1.1 libcontainer/configs Command.Run):
 * each hook in turn with the state on stdin, its path, args (argv, the path alone when there are none) and
 * env (the process env, HOME included, when the hook has none), in init-runelet's cwd (the process cwd); its
 * stdout and stderr kept for the error message; its timeout (seconds) ending it with SIGKILL. The first
 * failure stops the rest and is returned in runc's words, which init-runelet prints as runc's init does.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import type { OciHook } from '../runelet/description.ts';

/** Go's names of the signals (syscall.Signal.String()), which runc's message carries. */
const GO_SIGNAL_NAMES: Record<string, string> = {
  SIGHUP: 'hangup',
  SIGINT: 'interrupt',
  SIGQUIT: 'quit',
  SIGILL: 'illegal instruction',
  SIGTRAP: 'trace/breakpoint trap',
  SIGABRT: 'aborted',
  SIGBUS: 'bus error',
  SIGFPE: 'floating point exception',
  SIGKILL: 'killed',
  SIGUSR1: 'user defined signal 1',
  SIGSEGV: 'segmentation fault',
  SIGUSR2: 'user defined signal 2',
  SIGPIPE: 'broken pipe',
  SIGALRM: 'alarm clock',
  SIGTERM: 'terminated',
};

/** `K=V` entries as spawn's env object (a later entry wins, as Go's exec does). */
function envObject(env: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** The strerror text of a spawn error, as Go prints it ("no such file or directory"). */
function spawnErrorText(err: NodeJS.ErrnoException): string {
  const known = typeof err.errno === 'number' ? getSystemErrorMap().get(err.errno) : undefined;
  return known?.[1] ?? err.message;
}

/**
 * Runs one hook; resolves to undefined, or to runc's description of its failure. `through` is a command that
 * execs `FILE ARGV0 ARG...` after it (rlimit-exec with the process's limits, as runc's init runs the hook
 * under them): then a hook that cannot be executed is reported before, as exec would.
 */
export function runHook(hook: OciHook, state: string, defaultEnv: string[], through?: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    const args = hook.args !== undefined && hook.args.length > 0 ? hook.args : [hook.path];
    // execve(2) semantics: a path without a slash is relative to the cwd, not looked up in PATH.
    const file = hook.path.includes('/') ? hook.path : `./${hook.path}`;
    if (through !== undefined) {
      try {
        accessSync(file, constants.X_OK);
      } catch (err) {
        resolve(`fork/exec ${hook.path}: ${spawnErrorText(err as NodeJS.ErrnoException)}`);
        return;
      }
    }
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const done = (result: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const [command, argv, argv0] = through === undefined ? [file, args.slice(1), args[0]] : [through[0]!, [...through.slice(1), file, ...args], through[0]];
    const child = spawn(command, argv, { argv0, env: envObject(hook.env ?? defaultEnv), stdio: ['pipe', 'pipe', 'pipe'] });
    const timer =
      typeof hook.timeout === 'number'
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, hook.timeout * 1000)
        : undefined;
    child.on('error', (err: NodeJS.ErrnoException) => done(`fork/exec ${hook.path}: ${spawnErrorText(err)}`));
    child.stdin.on('error', () => undefined); // a hook that does not read its state
    child.stdin.end(state);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('close', (code, signal) => {
      if (timedOut) return done(`hook ran past specified timeout of ${hook.timeout!.toFixed(1)}s`);
      if (code === 0) return done(undefined);
      const status = signal !== null ? `signal: ${GO_SIGNAL_NAMES[signal] ?? signal}` : `exit status ${code}`;
      return done(`error running hook: ${status}, stdout: ${Buffer.concat(stdout).toString()}, stderr: ${Buffer.concat(stderr).toString()}`);
    });
  });
}

/** Runs the hooks in order (each through `through`, see runHook); resolves to undefined, or to runc's message for the first that failed. */
export async function runStartContainerHooks(hooks: OciHook[], state: string, defaultEnv: string[], through?: string[]): Promise<string | undefined> {
  for (const [i, hook] of hooks.entries()) {
    const failure = await runHook(hook, state, defaultEnv, through);
    if (failure !== undefined) return `error running hook #${i}: ${failure}`;
  }
  return undefined;
}
