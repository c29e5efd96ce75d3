/** `rune features`: the backend's feature document (runtime-spec features.md), as the backend reports it. */
import { captureBackend, findBackend } from '../backend.ts';
import type { RuneContext } from '../context.ts';

/** Prints the features JSON. Returns the exit status. */
export function features(ctx: RuneContext): number {
  const res = captureBackend(ctx.sys, findBackend(ctx.sys, ctx.backendFlag), ['features']);
  ctx.sys.stdout(res.stdout);
  ctx.sys.stderr(res.stderr);
  return res.status;
}
