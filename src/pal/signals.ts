/**
 * Default signal dispositions (signal(7)) for runtimes whose processes cannot handle signals themselves
 * (a WebAssembly module, or a process that was created but has not started): a terminating signal ends the
 * process with 128+n; the default-ignored ones (SIGCHLD, SIGCONT, SIGURG, SIGWINCH) and the stop signals
 * (a WASI process cannot be stopped) change nothing. init-runelet forwards every catchable signal as
 * kill(-1, sig), so this decides whether a SIGWINCH from a terminal resize kills a workload: it must not.
 */
import { constants } from 'node:os';

/** What a signal does to a process that has no handler for it. */
export type SignalDisposition = 'terminate' | 'ignore';

const s = constants.signals;
const IGNORED = new Set<number>([s.SIGCHLD, s.SIGCONT, s.SIGURG, s.SIGWINCH, s.SIGSTOP, s.SIGTSTP, s.SIGTTIN, s.SIGTTOU]);

/** Highest signal number Linux accepts (SIGRTMAX). */
export const MAX_SIGNAL = 64;

/** True when `sig` is a signal number kill(2) accepts (0 checks existence only). */
export function isValidSignal(sig: number): boolean {
  return Number.isInteger(sig) && sig >= 0 && sig <= MAX_SIGNAL;
}

/** The default disposition of signal `sig` (1..64). */
export function defaultDisposition(sig: number): SignalDisposition {
  return IGNORED.has(sig) ? 'ignore' : 'terminate';
}
