/**
 * Typed errors for all of Inclavare. The `code` is the API: callers, tests and logs match on it, never on
 * the message. Each area declares its codes once ({@link defineErrorCodes}: code → class); one table maps
 * each class to a process exit status, a gRPC status and an HTTP status (docs/errors.md).
 */

/** The classes every error code belongs to (containerd errdefs style). */
export type ErrorClass =
  | 'usage'
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
  // usage: the invocation itself is wrong (a flag, an argument, a file named on the command line). Exit 2 as
  // the CLIs document; on the wire it is an invalid argument.
  usage: { exitCode: 2, grpcStatus: 3, httpStatus: 400 },
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

/** An area's table: every code starts with the area's prefix (`RATS_TLS_ERR` → `RATS_TLS_ERR_*`), one class each. */
export type ErrorCodeTable<Prefix extends string> = Readonly<Record<`${Prefix}_${string}`, ErrorClass>>;

/** Builds the InclavareError for a code of one table; the class comes from the table. */
export interface ErrorFactory<T extends Readonly<Record<string, ErrorClass>>> {
  (code: keyof T & string, message: string, options?: InclavareErrorOptions): InclavareError;
  /** The area's prefix, e.g. `RATS_TLS_ERR`. */
  readonly prefix: string;
  /** The area's table as declared. */
  readonly table: T;
}

/** One registered table (see {@link errorCodeTables}). */
export interface RegisteredErrorTable {
  prefix: string;
  table: Readonly<Record<string, ErrorClass>>;
}

const TABLES: RegisteredErrorTable[] = [];

/**
 * Declares an area's error codes once and returns its factory:
 * `const ratsTlsError = defineErrorCodes('RATS_TLS_ERR', { RATS_TLS_ERR_MALFORMED: 'verification-failed' })`,
 * then `throw ratsTlsError('RATS_TLS_ERR_MALFORMED', 'Cannot ...', { cause })`. The code decides the class: a
 * case that needs another class is another code. A code outside the table, or a table code without the
 * prefix, is a type error. Every table is registered ({@link errorCodeTables}).
 */
export function defineErrorCodes<const Prefix extends string, const T extends ErrorCodeTable<Prefix>>(
  prefix: Prefix,
  table: T & Record<Exclude<keyof T, `${Prefix}_${string}`>, never>,
): ErrorFactory<T> {
  const frozen = Object.freeze({ ...table }) as T;
  const factory = (code: keyof T & string, message: string, options: InclavareErrorOptions = {}): InclavareError => {
    const errorClass = frozen[code] as ErrorClass | undefined;
    if (errorClass === undefined) throw new TypeError(`${code} is not in the ${prefix} error table`);
    return new InclavareError(code, errorClass, message, options);
  };
  TABLES.push({ prefix, table: frozen });
  return Object.assign(factory, { prefix, table: frozen }) as ErrorFactory<T>;
}

/** Every table defined so far (in this module instance), for the uniqueness test and for documentation. */
export function errorCodeTables(): readonly RegisteredErrorTable[] {
  return [...TABLES];
}

/** The class of a registered code; undefined for a code no loaded table declares. */
export function errorClassOfCode(code: string): ErrorClass | undefined {
  for (const { table } of TABLES) {
    const errorClass = table[code];
    if (errorClass !== undefined) return errorClass;
  }
  return undefined;
}

/** The exit status of a failure: its class's for an InclavareError, 1 for anything else. */
export function exitStatusOf(err: unknown): number {
  return isInclavareError(err) ? err.mapping.exitCode : 1;
}

/** The HTTP status of a failure: its class's for an InclavareError, 500 for anything else. */
export function httpStatusOf(err: unknown): number {
  return isInclavareError(err) ? err.mapping.httpStatus : ERROR_MAPPINGS.internal.httpStatus;
}

/** The error class an HTTP status stands for (the table read backwards); 400 is invalid-argument, not usage. */
export function errorClassOfHttpStatus(status: number): ErrorClass {
  const found = (Object.entries(ERROR_MAPPINGS) as [ErrorClass, ErrorMapping][]).find(([cls, m]) => cls !== 'usage' && m.httpStatus === status);
  return found?.[0] ?? (status >= 500 ? 'internal' : 'invalid-argument');
}

/**
 * The InclavareError a client rebuilds from an error answer (code and message from the body, class from the
 * HTTP status): the inverse of the server's side, so that a daemon's code reaches the caller unchanged.
 */
export function errorFromHttpAnswer(code: string, message: string, status: number, options: InclavareErrorOptions = {}): InclavareError {
  return new InclavareError(code, errorClassOfHttpStatus(status), message, options);
}

/** The error class a gRPC status code stands for (the table read backwards); 3 is invalid-argument, not usage. */
export function errorClassOfGrpcStatus(status: number): ErrorClass {
  const found = (Object.entries(ERROR_MAPPINGS) as [ErrorClass, ErrorMapping][]).find(([cls, m]) => cls !== 'usage' && m.grpcStatus === status);
  return found?.[0] ?? 'internal';
}

/**
 * The InclavareError a gRPC client rebuilds from an error status (code from the `inclavare-error-code`
 * metadata, class from the status): the inverse of {@link toGrpcStatus}.
 */
export function errorFromGrpcStatus(code: string, message: string, status: number, options: InclavareErrorOptions = {}): InclavareError {
  return new InclavareError(code, errorClassOfGrpcStatus(status), message, options);
}

/** A gRPC status as grpc-js takes it (`callback({ code, details, metadata })`); the code is in the metadata. */
export interface GrpcErrorStatus {
  code: number;
  details: string;
  /** `inclavare-error-code`: the InclavareError code (absent for an unexpected error). */
  metadata: Record<string, string>;
}

/** RFC 7807 problem details; `type` names the code (`urn:inclavare:error:<CODE>`), `code` repeats it. */
export interface HttpProblem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code?: string;
}

/** The `type` URI of a code's RFC 7807 problem. */
export function problemType(code: string): string {
  return `urn:inclavare:error:${code}`;
}

const INTERNAL_DETAIL = 'internal error; the service log has the details';

/**
 * An error as a gRPC status, for daemons (the shim, verdictd): the class's status code, the message with
 * its cause chain as details. An error that is not an InclavareError is INTERNAL and says nothing more:
 * its message may carry internals, and the daemon logs it.
 */
export function toGrpcStatus(err: unknown): GrpcErrorStatus {
  if (!isInclavareError(err)) return { code: ERROR_MAPPINGS.internal.grpcStatus, details: INTERNAL_DETAIL, metadata: {} };
  return { code: err.mapping.grpcStatus, details: describeError(err), metadata: { 'inclavare-error-code': err.code } };
}

/**
 * An error as an HTTP answer with an RFC 7807 body (`application/problem+json`), for daemons: the class's
 * status, `type` naming the code, the message with its cause chain as `detail`. As {@link toGrpcStatus}, an
 * unexpected error is a bare 500.
 */
export function toHttpProblem(err: unknown): { status: number; contentType: 'application/problem+json'; body: HttpProblem } {
  const contentType = 'application/problem+json';
  if (!isInclavareError(err)) {
    return { status: 500, contentType, body: { type: 'about:blank', title: 'internal', status: 500, detail: INTERNAL_DETAIL } };
  }
  const status = err.mapping.httpStatus;
  return { status, contentType, body: { type: problemType(err.code), title: err.errorClass, status, detail: describeError(err), code: err.code } };
}
