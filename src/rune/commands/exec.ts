/** `rune exec`: run a new process in a plain container through the backend, every flag passed verbatim. */
import { extraFds, forwardToBackend, type CommandArgs, type RuneContext } from '../context.ts';

/** Runs a process in a container. Returns the exit status (the process's, unless --detach). */
export async function exec(args: CommandArgs & { preserveFds?: string | undefined }, ctx: RuneContext): Promise<number> {
  return (await forwardToBackend(args, ctx, { extraFds: extraFds(args.preserveFds) })).status;
}
