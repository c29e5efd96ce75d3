/**
 * Poststart hooks of enclave containers. runc runs a config's poststart hooks when it starts the container's
 * process; rune starts init-runelet during `create` (so that PAL init fails create), so it takes the
 * poststart hooks out of the derived config and runs them itself when `rune start` releases the workload,
 * as runtime-spec config.md ("poststart") says: after the user process has started, before start returns,
 * with the container's state on stdin; a failing poststart hook is a warning, not an error.
 */
import { spawnSync } from 'node:child_process';

/** One OCI hook (runtime-spec config.md "POSIX-platform Hooks"). */
export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** Runs `hooks` one after another with `state` (JSON) on stdin; returns a warning per hook that failed. */
export function runPoststartHooks(hooks: readonly OciHook[], state: Record<string, unknown>): string[] {
  const warnings: string[] = [];
  for (const hook of hooks) {
    const [argv0, ...args] = hook.args ?? [hook.path];
    const env = Object.fromEntries((hook.env ?? []).filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const res = spawnSync(hook.path, args, {
      argv0: argv0 ?? hook.path,
      env,
      input: JSON.stringify(state),
      stdio: ['pipe', 'inherit', 'inherit'],
      ...(hook.timeout !== undefined && hook.timeout > 0 ? { timeout: hook.timeout * 1000 } : {}),
    });
    if (res.error !== undefined || res.status !== 0) {
      const why = res.error?.message ?? (res.signal !== null ? `killed by ${res.signal}` : `exit status ${res.status}`);
      warnings.push(`poststart hook ${hook.path} failed: ${why}`);
    }
  }
  return warnings;
}
