/** `rune start ID`: the backend's start for a plain container; for an enclave container, release init-runelet. */
import { forwardToBackend, type CommandArgs, type RuneContext } from '../context.ts';
import { startEnclaveContainer } from '../enclave/lifecycle.ts';
import { findContainer, isEnclaveContainer } from '../state.ts';

/** Starts a created container. Returns the exit status. */
export async function start(args: CommandArgs, ctx: RuneContext): Promise<number> {
  const paths = findContainer(ctx.sys, ctx.root, args.id);
  if (isEnclaveContainer(ctx.sys, paths)) return startEnclaveContainer(ctx, paths, args.id);
  return (await forwardToBackend(args, ctx, { paths })).status;
}
