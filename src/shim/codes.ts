/**
 * containerd-shim-rune-v2's error codes (docs/errors.md). Each becomes a ttrpc status to containerd (the
 * class's gRPC code; "not implemented" is UNIMPLEMENTED, 12) or the exit status of `start`/`delete`.
 */
import { defineErrorCodes, type InclavareError } from '../errors/errors.ts';

/** The table: code → class. */
export const shimError = defineErrorCodes('SHIM_ERR', {
  /** The command line of the shim binary is wrong (unknown action, missing -id / -namespace / -address). */
  SHIM_ERR_USAGE: 'usage',
  /** The runtime options (stdin of `start`, CreateTaskRequest.options) are not a runtimeoptions.v1.Options Any. */
  SHIM_ERR_BAD_OPTIONS: 'invalid-argument',
  /** The TOML config named by the options cannot be read or is not valid (unknown key, wrong type). */
  SHIM_ERR_BAD_CONFIG: 'invalid-argument',
  /** The bundle directory or its config.json is missing or unreadable. */
  SHIM_ERR_BUNDLE: 'invalid-argument',
  /** A ttrpc request whose payload is not the method's message, or an id that is not valid. */
  SHIM_ERR_BAD_REQUEST: 'invalid-argument',
  /** A ttrpc frame longer than the 4 MiB limit. */
  SHIM_ERR_FRAME_TOO_LARGE: 'invalid-argument',
  /** No container or exec of that id in this shim. */
  SHIM_ERR_NOT_FOUND: 'not-found',
  /** A container or exec of that id exists already. */
  SHIM_ERR_ALREADY_EXISTS: 'already-exists',
  /** The process is not in a state that allows the call (start of a running process, delete of a running one). */
  SHIM_ERR_STATE: 'failed-precondition',
  /** rune failed (its message, from its log, is in the error). */
  SHIM_ERR_RUNTIME: 'internal',
  /** A method this shim does not implement (Checkpoint); answered with ttrpc status 12 UNIMPLEMENTED. */
  SHIM_ERR_NOT_IMPLEMENTED: 'failed-precondition',
  /** A spare daemon's handoff request (from the launcher's `start`) is malformed, too large or too slow. */
  SHIM_ERR_SPARE_REQUEST: 'invalid-argument',
  /** The shim could not start its daemon, listen on its socket, or reach containerd. */
  SHIM_ERR_UNAVAILABLE: 'unavailable',
});

/** The ttrpc (gRPC) status code of an error: the class's, except UNIMPLEMENTED and RESOURCE_EXHAUSTED. */
export function ttrpcCodeOf(err: InclavareError): number {
  if (err.code === 'SHIM_ERR_NOT_IMPLEMENTED') return 12;
  if (err.code === 'SHIM_ERR_FRAME_TOO_LARGE') return 8;
  return err.mapping.grpcStatus;
}
