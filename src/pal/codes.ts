/**
 * Stable error codes of the PAL layer, and the one place that builds their errors. Callers match on the
 * code, never on the message.
 */
import { constants } from 'node:os';
import { defineErrorCodes, type InclavareError, type InclavareErrorOptions } from '../errors/errors.ts';

/** The file is not a shared library, or lacks a PAL symbol (the message names it). */
export const PAL_ERR_LOAD = 'PAL_ERR_LOAD';
/** A PAL call returned a negative errno: `pal <call>() failed with <n> (<ERRNO>)`. */
export const PAL_ERR_CALL = 'PAL_ERR_CALL';
/** Not WebAssembly, no `_start`, imports WASI does not provide, or a module that fails to link. */
export const PAL_ERR_WASM = 'PAL_ERR_WASM';
/** The entrypoint of a process does not exist or cannot be executed. */
export const PAL_ERR_ENTRYPOINT = 'PAL_ERR_ENTRYPOINT';
/** A call out of order: createProcess before init, init twice, anything after destroy, exec twice. */
export const PAL_ERR_STATE = 'PAL_ERR_STATE';
/** Invalid runtime arguments (ENCLAVE_RUNTIME_ARGS), log level or process spec. */
export const PAL_ERR_ARGS = 'PAL_ERR_ARGS';
/** The runtime's PAL version cannot do this (kill on a v1 library). */
export const PAL_ERR_UNSUPPORTED = 'PAL_ERR_UNSUPPORTED';

/** Every PAL error code. */
export type PalErrorCode =
  | typeof PAL_ERR_LOAD
  | typeof PAL_ERR_CALL
  | typeof PAL_ERR_WASM
  | typeof PAL_ERR_ENTRYPOINT
  | typeof PAL_ERR_STATE
  | typeof PAL_ERR_ARGS
  | typeof PAL_ERR_UNSUPPORTED;

/** The PAL table: an {@link InclavareError} with a PAL code and that code's error class. */
export const palError = defineErrorCodes('PAL_ERR', {
  PAL_ERR_LOAD: 'invalid-argument',
  PAL_ERR_CALL: 'failed-precondition',
  PAL_ERR_WASM: 'invalid-argument',
  PAL_ERR_ENTRYPOINT: 'not-found',
  PAL_ERR_STATE: 'failed-precondition',
  PAL_ERR_ARGS: 'invalid-argument',
  PAL_ERR_UNSUPPORTED: 'failed-precondition',
});

/** The errno name of a negative (or positive) errno value, e.g. -22 → `EINVAL`; undefined when unknown. */
export function errnoName(n: number): string | undefined {
  const abs = Math.abs(n);
  for (const [name, value] of Object.entries(constants.errno)) if (value === abs) return name;
  return undefined;
}

/** The error for a PAL call that returned `n` < 0: `pal init() failed with -22 (EINVAL)` (the original's wording, plus the errno name). */
export function palCallError(call: string, n: number, options: InclavareErrorOptions = {}): InclavareError {
  const name = errnoName(n);
  const message = `pal ${call}() failed with ${n}${name === undefined ? '' : ` (${name})`}`;
  return palError(PAL_ERR_CALL, message, { ...options, details: { call, errno: n, ...options.details } });
}
