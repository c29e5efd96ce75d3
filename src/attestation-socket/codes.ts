/**
 * The stable error codes of inclavared (always thrown as InclavareError). Both sockets answer errors as
 * `{"error":{"code","message"}}` with the HTTP status of the error's class (src/errors/errors.ts);
 * docs/attestation-socket.md lists which code each request can produce.
 */
import { defineErrorCodes, type InclavareError } from '../errors/errors.ts';

export const INCLAVARED_ERROR_CODES = Object.freeze({
  /** The request is not what the API accepts: bad JSON, unknown or missing field, bad value. */
  BAD_REQUEST: 'INCLAVARED_ERR_BAD_REQUEST',
  /** The request body or headers exceed the configured limit. */
  TOO_LARGE: 'INCLAVARED_ERR_TOO_LARGE',
  /** No endpoint serves this method and path. */
  NO_ROUTE: 'INCLAVARED_ERR_NO_ROUTE',
  /** A container id runc would not accept (letters, digits, `_ + - .`; not `.` or `..`). */
  INVALID_ID: 'INCLAVARED_ERR_INVALID_ID',
  /** A unix socket path would exceed the 107 bytes sun_path can hold. */
  SOCKET_PATH_TOO_LONG: 'INCLAVARED_ERR_SOCKET_PATH_TOO_LONG',
  /** A container with this id is already registered. */
  ALREADY_REGISTERED: 'INCLAVARED_ERR_ALREADY_REGISTERED',
  /** No container with this id is registered. */
  NOT_REGISTERED: 'INCLAVARED_ERR_NOT_REGISTERED',
  /** The platform key or certificate cannot be created, read or trusted (e.g. readable by others). */
  PLATFORM_KEY: 'INCLAVARED_ERR_PLATFORM_KEY',
  /** configfs-tsm is absent or failed. */
  TSM: 'INCLAVARED_ERR_TSM',
  /** configfs-tsm's provider is not the container's TEE (an snp container on a tdx node). */
  TSM_PROVIDER: 'INCLAVARED_ERR_TSM_PROVIDER',
  /** Producing evidence took longer than the limit. */
  TIMEOUT: 'INCLAVARED_ERR_TIMEOUT',
  /** The persisted state under ROOT cannot be read or written. */
  STATE: 'INCLAVARED_ERR_STATE',
  /** Another inclavared already serves this ROOT. */
  ALREADY_RUNNING: 'INCLAVARED_ERR_ALREADY_RUNNING',
  /** A failure inside inclavared; the daemon's log has the details. */
  INTERNAL: 'INCLAVARED_ERR_INTERNAL',
  /** The daemon does not answer (client side) or did not start in time. */
  UNAVAILABLE: 'INCLAVARED_ERR_UNAVAILABLE',
  /** A relay (CONNECT) on a socket whose container declared no secrets, so no verdictd address was registered. */
  NO_RELAY: 'INCLAVARED_ERR_NO_RELAY',
  /** A relay to an address other than the one registered for the container. */
  RELAY_FORBIDDEN: 'INCLAVARED_ERR_RELAY_FORBIDDEN',
  /** The registered verdictd address does not answer. */
  RELAY_UNREACHABLE: 'INCLAVARED_ERR_RELAY_UNREACHABLE',
  /** The enclave pool has no warm entry for the key asked for (or is off): the caller takes the slow path. */
  POOL_EMPTY: 'INCLAVARED_ERR_POOL_EMPTY',
  /** No pool entry or key with this name. */
  POOL_NOT_FOUND: 'INCLAVARED_ERR_POOL_NOT_FOUND',
  /** Evidence asked of a container registered without its measurement, which rune binds before its create returns. */
  MEASUREMENT_PENDING: 'INCLAVARED_ERR_MEASUREMENT_PENDING',
  /** A measurement bound to a container that has another one: a bound measurement never changes. */
  MEASUREMENT_BOUND: 'INCLAVARED_ERR_MEASUREMENT_BOUND',
} as const);

/** One of {@link INCLAVARED_ERROR_CODES}. */
export type InclavaredErrorCode = (typeof INCLAVARED_ERROR_CODES)[keyof typeof INCLAVARED_ERROR_CODES];

/**
 * The inclavared table: an InclavareError with an inclavared code and that code's class (whose HTTP status
 * the sockets answer with, docs/attestation-socket.md).
 */
export const inclavaredError = defineErrorCodes('INCLAVARED_ERR', {
  INCLAVARED_ERR_BAD_REQUEST: 'invalid-argument',
  INCLAVARED_ERR_TOO_LARGE: 'invalid-argument',
  INCLAVARED_ERR_NO_ROUTE: 'not-found',
  INCLAVARED_ERR_INVALID_ID: 'invalid-argument',
  INCLAVARED_ERR_SOCKET_PATH_TOO_LONG: 'invalid-argument',
  INCLAVARED_ERR_ALREADY_REGISTERED: 'already-exists',
  INCLAVARED_ERR_NOT_REGISTERED: 'not-found',
  INCLAVARED_ERR_PLATFORM_KEY: 'failed-precondition',
  INCLAVARED_ERR_TSM: 'unavailable',
  INCLAVARED_ERR_TSM_PROVIDER: 'failed-precondition',
  INCLAVARED_ERR_TIMEOUT: 'unavailable',
  INCLAVARED_ERR_STATE: 'internal',
  INCLAVARED_ERR_ALREADY_RUNNING: 'already-exists',
  INCLAVARED_ERR_INTERNAL: 'internal',
  INCLAVARED_ERR_UNAVAILABLE: 'unavailable',
  INCLAVARED_ERR_NO_RELAY: 'not-found',
  INCLAVARED_ERR_RELAY_FORBIDDEN: 'permission-denied',
  INCLAVARED_ERR_RELAY_UNREACHABLE: 'unavailable',
  INCLAVARED_ERR_POOL_EMPTY: 'not-found',
  INCLAVARED_ERR_POOL_NOT_FOUND: 'not-found',
  INCLAVARED_ERR_MEASUREMENT_PENDING: 'failed-precondition',
  INCLAVARED_ERR_MEASUREMENT_BOUND: 'already-exists',
});

/** A 400 for a request the API does not accept. */
export function badRequest(message: string, details?: Record<string, unknown>): InclavareError {
  return inclavaredError(INCLAVARED_ERROR_CODES.BAD_REQUEST, message, { details });
}
