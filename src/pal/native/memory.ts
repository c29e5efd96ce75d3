/**
 * Native memory for PAL calls. Everything a PAL receives is allocated here (koffi.alloc) rather than
 * marshalled per call, because a PAL may keep the pointers: create_process may keep argv and env until exec,
 * init may keep its args. An arena is freed only when no call can use it any more (after pal_destroy).
 */
import koffi from 'koffi';
import type { TypeObject } from 'koffi';

/** A C pointer as koffi represents it. */
export type NativePointer = bigint;

/** Owns native allocations and frees them together. */
export class NativeArena {
  readonly #allocations: unknown[] = [];

  /** Allocates `size` zeroed bytes. */
  bytes(size: number): NativePointer {
    const zeros = Buffer.alloc(Math.max(size, 1));
    const ptr = koffi.alloc('uint8_t', zeros.length) as NativePointer;
    this.#allocations.push(ptr);
    koffi.encode(ptr, 'char', zeros, zeros.length);
    return ptr;
  }

  /** A NUL-terminated UTF-8 copy of `s`. */
  cString(s: string): NativePointer {
    const buf = Buffer.from(`${s}\0`, 'utf8');
    const ptr = koffi.alloc('uint8_t', buf.length) as NativePointer;
    this.#allocations.push(ptr);
    koffi.encode(ptr, 'char', buf, buf.length);
    return ptr;
  }

  /** A NULL-terminated `char **` holding copies of `list`. */
  cStringArray(list: readonly string[]): NativePointer {
    const items: (NativePointer | null)[] = list.map((s) => this.cString(s));
    items.push(null);
    const ptr = koffi.alloc('void *', items.length) as NativePointer;
    this.#allocations.push(ptr);
    koffi.encode(ptr, koffi.array('void *', items.length), items);
    return ptr;
  }

  /** A copy of `value` encoded as C type `type` (a struct or primitive). */
  value(type: TypeObject | string, value: unknown): NativePointer {
    const ptr = koffi.alloc(type, 1) as NativePointer;
    this.#allocations.push(ptr);
    koffi.encode(ptr, type, value);
    return ptr;
  }

  /** Frees every allocation; pointers handed out before are invalid afterwards. */
  free(): void {
    for (const ptr of this.#allocations.splice(0)) koffi.free(ptr);
  }
}
