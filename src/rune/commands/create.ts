/**
 * `rune create` and `rune run`: claim the id, check the bundle, hand it to the backend with the container's
 * own state root. A failed create leaves nothing behind.
 */
import { readBundleConfig, enclaveType } from '../../oci/config.ts';
import { backendArgs, findBackend, runBackend } from '../backend.ts';
import { extraFds, refuseEnclave, removeStateIfGone, type CommandArgs, type RuneContext } from '../context.ts';
import { claimContainer, validateId } from '../state.ts';

/** Flags of create and run that rune itself looks at (the rest pass through). */
export interface CreateArgs extends CommandArgs {
  bundle?: string | undefined;
  preserveFds?: string | undefined;
  /** run only */
  run?: boolean;
  detach?: boolean;
  keep?: boolean;
}

/** Creates (or, for `run`, creates, starts and waits for) a container. Returns the exit status. */
export async function create(args: CreateArgs, ctx: RuneContext): Promise<number> {
  validateId(args.id);
  const { config } = readBundleConfig(args.bundle ?? '.');
  if (enclaveType(config) !== undefined) refuseEnclave(args.id);
  const backend = findBackend(ctx.backendFlag);
  const paths = claimContainer(ctx.root, args.id);
  let status = 1;
  try {
    const argv = backendArgs(paths.backendRoot, ctx.globals, args.raw);
    ctx.log.debug(`rune: ${backend} ${argv.join(' ')}`);
    status = await runBackend(backend, argv, { extraFds: extraFds(args.preserveFds) });
  } finally {
    const finished = args.run === true && !args.detach && !args.keep;
    if (status !== 0 || finished) removeStateIfGone(paths, args.id);
  }
  return status;
}
