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
 * - a request longer than {@link MAX_FRAME_BYTES} is answered with VERDICTD_ERR_FRAME_TOO_LARGE as soon as the
 *   limit is passed, and its remaining bytes are skipped until its object ends (so the connection resumes at
 *   the next request, with bounded memory);
 * - bytes that cannot start a request (anything but whitespace or `{`) make the rest of that read one
 *   malformed request: there is no boundary to resynchronise on except the next read.
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
  /** Inside an oversized request: skipping to its end. */
  #skipping = false;

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
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (this.#depth === 0) {
        if (isWhitespace(b)) continue;
        if (b !== OPEN_OBJECT) {
          events.push({
            kind: 'error',
            error: verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `Cannot parse the request: it is not JSON (a request is one JSON object, {"command": ...}; it began with byte 0x${b.toString(16).padStart(2, '0')}); the rest of this read (${bytes.length - i} bytes) was discarded`),
          });
          return events;
        }
        this.#depth = 1;
        this.#inString = false;
        this.#escape = false;
        this.#skipping = false;
        this.#parts = [];
        this.#length = 0;
        start = i;
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
          const total = this.#length + (i + 1 - start);
          if (this.#skipping) {
            this.#skipping = false;
          } else if (total > this.#max) {
            events.push({ kind: 'error', error: this.#tooLarge(total) });
          } else {
            this.#parts.push(bytes.subarray(start, i + 1));
            events.push({ kind: 'request', text: Buffer.concat(this.#parts).toString('utf8') });
          }
          this.#parts = [];
          this.#length = 0;
        }
      }
    }
    if (this.#depth > 0 && !this.#skipping) {
      const rest = bytes.subarray(start);
      if (this.#length + rest.length > this.#max) {
        events.push({ kind: 'error', error: this.#tooLarge(this.#length + rest.length) });
        this.#skipping = true;
        this.#parts = [];
        this.#length = this.#max + 1;
      } else {
        // Copied: the caller may reuse its buffer.
        this.#parts.push(Buffer.from(rest));
        this.#length += rest.length;
      }
    }
    return events;
  }

  /** Gives up on the pending request (timeout, end of stream): the error to answer it with, if one was pending and not answered yet. */
  abandon(reason: string): FrameEvent | undefined {
    if (this.#depth === 0) return undefined;
    const skipping = this.#skipping;
    const received = this.#length;
    this.#depth = 0;
    this.#skipping = false;
    this.#parts = [];
    this.#length = 0;
    if (skipping) return undefined;
    return { kind: 'error', error: verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `Cannot parse the request: its JSON object did not end (${received} bytes received, ${reason})`) };
  }

  #tooLarge(size: number) {
    return verdictdError('VERDICTD_ERR_FRAME_TOO_LARGE', `Cannot accept the request: it is longer than ${this.#max} bytes (at least ${size}), the largest EAA request; it was discarded`, {
      details: { limit: this.#max },
    });
  }
}
