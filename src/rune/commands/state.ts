/**
 * `rune state ID`: runc's state JSON. For an enclave container the backend's container is init-runelet, so
 * rune corrects what the engine must see: "created" until `rune start`, and the engine's bundle.
 */
import { captureBackend, findBackend } from '../backend.ts';
import { forwardToBackend, type CommandArgs, type RuneContext } from '../context.ts';
import { patchEnclaveState } from '../enclave/lifecycle.ts';
import { findContainer, isEnclaveContainer } from '../state.ts';

/** Prints a container's state. Returns the exit status. */
export async function state(args: CommandArgs, ctx: RuneContext): Promise<number> {
  const paths = findContainer(ctx.sys, ctx.root, args.id);
  if (!isEnclaveContainer(ctx.sys, paths)) return (await forwardToBackend(args, ctx, { paths })).status;
  const res = captureBackend(ctx.sys, findBackend(ctx.sys, ctx.backendFlag), ['--root', paths.backendRoot, 'state', args.id]);
  ctx.sys.stderr(res.stderr);
  if (res.status !== 0) return res.status;
  ctx.sys.stdout(`${JSON.stringify(patchEnclaveState(ctx.sys, paths, JSON.parse(res.stdout) as Record<string, unknown>), null, '  ')}\n`);
  return 0;
}
