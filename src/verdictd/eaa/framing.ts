/**
 * Finding EAA requests in a byte stream (docs/verdictd.md, "EAA: framing"). The original protocol has no
 * framing: its server took one read of up to 4096 bytes as one request. TCP (and TLS records) do not keep
 * write boundaries, so a request may arrive split over several reads, or two may arrive in one. We therefore
 * take a request to be one complete top-level JSON object, found by scanning brace depth outside strings:
 *
 * - leading whitespace between requests is skipped;
 * - `{` starts a request, which ends at its matching `}`; bytes after it belong to the next request (two in
 *   one read are answered in order), and a request that has not ended yet waits for more bytes (split reads;
 *   the connection's timer answers an object that never ends);
 * - an object still open after {@link MAX_FRAME_BYTES} bytes is answered with VERDICTD_ERR_FRAME_TOO_LARGE the
 *   moment it passes the limit and dropped; its tail is skipped like garbage (below). The original never read
 *   more than 4096 bytes for a request, and an unbalanced quote or brace would otherwise swallow every later
 *   request of the connection: at most 4096 bytes are ever held, and a bad request costs at most that much;
 * - bytes that cannot start a request (anything but whitespace or `{`) are answered with one
 *   VERDICTD_ERR_MALFORMED_REQUEST per run within a read and skipped up to the next `{`, where scanning
 *   resumes (there is no other boundary to resynchronise on). A too-long request whose tail arrives in a
 *   later read gets a second error for that tail.
 *
 * A well-behaved original client (one request per write, waiting for each answer) sees exactly the original
 * behaviour. Pure: no I/O, no clock.
 */
import type { InclavareError } from '../../errors/errors.ts';
import { verdictdError } from '../codes.ts';

/** The largest request (bytes), the original server's read size. */
export const MAX_FRAME_BYTES = 4096;

/** What the scanner found: a request's text, or an error to answer in its place. */
export type FrameEvent = { kind: 'request'; text: string } | { kind: 'error'; error: InclavareError };

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** Splits a connection's bytes into EAA requests; one instance per connection. */
export class FrameReader {
  readonly #max: number;
  /** Bytes of the current request (only while inside one that is not oversized). */
  #parts: Buffer[] = [];
  #length = 0;
  #depth = 0;
  #inString = false;
  #escape = false;

  constructor(options: { maxFrameBytes?: number } = {}) {
    this.#max = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  /** True while a request has started and not ended (the caller's timer answers it with {@link abandon}). */
  get pending(): boolean {
    return this.#depth > 0;
  }

  /** Bytes received of the pending request. */
  get pendingBytes(): number {
    return this.#length;
  }

  /** Feeds one read; returns the requests (and errors) it completes, in order. */
  push(chunk: Uint8Array): FrameEvent[] {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const events: FrameEvent[] = [];
    let start = 0;
    // Skipping bytes that cannot start a request (reported once per run, per read).
    let skipping = false;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (this.#depth === 0) {
        if (b !== OPEN_OBJECT) {
          if (!skipping && !isWhitespace(b)) {
            skipping = true;
            events.push({
              kind: 'error',
              error: verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `Cannot parse the request: it is not JSON (a request is one JSON object, {"command": ...}; it began with byte 0x${b.toString(16).padStart(2, '0')}); skipped to the next "{"`),
            });
          }
          continue;
        }
        skipping = false;
        this.#depth = 1;
        this.#inString = false;
        this.#escape = false;
        this.#parts = [];
        this.#length = 0;
        start = i;
        continue;
      }
      if (this.#length + (i + 1 - start) > this.#max) {
        // An object still open after the limit is refused; its tail is skipped like garbage.
        events.push({ kind: 'error', error: this.#tooLarge() });
        this.#depth = 0;
        this.#parts = [];
        this.#length = 0;
        skipping = true;
        continue;
      }
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (b === BACKSLASH) this.#escape = true;
        else if (b === QUOTE) this.#inString = false;
        continue;
      }
      if (b === QUOTE) this.#inString = true;
      else if (b === OPEN_OBJECT || b === OPEN_ARRAY) this.#depth++;
      else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
        this.#depth--;
        if (this.#depth === 0) {
          this.#parts.push(bytes.subarray(start, i + 1));
          events.push({ kind: 'request', text: Buffer.concat(this.#parts).toString('utf8') });
          this.#parts = [];
          this.#length = 0;
        }
      }
    }
    if (this.#depth > 0) {
      // Copied: the caller may reuse its buffer.
      const rest = Buffer.from(bytes.subarray(start));
      this.#parts.push(rest);
      this.#length += rest.length;
    }
    return events;
  }

  /** Gives up on the pending request (timeout, end of stream): the error to answer it with, if one was pending and not answered yet. */
  abandon(reason: string): FrameEvent | undefined {
    if (this.#depth === 0) return undefined;
    const received = this.#length;
    this.#depth = 0;
    this.#parts = [];
    this.#length = 0;
    return { kind: 'error', error: verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `Cannot parse the request: its JSON object did not end (${received} bytes received, ${reason})`) };
  }

  #tooLarge() {
    return verdictdError('VERDICTD_ERR_FRAME_TOO_LARGE', `Cannot accept the request: its JSON object is longer than ${this.#max} bytes, the largest EAA request; it was discarded up to the next "{"`, {
      details: { limit: this.#max },
    });
  }
}
