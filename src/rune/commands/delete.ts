/** `rune delete [--force] ID`: the backend deletes its state, then rune removes the container's directory. */
import { forwardToBackend, removeStateIfGone, type CommandArgs, type RuneContext } from '../context.ts';

/** Deletes a container. Returns the exit status. */
export async function deleteContainer(args: CommandArgs, ctx: RuneContext): Promise<number> {
  const { status, paths } = await forwardToBackend(args, ctx);
  // The backend may report an id it no longer knows (state lost in a crash): rune knew it, so it is gone now.
  if (removeStateIfGone(paths, args.id)) return 0;
  return status;
}
