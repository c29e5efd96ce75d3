/**
 * `rune run` of an enclave container: create (PAL init), start (create_process + exec), and in the
 * foreground wait for the workload, forwarding signals sent to rune, and exit with its exit code.
 */
import { constants } from 'node:os';
import { runeError } from '../codes.ts';
import { backendArgs, captureBackend, findBackend } from '../backend.ts';
import type { RuneContext } from '../context.ts';
import { containerPaths, removeState } from '../state.ts';
import { unregisterAttestation } from './attestation.ts';
import { createEnclaveContainer, enclavePaths, startEnclaveContainer, type CreateEnclaveOptions } from './lifecycle.ts';

const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGWINCH', 'SIGCONT'];

/** Runs an enclave container; returns the workload's exit code (foreground) or 0 (detached). */
export async function runEnclaveContainer(options: CreateEnclaveOptions, run: { detach: boolean; keep: boolean }, ctx: RuneContext): Promise<number> {
  const hasConsoleSocket = options.raw.some((a) => a === '--console-socket' || a.startsWith('--console-socket='));
  if (options.config.process?.terminal === true && !hasConsoleSocket) {
    throw runeError(
      'RUNE_ERR_USAGE',
      `Cannot run enclave container ${JSON.stringify(options.id)} with a terminal in the foreground: pass --console-socket (engines such as podman -t do), or set process.terminal to false`,
    );
  }
  const sys = ctx.sys;
  await createEnclaveContainer(options, ctx);
  const paths = containerPaths(ctx.root, options.id);
  await startEnclaveContainer(ctx, paths, options.id);
  if (run.detach) return 0;

  const backend = findBackend(sys, ctx.backendFlag);
  const state = (): string | undefined => {
    const res = captureBackend(sys, backend, ['--root', paths.backendRoot, 'state', options.id]);
    return res.status === 0 ? (JSON.parse(res.stdout) as { status: string }).status : undefined;
  };
  const forward = (signal: NodeJS.Signals): void => {
    captureBackend(sys, backend, ['--root', paths.backendRoot, 'kill', options.id, String(constants.signals[signal])]);
  };
  const stopForwarding = sys.onSignals(FORWARDED, forward);
  try {
    const exitFile = enclavePaths(paths).exit;
    const exited = (): boolean => sys.stat(exitFile) !== undefined;
    for (let i = 0; ; i++) {
      if (exited()) break;
      if (i % 10 === 9 && state() !== 'running') break;
      await sys.sleep(10);
    }
    // init-runelet records the workload's code before it exits; without it, PID 1 itself was killed.
    for (let i = 0; i < 100 && state() === 'running'; i++) await sys.sleep(10);
    const code = exited() ? (JSON.parse(sys.readFile(exitFile).toString('utf8')) as { exitCode: number }).exitCode : 137;
    if (!run.keep) {
      captureBackend(sys, backend, backendArgs(paths.backendRoot, ctx.globals, ['delete', '--force', options.id]));
      await unregisterAttestation(sys, paths, ctx.attestation);
      removeState(sys, paths);
    }
    return code;
  } finally {
    stopForwarding();
  }
}
