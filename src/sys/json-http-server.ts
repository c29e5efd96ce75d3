/**
 * HTTP/JSON servers on unix sockets, for the daemons (inclavared's control and attestation sockets today):
 * bounded bodies, timeouts, errors as `{"error":{"code","message"}}` with the status of the error's class
 * (src/errors/errors.ts), and unix sockets created with their final mode. The protocol served names its own
 * error codes and the factory of its table ({@link JsonServerOptions.codes}, {@link JsonServerOptions.error}).
 */
import type { Socket } from 'node:net';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { describeError, httpStatusOf, isInclavareError, type InclavareError } from '../errors/errors.ts';

/** A request as handlers see it: the body is read completely and bounded. */
export interface JsonRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  body: Uint8Array;
  /** The request's headers (lowercase names). */
  headers: IncomingHttpHeaders;
  /** `host:port` of the client (`[v6]:port`), or the unix socket's `unix`. */
  remote: string;
}

/** A handler's answer: a JSON value, or text (the certificate PEM). */
export type JsonResponse = ({ status: number; json: unknown } | { status: number; text: string; contentType: string }) & { headers?: Record<string, string> };

/** An error answer: status, content type and body text. */
export interface ErrorAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** Handles one request; throws InclavareError for error answers. */
export type JsonHandler = (request: JsonRequest) => Promise<JsonResponse>;

/** Limits of one server. */
export interface ServerLimits {
  /** Largest request body accepted (bytes). */
  maxBodyBytes: number;
  /** Largest request head (bytes). */
  maxHeaderBytes: number;
  /** Time allowed to receive a whole request (ms). */
  requestTimeoutMs: number;
  /** Simultaneous connections. */
  maxConnections: number;
}

/** Where a server reports failures that are not the client's fault. */
export interface ServerLog {
  error(msg: string): void;
}

/** Who is serving: the error codes of its protocol, the factory of its error table, and where its log is. */
export interface JsonServerOptions<Code extends string = string> {
  log: ServerLog;
  /** The codes of the answers the server itself makes (400 malformed HTTP, 400 too large, 500 internal). */
  codes: { badRequest: Code; tooLarge: Code; internal: Code };
  /** The protocol's error factory (src/errors/errors.ts defineErrorCodes): its table gives each code's class, so its status. */
  error: (code: Code, message: string) => InclavareError;
  /** Where an internal error's details are, for the answer's message (e.g. "the inclavared log"). */
  logName: string;
  limits?: ServerLimits;
  /** The body limit of one request when it is not `limits.maxBodyBytes` (a resource upload). */
  bodyLimit?: (method: string, path: string) => number;
  /** How an error is answered (default `{"error":{"code","message"}}` with the class's status; KBS: RFC 7807). */
  errorAnswer?: (err: InclavareError) => ErrorAnswer;
}

/** Defaults: requests are a few hundred bytes; an attestation request is answered in well under a second. */
export const DEFAULT_LIMITS: ServerLimits = { maxBodyBytes: 4096, maxHeaderBytes: 8192, requestTimeoutMs: 10_000, maxConnections: 64 };

function errorBody(err: InclavareError): string {
  return JSON.stringify({ error: { code: err.code, message: describeError(err) } });
}

function defaultErrorAnswer(err: InclavareError): ErrorAnswer {
  return { status: httpStatusOf(err), contentType: 'application/json', body: `${errorBody(err)}\n` };
}

function send(res: ServerResponse, status: number, body: string, contentType: string, close = false, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/** Reads the body up to `limit` bytes; rejects with `tooLarge()` beyond it. */
function readBody(req: IncomingMessage, limit: number, tooLarge: (limit: number) => InclavareError): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      reject(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        req.off('data', onData);
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(new Uint8Array(Buffer.concat(chunks, total))));
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('request aborted')));
  });
}

/** Creates an HTTP server (not yet listening) that answers every request through `handler`. */
export function createJsonServer<Code extends string>(handler: JsonHandler, options: JsonServerOptions<Code>): Server {
  const { log, codes, error: makeError } = options;
  const tooLarge = (limit: number): InclavareError => makeError(codes.tooLarge, `Cannot read the request: its body exceeds ${limit} bytes`);
  const limits = options.limits ?? DEFAULT_LIMITS;
  const errorAnswer = options.errorAnswer ?? defaultErrorAnswer;
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: Math.min(5000, limits.requestTimeoutMs),
      keepAliveTimeout: 5000,
      // Node checks the two timeouts above only this often (default 30 s).
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      const method = req.method ?? '';
      const path = (req.url ?? '').split('?')[0] ?? '';
      const host = req.socket.remoteAddress;
      const remote = host === undefined ? 'unix' : `${host.includes(':') ? `[${host}]` : host}:${req.socket.remotePort ?? 0}`;
      readBody(req, options.bodyLimit?.(method, path) ?? limits.maxBodyBytes, tooLarge)
        .then((body) => handler({ method, path, body, headers: req.headers, remote }))
        .then(
          (answer) => {
            if ('json' in answer) send(res, answer.status, `${JSON.stringify(answer.json)}\n`, 'application/json', false, answer.headers);
            else send(res, answer.status, answer.text, answer.contentType, false, answer.headers);
          },
          (err: unknown) => {
            const known = isInclavareError(err);
            if (!known) log.error(`request ${method} ${path.slice(0, 100)} failed: ${describeError(err)}`);
            const error = known
              ? err
              : makeError(codes.internal, `Cannot answer the request: internal error (see ${options.logName})`);
            // A body left unread (too large) must not be parsed as the next request: close the connection.
            const close = error.code === codes.tooLarge || !req.complete;
            const answer = errorAnswer(error);
            send(res, answer.status, answer.body, answer.contentType, close);
            if (close) res.once('finish', () => req.socket.destroySoon());
          },
        );
    },
  );
  server.maxConnections = limits.maxConnections;
  // After listen() succeeded, errors such as EMFILE on accept must be logged, not thrown at the process.
  server.on('error', (err) => log.error(`socket error: ${describeError(err)}`));
  server.on('clientError', (err, duplex) => {
    const socket = duplex as Socket;
    // Malformed HTTP, oversized heads, timeouts: answer 400 if the socket can still take it, then close.
    if (socket.writable && !(err as NodeJS.ErrnoException).code?.startsWith('ECONN')) {
      const { body, contentType } = errorAnswer(makeError(codes.badRequest, 'Cannot parse the request: malformed HTTP'));
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    }
    socket.destroySoon();
  });
  return server;
}

/**
 * Listens on the unix socket `path` created with permissions `mode`. The mode is set through the umask
 * around bind(2) (which node performs synchronously inside listen()), not by chmod afterwards: a chmod by
 * path could be redirected by a symlink swapped in by whoever can write the directory (a container, for
 * its attestation directory), and until it ran the socket would be open to everyone.
 */
export function listenUnix(server: Server, path: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const previous = process.umask(~mode & 0o777);
    try {
      // A deep accept queue (the kernel caps it at net.core.somaxconn): a burst of rune calls while the
      // daemon is busy waits in it instead of failing with EAGAIN.
      server.listen({ path, backlog: 4096 }, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
}

/** Stops listening and ends every connection; resolves when the server is closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
