/**
 * ttrpc framing (github.com/containerd/ttrpc channel.go): every message is a 10-byte header, then the payload.
 *
 *     uint32 length (big endian) | uint32 stream id (big endian) | uint8 type | uint8 flags | payload[length]
 *
 * type 1 is a request (a ttrpc Request message), type 2 a response. A client numbers its streams with odd
 * ids. The payload is at most 4 MiB; ttrpc answers a longer one with RESOURCE_EXHAUSTED for that stream and
 * skips its bytes, which {@link FrameReader} lets the server do without buffering them.
 *
 * The reader is a pure state machine over the bytes a socket delivers (fuzzed in test/unit/shim/ttrpc.test.ts).
 */

/** Header length in bytes. */
export const HEADER_LENGTH = 10;
/** ttrpc's payload limit (messageLengthMax). */
export const MAX_PAYLOAD = 4 << 20;
/** Frame types. */
export const FRAME_REQUEST = 1;
export const FRAME_RESPONSE = 2;

/** One decoded frame. */
export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  payload: Uint8Array;
}

/** What the reader found: a whole frame, or a frame whose payload was too long and was skipped. */
export type FrameEvent = { kind: 'frame'; frame: Frame } | { kind: 'oversize'; streamId: number; type: number; length: number };

/** Encodes one frame; throws (a TypeError: a bug of ours) when the payload is beyond the limit. */
export function encodeFrame(streamId: number, type: number, payload: Uint8Array, flags = 0): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`ttrpc payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const out = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(streamId >>> 0, 4);
  out.writeUInt8(type & 0xff, 8);
  out.writeUInt8(flags & 0xff, 9);
  out.set(payload, HEADER_LENGTH);
  return out;
}

/** Splits a byte stream into frames. Memory stays bounded by one header plus {@link MAX_PAYLOAD}. */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes still to skip of an oversize payload. */
  #skip = 0;
  readonly #maxPayload: number;

  constructor(maxPayload = MAX_PAYLOAD) {
    this.#maxPayload = maxPayload;
  }

  /** Feeds bytes; returns the frames (and oversize notices) they complete, in order. */
  push(data: Uint8Array): FrameEvent[] {
    let buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, buf.length);
      this.#skip -= n;
      buf = buf.subarray(n);
    }
    if (buf.length > 0) {
      this.#chunks.push(buf);
      this.#buffered += buf.length;
    }
    const events: FrameEvent[] = [];
    for (;;) {
      if (this.#skip > 0 || this.#buffered < HEADER_LENGTH) break;
      const head = this.#peek(HEADER_LENGTH);
      const length = head.readUInt32BE(0);
      const streamId = head.readUInt32BE(4);
      const type = head.readUInt8(8);
      const flags = head.readUInt8(9);
      if (length > this.#maxPayload) {
        this.#take(HEADER_LENGTH);
        const n = Math.min(length, this.#buffered);
        this.#take(n);
        this.#skip = length - n;
        events.push({ kind: 'oversize', streamId, type, length });
        continue;
      }
      if (this.#buffered < HEADER_LENGTH + length) break;
      this.#take(HEADER_LENGTH);
      const payload = this.#take(length);
      events.push({ kind: 'frame', frame: { streamId, type, flags, payload } });
    }
    return events;
  }

  /** Bytes held (a partial frame). */
  get buffered(): number {
    return this.#buffered;
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length >= n) return this.#chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined.subarray(0, n);
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    if (this.#chunks[0]!.length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    const first = this.#chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#buffered -= n;
    return Buffer.from(out); // a copy: the caller may keep it
  }
}
