/**
 * The wire between rune's launcher (src/launcher/rune.c) and a warm rune worker of the pool
 * (docs/enclave-pool.md, "Wire"). Pure: encoders and parsers of bytes only.
 *
 * launcher → worker, once:   u32 BE length, then NUL-terminated fields: "RUNEPOOL1", cwd, argc, argv...,
 *                            envc, env...
 * worker → launcher, frames: one type byte, u32 BE length, payload:
 *   'a'        the worker accepted the call (empty; sent before it does anything): a connection that ends
 *              before it means nothing happened, and the launcher takes the slow path
 *   'o' / 'e'  bytes for the launcher's stdout / stderr
 *   'r'        run the backend with the launcher's own stdio and fds: NUL-terminated argv (argv[0] the path)
 *   'x'        the call's exit status (decimal); the last frame
 * launcher → worker, after each 'r': frame 's' with the backend's exit status (decimal).
 */
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../../attestation-socket/codes.ts';

/** The first field of a request: the wire's version. */
export const POOL_WIRE_MAGIC = 'RUNEPOOL1';
/** Largest request the worker reads (argv and env of one rune call). */
export const MAX_POOL_REQUEST = 1024 * 1024;
/** Largest frame payload either side sends. */
export const MAX_POOL_FRAME = 16 * 1024 * 1024;

/** One rune call handed to a worker. */
export interface PoolRequest {
  cwd: string;
  argv: string[];
  env: string[];
}

/** One frame. */
export interface PoolFrame {
  type: 'a' | 'o' | 'e' | 'r' | 'x' | 's';
  payload: Buffer;
}

function wireError(message: string): Error {
  return inclavaredError(INCLAVARED_ERROR_CODES.BAD_REQUEST, `Cannot read the rune call from the launcher: ${message}`);
}

/** Encodes a request (the launcher's side; tests and the control API's `pick` clients use it). */
export function encodeRequest(request: PoolRequest): Buffer {
  const fields = [POOL_WIRE_MAGIC, request.cwd, String(request.argv.length), ...request.argv, String(request.env.length), ...request.env];
  for (const f of fields) if (f.includes('\0')) throw wireError('a field contains a NUL byte');
  const body = Buffer.from(fields.map((f) => `${f}\0`).join(''), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/**
 * Parses a request from `bytes` (what has arrived so far): undefined while incomplete, else the request and
 * how many bytes it used. Throws INCLAVARED_ERR_BAD_REQUEST on anything malformed.
 */
export function parseRequest(bytes: Buffer): { request: PoolRequest; used: number } | undefined {
  if (bytes.length < 4) return undefined;
  const length = bytes.readUInt32BE(0);
  if (length > MAX_POOL_REQUEST) throw wireError(`the request is ${length} bytes (at most ${MAX_POOL_REQUEST})`);
  if (bytes.length < 4 + length) return undefined;
  const body = bytes.subarray(4, 4 + length);
  if (length === 0 || body[length - 1] !== 0) throw wireError('the request does not end with a NUL byte');
  const fields = body.subarray(0, length - 1).toString('utf8').split('\0');
  let i = 0;
  const next = (what: string): string => {
    const f = fields[i++];
    if (f === undefined) throw wireError(`the request ends before ${what}`);
    return f;
  };
  const count = (what: string): number => {
    const text = next(what);
    if (!/^(0|[1-9][0-9]{0,5})$/.test(text)) throw wireError(`${what} is not a count (${JSON.stringify(text.slice(0, 20))})`);
    return Number(text);
  };
  if (next('the magic') !== POOL_WIRE_MAGIC) throw wireError(`it does not start with ${POOL_WIRE_MAGIC}`);
  const cwd = next('the working directory');
  if (!cwd.startsWith('/')) throw wireError('the working directory is not an absolute path');
  const argc = count('argc');
  const argv: string[] = [];
  for (let n = 0; n < argc; n++) argv.push(next('the arguments'));
  const envc = count('envc');
  const env: string[] = [];
  for (let n = 0; n < envc; n++) env.push(next('the environment'));
  if (i !== fields.length) throw wireError('there are bytes after the environment');
  return { request: { cwd, argv, env }, used: 4 + length };
}

/** Encodes one frame. */
export function encodeFrame(type: PoolFrame['type'], payload: string | Uint8Array): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Parses the frames at the start of `bytes`: the complete ones and how many bytes they used. */
export function parseFrames(bytes: Buffer): { frames: PoolFrame[]; used: number } {
  const frames: PoolFrame[] = [];
  let at = 0;
  while (bytes.length - at >= 5) {
    const type = String.fromCharCode(bytes[at]!);
    if (!'aoerxs'.includes(type)) throw wireError(`unknown frame type ${bytes[at]}`);
    const length = bytes.readUInt32BE(at + 1);
    if (length > MAX_POOL_FRAME) throw wireError(`a frame of ${length} bytes (at most ${MAX_POOL_FRAME})`);
    if (bytes.length - at - 5 < length) break;
    frames.push({ type: type as PoolFrame['type'], payload: Buffer.from(bytes.subarray(at + 5, at + 5 + length)) });
    at += 5 + length;
  }
  return { frames, used: at };
}

/** The argv of an 'r' frame. */
export function runArgv(payload: Buffer): string[] {
  if (payload.length === 0 || payload[payload.length - 1] !== 0) throw wireError('a run frame does not end with a NUL byte');
  return payload.subarray(0, payload.length - 1).toString('utf8').split('\0');
}
