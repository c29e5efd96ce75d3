/**
 * A TEST HOOK, never for production: `RUNE_FAULT=<step>` makes rune (and init-runelet, inclavared) kill
 * itself with SIGKILL when it reaches that named step, so that tests can check what a crash at that point
 * leaves behind (test/integration/fault-injection.test.ts; the steps are listed in docs/security.md
 * "Fault injection"). With the variable unset a fault point is one property read. The launcher
 * (src/launcher/rune.c) has the same hook for the steps it runs itself.
 */

/** The named steps, per program and verb. */
export const FAULT_STEPS = {
  rune: [
    'create:after-claim',
    'create:after-register',
    'create:after-backend-create',
    'create:after-init-start',
    'start:after-release',
    'exec:before-backend',
    'delete:after-backend-delete',
    'delete:after-unregister',
  ],
  initRunelet: ['init-runelet:after-init', 'init-runelet:after-release'],
  inclavared: ['inclavared:register:after-socket', 'inclavared:register:after-save', 'inclavared:unregister:after-save'],
} as const;

/** One named step. */
export type FaultStep = (typeof FAULT_STEPS)[keyof typeof FAULT_STEPS][number];

/** Kills this process (SIGKILL, as `kill -9` would) when `fault` (the value of RUNE_FAULT) names `step`. */
export function faultPoint(fault: string | undefined, step: FaultStep): void {
  if (fault === undefined || fault !== step) return;
  // PID 1 of a PID namespace (init-runelet) ignores signals sent from inside it, SIGKILL included: it ends
  // at once without running exit handlers instead, as close to a kill as it can get (status 137).
  if (process.pid === 1) (process as unknown as { reallyExit(code: number): never }).reallyExit(137);
  process.kill(process.pid, 'SIGKILL');
}
