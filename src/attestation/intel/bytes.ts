/**
 * Byte helpers for the quote parsers: a bounds-checked little-endian reader (every read past the end is an
 * ATTEST_ERR_MALFORMED, never a RangeError) and hex conversion (lowercase, in structure byte order).
 */
import { INTEL_ERROR_CODES, intelError } from './codes.ts';

/** Lowercase hex of `bytes` in the order they appear (no reversal). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Bytes of a hex string (either case); throws on odd length or non-hex characters. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('not a hex string');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** True when every byte of `bytes` is zero. */
export function isAllZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/** Constant-length byte comparison (inputs are public, so timing does not matter). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A cursor over untrusted bytes; `what` names the structure being read for error messages. */
export class ByteReader {
  readonly #bytes: Uint8Array;
  /** The same bytes as a Buffer, for hex conversion in place. */
  readonly #buffer: Buffer;
  readonly #view: DataView;
  #pos: number;
  readonly #end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#pos = start;
    this.#end = end;
  }

  /** Current offset from the start of the underlying bytes. */
  get offset(): number {
    return this.#pos;
  }

  /** Bytes left before the end of this reader's window. */
  get remaining(): number {
    return this.#end - this.#pos;
  }

  #need(n: number, what: string): void {
    if (n < 0 || this.#pos + n > this.#end) {
      throw intelError(
        INTEL_ERROR_CODES.MALFORMED,
        `Cannot parse quote: ${what} needs ${n} bytes at offset ${this.#pos} but only ${this.#end - this.#pos} remain`,
      );
    }
  }

  u16(what: string): number {
    this.#need(2, what);
    const v = this.#view.getUint16(this.#pos, true);
    this.#pos += 2;
    return v;
  }

  u32(what: string): number {
    this.#need(4, what);
    const v = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.#need(8, what);
    const v = this.#view.getBigUint64(this.#pos, true);
    this.#pos += 8;
    return v;
  }

  /** A copy of the next `n` bytes, so parsed structures never alias the caller's buffer. */
  bytes(n: number, what: string): Uint8Array {
    this.#need(n, what);
    // Not .slice(): on a Buffer (what most callers hold) it returns a view, and the copy would alias.
    const out = new Uint8Array(this.#bytes.subarray(this.#pos, this.#pos + n));
    this.#pos += n;
    return out;
  }

  /** Lowercase hex of the next `n` bytes (read in place: no intermediate copy). */
  hex(n: number, what: string): string {
    this.#need(n, what);
    const out = this.#buffer.toString('hex', this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /** A reader over the next `n` bytes (advancing this one past them). */
  sub(n: number, what: string): ByteReader {
    this.#need(n, what);
    const r = new ByteReader(this.#bytes, this.#pos, this.#pos + n);
    this.#pos += n;
    return r;
  }
}
