/** `rune kill [--all] ID [SIGNAL]`: the signal (name with or without SIG, or number; default TERM) goes to the backend. */
import { runeError } from '../codes.ts';
import { constants } from 'node:os';
import { forwardToBackend, type CommandArgs, type RuneContext } from '../context.ts';

/** Checks a signal as runc does: a known name (with or without SIG) or a number 1..64. */
export function parseSignal(signal: string): number {
  if (/^\d+$/.test(signal)) {
    const n = Number(signal);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
    const n = (constants.signals as Record<string, number>)[name];
    if (n !== undefined) return n;
  }
  throw runeError('RUNE_ERR_INVALID_SIGNAL', `Invalid signal ${JSON.stringify(signal)}: use a name such as TERM or KILL, or a number`);
}

/** Sends a signal to a container's process (or all its processes with --all). Returns the exit status. */
export async function kill(args: CommandArgs & { signal?: string | undefined }, ctx: RuneContext): Promise<number> {
  if (args.signal !== undefined) parseSignal(args.signal);
  return (await forwardToBackend(args, ctx)).status;
}
