/**
 * `rune run` of an enclave container: create (PAL init), start (create_process + exec), and in the
 * foreground wait for the workload, forwarding signals sent to rune, and exit with its exit code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { InclavareError } from '../../errors/errors.ts';
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
    throw new InclavareError(
      'RUNE_ERR_USAGE',
      'invalid-argument',
      `Cannot run enclave container ${JSON.stringify(options.id)} with a terminal in the foreground: pass --console-socket (engines such as podman -t do), or set process.terminal to false`,
    );
  }
  await createEnclaveContainer(options, ctx);
  const paths = containerPaths(ctx.root, options.id);
  startEnclaveContainer(paths, options.id);
  if (run.detach) return 0;

  const backend = findBackend(ctx.backendFlag);
  const state = (): string | undefined => {
    const res = captureBackend(backend, ['--root', paths.backendRoot, 'state', options.id]);
    return res.status === 0 ? (JSON.parse(res.stdout) as { status: string }).status : undefined;
  };
  const forward = (signal: NodeJS.Signals): void => {
    captureBackend(backend, ['--root', paths.backendRoot, 'kill', options.id, String(constants.signals[signal])]);
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    const exitFile = enclavePaths(paths).exit;
    for (let i = 0; ; i++) {
      if (existsSync(exitFile)) break;
      if (i % 10 === 9 && state() !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // init-runelet records the workload's code before it exits; without it, PID 1 itself was killed.
    for (let i = 0; i < 100 && state() === 'running'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const code = existsSync(exitFile) ? (JSON.parse(readFileSync(exitFile, 'utf8')) as { exitCode: number }).exitCode : 137;
    if (!run.keep) {
      captureBackend(backend, backendArgs(paths.backendRoot, ctx.globals, ['delete', '--force', options.id]));
      await unregisterAttestation(paths);
      removeState(paths);
    }
    return code;
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
  }
}
