/**
 * `rune create` and `rune run`: claim the id, check the bundle, hand it to the backend with the container's
 * own state root. A failed create leaves nothing behind.
 */
import { readBundleConfig } from '../../oci/config.ts';
import { backendArgs, findBackend, runBackend } from '../backend.ts';
import { extraFds, removeStateIfGone, type CommandArgs, type RuneContext } from '../context.ts';
import { readEnclaveConfig } from '../enclave/config.ts';
import { createEnclaveContainer } from '../enclave/lifecycle.ts';
import { runEnclaveContainer } from '../enclave/run.ts';
import { claimContainer, validateId } from '../state.ts';
import { faultPoint } from '../../util/fault.ts';

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
  const { config, bundle } = readBundleConfig(args.bundle ?? '.', ctx.sys);
  const enclave = readEnclaveConfig(config);
  if (enclave !== undefined) {
    const options = { id: args.id, raw: args.raw, bundle, config, enclave, extraFds: extraFds(args.preserveFds, ctx.sys.env) };
    if (args.run === true) return runEnclaveContainer(options, { detach: args.detach === true, keep: args.keep === true }, ctx);
    return createEnclaveContainer(options, ctx);
  }
  const backend = findBackend(ctx.sys, ctx.backendFlag);
  const paths = claimContainer(ctx.sys, ctx.root, args.id);
  faultPoint(ctx.sys.env.RUNE_FAULT, 'create:after-claim');
  let status = 1;
  try {
    const argv = backendArgs(paths.backendRoot, ctx.globals, args.raw);
    ctx.log.debug(`rune: ${backend} ${argv.join(' ')}`);
    status = await runBackend(ctx.sys, backend, argv, { extraFds: extraFds(args.preserveFds, ctx.sys.env) });
    if (status === 0) faultPoint(ctx.sys.env.RUNE_FAULT, 'create:after-backend-create');
  } finally {
    const finished = args.run === true && !args.detach && !args.keep;
    if (status !== 0 || finished) removeStateIfGone(ctx.sys, paths, args.id);
  }
  return status;
}
