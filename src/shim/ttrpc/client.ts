/**
 * A ttrpc client on a unix socket (one connection, odd stream ids, calls matched by id): the shim uses it to
 * forward events to containerd (containerd.services.events.ttrpc.v1.Events/Forward), and the tests use it to
 * talk to the shim directly.
 */
import { connect, type Socket } from 'node:net';
import { shimError } from '../codes.ts';
import { FRAME_REQUEST, FRAME_RESPONSE, FrameReader, encodeFrame } from './framing.ts';
import { decodeMessage, encodeMessage } from './messages.ts';

/** A ttrpc error answer: the google.rpc.Status code and message. */
export class TtrpcStatusError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'TtrpcStatusError';
    this.status = status;
  }
}

interface Pending {
  resolve: (payload: Uint8Array) => void;
  reject: (err: Error) => void;
}

/** One ttrpc connection. */
export class TtrpcClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #closed: Error | undefined;
  readonly #ready: Promise<void>;

  constructor(path: string) {
    this.#socket = connect(path);
    this.#ready = new Promise((resolve, reject) => {
      this.#socket.once('connect', resolve);
      this.#socket.once('error', reject);
    });
    const reader = new FrameReader();
    this.#socket.on('data', (data: Buffer) => {
      for (const ev of reader.push(data)) {
        if (ev.kind !== 'frame' || ev.frame.type !== FRAME_RESPONSE) continue;
        const p = this.#pending.get(ev.frame.streamId);
        if (p === undefined) continue;
        this.#pending.delete(ev.frame.streamId);
        try {
          const res = decodeMessage<{ status?: { code: number; message: string }; payload: Uint8Array }>('Response', ev.frame.payload);
          if (res.status !== undefined && res.status.code !== 0) p.reject(new TtrpcStatusError(res.status.code, res.status.message));
          else p.resolve(res.payload);
        } catch (e) {
          p.reject(e as Error);
        }
      }
    });
    const fail = (err: Error): void => {
      this.#closed ??= err;
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    this.#socket.on('error', fail);
    this.#socket.on('close', () => fail(shimError('SHIM_ERR_UNAVAILABLE', `Cannot talk to ${path}: the ttrpc connection closed`)));
  }

  /** Calls `service/method` with an encoded request; resolves to the response payload. */
  async call(service: string, method: string, payload: Uint8Array, metadata: Record<string, string> = {}): Promise<Uint8Array> {
    await this.#ready;
    if (this.#closed) throw this.#closed;
    const id = this.#next;
    this.#next += 2;
    const req = encodeMessage('Request', { service, method, payload, metadata: Object.entries(metadata).map(([key, value]) => ({ key, value })) });
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.write(encodeFrame(id, FRAME_REQUEST, req));
    });
  }

  /** Writes raw bytes (tests: malformed frames). */
  writeRaw(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** Resolves once connected. */
  ready(): Promise<void> {
    return this.#ready;
  }

  close(): void {
    this.#socket.destroy();
  }
}
