/**
 * The relay on an attestation socket (docs/attestation-socket.md "Relay"): `CONNECT HOST:PORT` opens a byte
 * tunnel from the container to the verdictd address rune registered for it, and to no other address, so a
 * container cannot use the host's daemon to reach anything else on the host's network. What passes is the
 * RATS-TLS session between init-runelet (inside the enclave) and verdictd: the host relays ciphertext it
 * cannot read, and cannot answer in verdictd's name without verdictd's pinned key.
 */
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describeError, httpStatusOf, type InclavareError } from '../errors/errors.ts';
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../attestation-socket/codes.ts';
import type { DaemonLog } from './log.ts';
import type { ContainerRecord } from './evidence.ts';

/** Time limits of a relay. */
export interface RelayLimits {
  /** To connect to verdictd (ms). */
  connectTimeoutMs: number;
  /** A tunnel with no byte either way for this long is closed (ms). */
  idleTimeoutMs: number;
}

/** Defaults: verdictd is on this host or its network; a secrets fetch takes well under a second. */
export const DEFAULT_RELAY_LIMITS: RelayLimits = { connectTimeoutMs: 10_000, idleTimeoutMs: 60_000 };

const REASONS: Record<number, string> = { 200: 'Connection Established', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };

function refuse(socket: Duplex, err: InclavareError): void {
  const status = httpStatusOf(err);
  const body = JSON.stringify({ error: { code: err.code, message: describeError(err) } });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Splits HOST:PORT or [IPv6]:PORT (the registered form, already validated). */
function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(at + 1)) };
}

/** Serves CONNECT on `server` for `container`. */
export function attachRelay(server: Server, container: ContainerRecord, log: DaemonLog, limits: RelayLimits = DEFAULT_RELAY_LIMITS): void {
  server.on('connect', (req: { url?: string }, client: Duplex, head: Buffer) => {
    client.on('error', () => undefined);
    const target = req.url ?? '';
    if (container.relay === undefined) {
      refuse(client, inclavaredError(INCLAVARED_ERROR_CODES.NO_RELAY, 'Cannot relay: this container declared no secrets, so no verdictd address is registered for it'));
      return;
    }
    if (target !== container.relay) {
      refuse(
        client,
        inclavaredError(INCLAVARED_ERROR_CODES.RELAY_FORBIDDEN, `Cannot relay to ${JSON.stringify(target.slice(0, 100))}: this container's relay goes to ${container.relay} only`),
      );
      return;
    }
    const upstream: Socket = connect(hostPort(container.relay));
    const connectTimer = setTimeout(() => upstream.destroy(new Error(`no connection within ${limits.connectTimeoutMs} ms`)), limits.connectTimeoutMs);
    let bytesUp = head.length;
    let bytesDown = 0;
    let established = false;
    upstream.once('error', (err) => {
      clearTimeout(connectTimer);
      if (!established) {
        refuse(client, inclavaredError(INCLAVARED_ERROR_CODES.RELAY_UNREACHABLE, `Cannot reach verdictd at ${container.relay}: ${describeError(err)}`));
      } else {
        client.destroy();
      }
      log.warn(`relay of container ${container.id} to ${container.relay} failed: ${describeError(err)}`);
    });
    upstream.once('connect', () => {
      clearTimeout(connectTimer);
      established = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.setTimeout(limits.idleTimeoutMs, () => upstream.destroy());
      upstream.on('data', (chunk: Buffer) => (bytesDown += chunk.length));
      client.on('data', (chunk: Buffer) => (bytesUp += chunk.length));
      upstream.pipe(client);
      client.pipe(upstream);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => {
        client.destroy();
        // Sizes only: what passes is ciphertext, and even that stays out of the log.
        log.info(`relayed container ${container.id} to ${container.relay}: ${bytesUp} bytes up, ${bytesDown} down`);
      });
    });
  });
}
