/**
 * Typed errors for all of Inclavare. The `code` is the API: callers, tests and logs match on it, never on
 * the message. One table maps each error class to a process exit status, a gRPC status and an HTTP status.
 */

/** The classes every error code belongs to (containerd errdefs style). */
export type ErrorClass =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'permission-denied'
  | 'unavailable'
  | 'verification-failed'
  | 'internal';

/** How one error class surfaces at each boundary. */
export interface ErrorMapping {
  exitCode: number;
  grpcStatus: number;
  httpStatus: number;
}

/** The single table that maps error classes to exit status, gRPC status and HTTP status. */
export const ERROR_MAPPINGS: Readonly<Record<ErrorClass, ErrorMapping>> = {
  // gRPC codes: 3 INVALID_ARGUMENT, 5 NOT_FOUND, 6 ALREADY_EXISTS, 9 FAILED_PRECONDITION,
  // 7 PERMISSION_DENIED, 14 UNAVAILABLE, 16 UNAUTHENTICATED, 13 INTERNAL.
  'invalid-argument': { exitCode: 1, grpcStatus: 3, httpStatus: 400 },
  'not-found': { exitCode: 1, grpcStatus: 5, httpStatus: 404 },
  'already-exists': { exitCode: 1, grpcStatus: 6, httpStatus: 409 },
  'failed-precondition': { exitCode: 1, grpcStatus: 9, httpStatus: 412 },
  'permission-denied': { exitCode: 1, grpcStatus: 7, httpStatus: 403 },
  unavailable: { exitCode: 1, grpcStatus: 14, httpStatus: 503 },
  'verification-failed': { exitCode: 1, grpcStatus: 16, httpStatus: 401 },
  internal: { exitCode: 1, grpcStatus: 13, httpStatus: 500 },
};

/** Options accepted by {@link InclavareError}. */
export interface InclavareErrorOptions {
  cause?: unknown;
  /** Structured details safe to log (never secrets). */
  details?: Record<string, unknown>;
}

/** The one error class: a stable `code`, an error class, an action-first message and an optional cause. */
export class InclavareError extends Error {
  readonly code: string;
  readonly errorClass: ErrorClass;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, errorClass: ErrorClass, message: string, options: InclavareErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InclavareError';
    this.code = code;
    this.errorClass = errorClass;
    this.details = options.details;
  }

  /** The exit status, gRPC status and HTTP status of this error. */
  get mapping(): ErrorMapping {
    return ERROR_MAPPINGS[this.errorClass];
  }
}

/** True when `err` is an {@link InclavareError}, optionally with the given code. */
export function isInclavareError(err: unknown, code?: string): err is InclavareError {
  return err instanceof InclavareError && (code === undefined || err.code === code);
}

/**
 * The message and its cause chain on one line, as users should see it:
 * `Cannot create container "x": bundle /b has no config.json: ENOENT ...`.
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(': ').replace(/\s*\n\s*/g, ' ');
}
