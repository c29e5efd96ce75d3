/** `rune delete [--force] ID`: the backend deletes its state, then rune removes the container's directory. */
import { forwardToBackend, type CommandArgs, type RuneContext } from '../context.ts';
import { unregisterAttestation } from '../enclave/attestation.ts';
import { backendHasState, removeState } from '../state.ts';
import { faultPoint } from '../../util/fault.ts';

/** Deletes a container. Returns the exit status. */
export async function deleteContainer(args: CommandArgs, ctx: RuneContext): Promise<number> {
  const { status, paths } = await forwardToBackend(args, ctx);
  if (!backendHasState(ctx.sys, paths, args.id)) {
    faultPoint(ctx.sys.env.RUNE_FAULT, 'delete:after-backend-delete');
    await unregisterAttestation(ctx.sys, paths, ctx.attestation);
    faultPoint(ctx.sys.env.RUNE_FAULT, 'delete:after-unregister');
    // The backend may report an id it no longer knows (state lost in a crash): rune knew it, so it is gone now.
    removeState(ctx.sys, paths);
    return 0;
  }
  return status;
}
