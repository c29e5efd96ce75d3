/**
 * `rune start | state | pause | resume | ps | events | update`: for a plain container each is exactly the
 * backend's command, run against the container's own state root with the engine's arguments verbatim (so
 * `state` and `ps --format json` print what runc prints).
 */
import { forwardToBackend, type CommandArgs, type RuneContext } from '../context.ts';

/** Runs one of the forwarded commands for a container. Returns the exit status. */
export async function forwarded(args: CommandArgs, ctx: RuneContext): Promise<number> {
  return (await forwardToBackend(args, ctx)).status;
}
