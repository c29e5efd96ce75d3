/**
 * A minimal HTTP/1.1 client over a unix socket, for rune's calls to inclavared (one request per connection,
 * `Connection: close`). node:http's client costs about 10 ms of first-use set-up in every fresh process, and
 * rune is a fresh process on every call an engine makes; this costs a connect and a parse. The daemon side
 * uses node:http. Responses are bounded and parsed strictly (status line, headers, Content-Length or chunked).
 */
import { connect } from 'node:net';
import { INCLAVARED_ERROR_CODES, inclavaredError } from './codes.ts';

/** A response: status and body text. */
export interface RawResponse {
  status: number;
  text: string;
}

function malformed(message: string): Error {
  return inclavaredError(INCLAVARED_ERROR_CODES.UNAVAILABLE, `Cannot read inclavared's answer: ${message}`);
}

/** Decodes a chunked body (RFC 9112 §7.1); trailers are ignored. */
function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) throw malformed('a chunk size line is cut off');
    const sizeText = body.subarray(at, eol).toString('latin1').split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw malformed(`bad chunk size ${JSON.stringify(sizeText.slice(0, 16))}`);
    const size = parseInt(sizeText, 16);
    if (size === 0) return Buffer.concat(parts);
    const start = eol + 2;
    if (start + size + 2 > body.length) throw malformed('a chunk is cut off');
    parts.push(body.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** Parses a complete HTTP/1.1 response. Throws INCLAVARED_ERR_UNAVAILABLE on anything malformed. */
export function parseResponse(raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw malformed('no end of headers');
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!status) throw malformed(`bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('bad header line');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.subarray(end + 4);
  if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
    body = dechunk(body);
  } else if (headers.has('content-length')) {
    const length = Number(headers.get('content-length'));
    if (!Number.isSafeInteger(length) || length < 0 || length > body.length) throw malformed('the body is shorter than its Content-Length');
    body = body.subarray(0, length);
  }
  return { status: Number(status[1]), text: body.toString('utf8') };
}

/** Sends one request and reads the whole response (the server closes the connection). */
export function unixRequest(
  socketPath: string,
  options: { method: string; path: string; body?: string | undefined; timeoutMs: number; maxBytes: number },
): Promise<RawResponse> {
  const deadline = Date.now() + options.timeoutMs;
  const attempt = (): Promise<RawResponse> =>
    requestOnce(socketPath, options).catch((err: unknown) => {
      // EAGAIN: the daemon listens but its accept queue is full (a burst of callers while it is busy). It is
      // there: wait a little (jittered, so that a crowd does not come back at once) and connect again.
      const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
      if (cause?.code !== 'EAGAIN' || cause.syscall !== 'connect' || Date.now() >= deadline) throw err;
      return new Promise((r) => setTimeout(r, 5 + Math.random() * 45)).then(attempt);
    });
  return attempt();
}

function requestOnce(
  socketPath: string,
  options: { method: string; path: string; body?: string | undefined; timeoutMs: number; maxBytes: number },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const finish = (err: Error | undefined, value?: RawResponse): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    socket.setTimeout(options.timeoutMs, () => finish(inclavaredError(INCLAVARED_ERROR_CODES.UNAVAILABLE, `Cannot reach inclavared at ${socketPath}: no answer within ${options.timeoutMs} ms`)));
    socket.once('error', (err) => finish(inclavaredError(INCLAVARED_ERROR_CODES.UNAVAILABLE, `Cannot reach inclavared at ${socketPath}`, { cause: err })));
    socket.once('connect', () => {
      const head = [`${options.method} ${options.path} HTTP/1.1`, 'Host: inclavared', 'Connection: close'];
      if (options.body !== undefined) head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(options.body)}`);
      socket.write(`${head.join('\r\n')}\r\n\r\n${options.body ?? ''}`);
    });
    socket.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > options.maxBytes) finish(malformed(`it exceeds ${options.maxBytes} bytes`));
      else chunks.push(chunk);
    });
    socket.once('end', () => {
      try {
        finish(undefined, parseResponse(Buffer.concat(chunks)));
      } catch (err) {
        finish(err as Error);
      }
    });
  });
}
