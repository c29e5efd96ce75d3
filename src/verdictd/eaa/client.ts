/**
 * An EAA client (docs/verdictd.md, "EAA") over an established, verified connection (RATS-TLS): one request at
 * a time, answers read in order. EAA has no framing: a JSON answer ends where its object closes, and a
 * `Get Resource` answer is bare base64 whose length `Get Resource Info` told before (as CoCo's eaa_kbc reads
 * it). Used by init-runelet to fetch a container's secrets (docs/secrets.md).
 */
import type { Duplex } from 'node:stream';
import { verdictdError } from '../codes.ts';

/** A refusal as verdictd answered it: its message and code (e.g. VERDICTD_ERR_POLICY_DENIED). */
export interface EaaFailure {
  error: string;
  code: string;
}

/** Thrown for an answer `{"status":"Fail",...}`: the server's own message and code. */
export class EaaRefusal extends Error {
  readonly code: string;
  constructor(failure: EaaFailure) {
    super(failure.error);
    this.name = 'EaaRefusal';
    this.code = failure.code;
  }
}

/** Largest answer accepted: a 16 MiB resource in base64, and then some. */
const MAX_ANSWER_BYTES = 24 * 1024 * 1024;

/** Where a JSON object that starts at 0 ends (exclusive), or -1 when it is not complete yet. */
function objectEnd(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function protocolError(message: string): Error {
  return verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `Cannot read verdictd's answer: ${message}`);
}

/** One EAA conversation on `socket`. */
export class EaaClient {
  #socket: Duplex;
  #buffer = Buffer.alloc(0);
  #waiter: (() => void) | undefined;
  #ended: Error | undefined;
  #received = 0;
  readonly #idleMs: number;

  /** `idleMs`: how long an incomplete answer may stall before it is read as complete (or refused). */
  constructor(socket: Duplex, options: { idleMs?: number } = {}) {
    this.#socket = socket;
    this.#idleMs = options.idleMs ?? 2000;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#received += chunk.length;
      if (this.#buffer.length > MAX_ANSWER_BYTES) socket.destroy(protocolError(`more than ${MAX_ANSWER_BYTES} bytes`));
      this.#wake();
    });
    socket.on('end', () => {
      this.#ended ??= protocolError('the connection was closed');
      this.#wake();
    });
    socket.on('error', (err) => {
      this.#ended = err;
      this.#wake();
    });
  }

  /** True once the server sent anything (a TLS 1.3 server that refuses our certificate just closes, unanswered). */
  get answered(): boolean {
    return this.#received > 0;
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /** Waits for more bytes; resolves false when none came within `ms`. */
  #more(ms: number): Promise<boolean> {
    if (this.#ended !== undefined) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve(false);
      }, ms);
      this.#waiter = () => {
        clearTimeout(timer);
        if (this.#ended !== undefined && this.#buffer.length === 0) reject(this.#ended);
        else resolve(true);
      };
    });
  }

  #take(n: number): Buffer {
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** Sends one request and reads its JSON answer; a `Fail` answer throws {@link EaaRefusal}. */
  async request(request: Record<string, unknown>, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    this.#socket.write(JSON.stringify(request));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = objectEnd(this.#buffer.toString('utf8'));
      if (end !== -1) {
        const text = this.#buffer.toString('utf8').slice(0, end);
        this.#take(Buffer.byteLength(text));
        return answerOf(text);
      }
      if (Date.now() > deadline) throw protocolError(`no complete answer within ${timeoutMs / 1000} s`);
      await this.#more(Math.max(1, deadline - Date.now()));
    }
  }

  /**
   * `Decrypt` of AES-256-GCM blobs (a layer's wrapped key: key-provider/annotation.ts): the plaintext of each,
   * in order. verdictd judges the policy for each blob's kid; a refusal throws {@link EaaRefusal}.
   */
  async decrypt(blobs: readonly { kid: string; encrypted_data: string; iv: string; algorithm: string; key_length: number }[], timeoutMs = 30_000): Promise<Buffer[]> {
    const answer = await this.request({ command: 'Decrypt', blobs }, timeoutMs);
    const data = answer.data as Record<string, unknown> | undefined;
    return blobs.map((blob) => {
      const plain = data?.[blob.encrypted_data];
      if (typeof plain !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(plain)) throw protocolError('"Decrypt" answered without the plaintext of a blob');
      return Buffer.from(plain, 'base64');
    });
  }

  /**
   * `Unwrap JWE`: the plaintext of a JWE encrypted to one of verdictd's image keys (a layer's
   * org.opencontainers.image.enc.keys.jwe), and the kid whose image key it was. A refusal throws {@link EaaRefusal}.
   */
  async unwrapJwe(jwe: object, timeoutMs = 30_000): Promise<{ kid: string; plaintext: Buffer }> {
    const answer = await this.request({ command: 'Unwrap JWE', jwe }, timeoutMs);
    const data = answer.data as { kid?: unknown; plaintext?: unknown } | undefined;
    if (typeof data?.kid !== 'string' || typeof data.plaintext !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data.plaintext)) throw protocolError('"Unwrap JWE" answered without {kid, plaintext}');
    return { kid: data.kid, plaintext: Buffer.from(data.plaintext, 'base64') };
  }

  /** `Get Resource Info` then `Get Resource`: the resource's bytes. */
  async getResource(path: string, timeoutMs = 30_000): Promise<Buffer> {
    const info = await this.request({ command: 'Get Resource Info', name: path }, timeoutMs);
    const size = Number((info.data as { base64size?: unknown } | undefined)?.base64size);
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_ANSWER_BYTES) throw protocolError(`"Get Resource Info" gave no usable base64size`);
    this.#socket.write(JSON.stringify({ command: 'Get Resource', optional: { resource_path: path } }));
    const deadline = Date.now() + timeoutMs;
    // The answer is `size` base64 characters; a refusal between the two requests is base64 of a Fail answer,
    // of another length: read what came when the connection stalls.
    while (this.#buffer.length < size) {
      if (Date.now() > deadline) throw protocolError(`"Get Resource" sent ${this.#buffer.length} of ${size} bytes within ${timeoutMs / 1000} s`);
      const more = await this.#more(Math.min(this.#idleMs, Math.max(1, deadline - Date.now())));
      if (!more && this.#buffer.length > 0) break;
    }
    const text = this.#take(Math.min(size, this.#buffer.length)).toString('latin1');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw protocolError('"Get Resource" answered with something other than base64');
    const bytes = Buffer.from(text, 'base64');
    if (text.length !== size) {
      answerOf(bytes.toString('utf8')); // throws the refusal it carries
      throw protocolError(`"Get Resource" sent ${text.length} bytes, not the ${size} announced`);
    }
    return bytes;
  }
}

/** Parses a JSON answer; `Fail` throws. */
function answerOf(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw protocolError('an answer is not JSON');
  }
  const answer = value as Record<string, unknown>;
  if (answer === null || typeof answer !== 'object') throw protocolError('an answer is not a JSON object');
  if (answer.status === 'Fail') {
    throw new EaaRefusal({ error: typeof answer.error === 'string' ? answer.error : 'refused', code: typeof answer.code === 'string' ? answer.code : 'UNKNOWN' });
  }
  if (answer.status !== 'OK') throw protocolError(`unknown status ${JSON.stringify(answer.status)}`);
  return answer;
}
