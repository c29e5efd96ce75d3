/** Holding back a TLS socket's received bytes until its peer is verified (docs/rats-tls.md, "When the peer is judged"). */
import type tls from 'node:tls';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';

/**
 * Holds back every byte the socket receives until released. Node's stream base delivers received records with
 * `socket.push()`; an own `push` keeps them out of the readable buffer, where any consumer could see them.
 */
export class ReadGate {
  readonly #socket: tls.TLSSocket;
  #held: Buffer[] = [];
  #ended = false;
  #wake: (() => void) | undefined;
  static readonly LIMIT = 1 << 20;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    Object.defineProperty(socket, 'push', {
      configurable: true,
      writable: true,
      value: (chunk: Buffer | null) => {
        if (chunk === null) this.#ended = true;
        else this.#held.push(chunk);
        if (this.#heldLength() > ReadGate.LIMIT) socket.destroy(ratsTlsError(E.PROTOCOL, 'Cannot verify the peer: it sent over 1 MiB before being verified'));
        this.#wake?.();
        return true;
      },
    });
  }

  #heldLength(): number {
    return this.#held.reduce((n, b) => n + b.length, 0);
  }

  /** Takes exactly `n` held bytes, waiting for them. */
  async take(n: number): Promise<Uint8Array> {
    while (this.#heldLength() < n) {
      if (this.#ended || this.#socket.destroyed) throw ratsTlsError(E.PROTOCOL, 'Cannot verify the peer: the connection ended during the in-band nonce exchange');
      let onClose: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        onClose = resolve;
        this.#socket.once('close', onClose);
      });
      this.#socket.off('close', onClose!);
      this.#wake = undefined;
    }
    const all = Buffer.concat(this.#held);
    this.#held = all.length > n ? [all.subarray(n)] : [];
    return new Uint8Array(all.subarray(0, n));
  }

  /** Restores the socket's own `push` and hands it what was held back. */
  release(): void {
    delete (this.#socket as unknown as { push?: unknown }).push;
    for (const chunk of this.#held) this.#socket.push(chunk);
    if (this.#ended) this.#socket.push(null);
    this.#held = [];
  }
}
