/** Validation shared by every runtime: init options and process specs (pure). */
import { PAL_ERR_ARGS, palError } from './codes.ts';
import { PAL_LOG_LEVELS, type PalInitOptions, type PalProcessSpec } from './types.ts';

/** Throws PAL_ERR_ARGS unless `options` carries a known log level and a string of args. */
export function validateInitOptions(runtime: string, options: PalInitOptions): void {
  if (typeof options.args !== 'string') {
    throw palError(PAL_ERR_ARGS, `Cannot initialize enclave runtime ${runtime}: args must be a string`);
  }
  if (!PAL_LOG_LEVELS.includes(options.logLevel)) {
    throw palError(
      PAL_ERR_ARGS,
      `Cannot initialize enclave runtime ${runtime}: log level "${String(options.logLevel)}" is not one of ${PAL_LOG_LEVELS.join(', ')}`,
    );
  }
}

const isFd = (fd: unknown): boolean => Number.isInteger(fd) && (fd as number) >= 0;

/** Throws PAL_ERR_ARGS unless `spec` has a path, an argv and env of strings and three valid fds. */
export function validateProcessSpec(runtime: string, spec: PalProcessSpec): void {
  const fail = (why: string): never => {
    throw palError(PAL_ERR_ARGS, `Cannot create process in enclave runtime ${runtime}: ${why}`);
  };
  if (typeof spec.path !== 'string' || spec.path === '') fail('the path is empty');
  if (spec.path.includes('\0')) fail('the path contains a NUL byte');
  if (!Array.isArray(spec.argv) || !spec.argv.every((a) => typeof a === 'string' && !a.includes('\0'))) {
    fail('argv must be an array of strings without NUL bytes');
  }
  if (!Array.isArray(spec.env) || !spec.env.every((e) => typeof e === 'string' && !e.includes('\0'))) {
    fail('env must be an array of KEY=value strings without NUL bytes');
  }
  if (!isFd(spec.stdio?.stdin) || !isFd(spec.stdio?.stdout) || !isFd(spec.stdio?.stderr)) {
    fail('stdio must hold three file descriptors (stdin, stdout, stderr)');
  }
}

/** `KEY=value` strings as an object; the last duplicate wins, an entry without `=` is a key with an empty value. */
export function envRecord(env: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq === -1) out[entry] = '';
    else out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}
