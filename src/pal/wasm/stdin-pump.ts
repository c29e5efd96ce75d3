/**
 * The main-thread side of the wasm runtime's stdin bridge (see worker-source.ts): the module's thread asks for
 * at most `max` bytes of stdin and waits (interruptibly) on a shared buffer; this side answers from the real fd.
 *
 * No thread may block in read(2) here either: Node joins its threads when the process exits, so a read of an
 * idle pipe would keep a killed container alive (runc would wait for it; podman stop would SIGKILL it). Pipes,
 * FIFOs and terminals are therefore read on the event loop, non-blocking, through a file description of our
 * own (opened from /proc/self/fd/N with O_NONBLOCK, so the flags of the caller's description do not change).
 * Regular files and other character devices (/dev/null) never block and are read with fs.read; so is a socket,
 * which cannot be reopened (its read can block: then the grace period of a kill applies).
 */
import { closeSync, constants, fstatSync, openSync, read } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { isatty, ReadStream } from 'node:tty';

/** Bytes one bridged read carries at most. */
export const STDIN_CHUNK = 64 * 1024;
/** WASI errno values for a failed read. */
const WASI_EBADF = 8;
const WASI_EIO = 29;

export class StdinPump {
  /** Int32 state at 0 (0 pending, 1 answered), Int32 result at 4 (bytes; 0 EOF; -errno), bytes from 8. */
  readonly shared = new SharedArrayBuffer(8 + STDIN_CHUNK);
  readonly #state = new Int32Array(this.shared, 0, 2);
  readonly #data = new Uint8Array(this.shared, 8);
  readonly #fd: number;
  #stream: Readable | undefined;
  #opened = false;
  #buffered: Buffer[] = [];
  #ended = false;
  #failed = false;
  #wanted: number | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The module's thread waits for at most `max` bytes. */
  request(max: number): void {
    const n = Math.max(1, Math.min(max, STDIN_CHUNK));
    const stream = this.#streamOf();
    if (stream === undefined) return this.#readDirect(n);
    this.#wanted = n;
    this.#serve();
    if (this.#wanted !== undefined) stream.resume();
  }

  /** Stops reading (closes only our own description). */
  close(): void {
    this.#stream?.destroy();
    this.#stream = undefined;
  }

  #streamOf(): Readable | undefined {
    if (this.#opened) return this.#stream;
    this.#opened = true;
    let own: number | undefined;
    try {
      const st = fstatSync(this.#fd);
      const streamable = st.isFIFO() || (st.isCharacterDevice() && isatty(this.#fd));
      if (!streamable) return undefined;
      own = openSync(`/proc/self/fd/${this.#fd}`, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
      const stream: Readable = isatty(own) ? new ReadStream(own) : new Socket({ fd: own, readable: true, writable: false });
      own = undefined;
      stream.pause();
      // Flowing only while the module waits for bytes (request() resumes, #serve() pauses after answering).
      stream.on('data', (chunk: Buffer) => {
        this.#buffered.push(chunk);
        this.#serve();
      });
      stream.on('end', () => {
        this.#ended = true;
        this.#serve();
      });
      stream.on('error', () => {
        this.#failed = true;
        this.#serve();
      });
      this.#stream = stream;
      return stream;
    } catch {
      if (own !== undefined) closeSync(own);
      return undefined;
    }
  }

  #serve(): void {
    const wanted = this.#wanted;
    if (wanted === undefined) return;
    if (this.#buffered.length > 0) {
      const all = Buffer.concat(this.#buffered);
      const n = Math.min(wanted, all.length);
      this.#data.set(all.subarray(0, n));
      this.#buffered = n < all.length ? [all.subarray(n)] : [];
      this.#wanted = undefined;
      this.#stream?.pause();
      this.#answer(n);
    } else if (this.#failed) {
      this.#wanted = undefined;
      this.#answer(-WASI_EIO);
    } else if (this.#ended) {
      this.#wanted = undefined;
      this.#answer(0);
    }
  }

  #readDirect(n: number): void {
    const buffer = Buffer.alloc(n);
    read(this.#fd, buffer, 0, n, null, (err, got) => {
      // An fd someone made non-blocking: wait for data instead of failing the module's read.
      if (err?.code === 'EAGAIN') return void setTimeout(() => this.#readDirect(n), 10);
      if (err) return this.#answer(-(err.code === 'EBADF' ? WASI_EBADF : WASI_EIO));
      this.#data.set(buffer.subarray(0, got));
      this.#answer(got);
    });
  }

  #answer(result: number): void {
    Atomics.store(this.#state, 1, result);
    Atomics.store(this.#state, 0, 1);
    Atomics.notify(this.#state, 0);
  }
}
