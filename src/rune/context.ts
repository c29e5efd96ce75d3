/**
 * What every rune command receives: the global flags, the log, the way to reach the backend, and the OS
 * (src/sys/sys.ts): commands touch the machine only through `ctx.sys`, so a caller in the same process (the
 * shim) or a test (FakeSys) hands in its own.
 */
import { backendArgs, findBackend, runBackend, type BackendGlobals } from './backend.ts';
import type { Sys } from '../sys/sys.ts';
import type { AttestationService } from './enclave/attestation.ts';
import type { RuneLog } from './log.ts';
import { backendHasState, findContainer, removeState, type ContainerPaths } from './state.ts';

/** One rune call's context. */
export interface RuneContext {
  /** --root: where rune keeps a state directory per container. */
  root: string;
  log: RuneLog;
  /** Global flags forwarded to the backend unchanged. */
  globals: BackendGlobals;
  /** --backend, when given. */
  backendFlag?: string | undefined;
  /** The OS seam: processes, signals, files, env, stdio. */
  sys: Sys;
  /** inclavared, for enclave containers' attestation sockets (default: the daemon under $INCLAVARED_ROOT). */
  attestation?: AttestationService;
}

/** The arguments of a command as the engine passed them (everything after the command name). */
export interface CommandArgs {
  id: string;
  /** The command name and its raw arguments, forwarded to the backend verbatim. */
  raw: string[];
}

/** Extra file descriptors the engine passes: --preserve-fds N plus $LISTEN_FDS (socket activation). */
export function extraFds(preserveFds: string | undefined, env: Readonly<Record<string, string | undefined>>): number {
  const preserve = preserveFds === undefined ? 0 : Number(preserveFds);
  const listen = Number(env.LISTEN_FDS ?? '0');
  return (Number.isInteger(preserve) && preserve > 0 ? preserve : 0) + (Number.isInteger(listen) && listen > 0 ? listen : 0);
}

/**
 * Runs a command on an existing container through the backend, verbatim (for an enclave container the
 * backend's container is init-runelet, which forwards signals into the enclave runtime). Returns the exit
 * status. Throws RUNE_ERR_NOT_FOUND for an unknown id.
 */
export async function forwardToBackend(
  args: CommandArgs,
  ctx: RuneContext,
  options: { extraFds?: number; paths?: ContainerPaths } = {},
): Promise<{ status: number; paths: ContainerPaths }> {
  const paths = options.paths ?? findContainer(ctx.sys, ctx.root, args.id);
  const backend = findBackend(ctx.sys, ctx.backendFlag);
  const argv = backendArgs(paths.backendRoot, ctx.globals, args.raw);
  ctx.log.debug(`rune: ${backend} ${argv.join(' ')}`);
  const status = await runBackend(ctx.sys, backend, argv, options);
  return { status, paths };
}

/** Removes a container's state once the backend no longer has it (after delete, a failed create, a run). */
export function removeStateIfGone(sys: Sys, paths: ContainerPaths, id: string): boolean {
  if (backendHasState(sys, paths, id)) return false;
  removeState(sys, paths);
  return true;
}
