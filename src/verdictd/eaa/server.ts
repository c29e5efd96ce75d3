/**
 * The EAA front end (docs/verdictd.md, "EAA"): a mutual RATS-TLS server whose peers are verified by RATS-TLS
 * with the broker's evidence options (the store's trust configuration) and admitted by the broker; each
 * connection's requests (framing.ts) are answered in order by commands.ts. Peers whose certificate fails are
 * dropped in the handshake and the rejection is audited through the broker.
 */
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import type { Claims } from '../../attestation/claims.ts';
import type { VerifyEvidenceOptions } from '../../attestation/verify-evidence.ts';
import { describeError, isInclavareError } from '../../errors/errors.ts';
import type { RatsTlsIdentity } from '../../rats-tls/identity.ts';
import type { ExpectedClaims, RatsTlsVerifyOptions } from '../../rats-tls/options.ts';
import { createServer } from '../../rats-tls/server.ts';
import { forgetVerdicts } from '../../rats-tls/verdict-cache.ts';
import type { Broker, Peer } from '../broker.ts';
import type { VerdictdLog } from '../log.ts';
import { failReply, runCommand } from './commands.ts';
import { FrameReader } from './framing.ts';

/** Options of {@link createEaaServer}. */
export interface EaaServerOptions {
  broker: Broker;
  /** verdictd's own certificate, made by `--attester` under its identity key (identity.ts); the caller closes it. */
  identity: RatsTlsIdentity;
  /** Claims every peer must have besides the policy (`--verifier`: the TEE). */
  expected?: ExpectedClaims;
  host: string;
  port: number;
  log: VerdictdLog;
  /** How long a request that has begun may take to arrive whole (ms); default 5000. */
  frameTimeoutMs?: number;
  /** How long a connection may stay idle (ms); default 5 minutes. */
  idleTimeoutMs?: number;
  /** How often the store's trust configuration is re-read (ms); default 5000. */
  trustRefreshMs?: number;
}

/** A server the daemon starts and stops (the EAA front end, the management API, ...). */
export interface ManagedServer {
  /** For logs: `eaa`, `management`, ... */
  readonly name: string;
  /** Resolves once it listens; returns where. */
  start(): Promise<AddressInfo>;
  /** Stops accepting, ends its connections, resolves once closed. */
  close(): Promise<void>;
}

/** The EAA front end as a {@link ManagedServer}, plus a way to apply a trust change now. */
export interface EaaServer extends ManagedServer {
  /** Re-reads the store's trust configuration (call after `setTrust`; it is also re-read periodically). */
  refreshTrust(): Promise<void>;
}

/** Creates (does not start) the EAA front end. */
export function createEaaServer(options: EaaServerOptions): EaaServer {
  const { broker, log } = options;
  let evidence: Omit<VerifyEvidenceOptions, 'at' | 'tee'> = { sim: { platformKeys: [] } };
  let evidenceText = '';
  const refreshTrust = async (): Promise<void> => {
    const { at: _at, ...rest } = await broker.evidenceOptions(new Date());
    void _at;
    const text = JSON.stringify(rest);
    // A changed trust configuration drops every cached verdict: a removed platform key or anchor is refused
    // from this moment on, as it would be without the cache.
    if (text !== evidenceText) forgetVerdicts(verify);
    evidenceText = text;
    evidence = rest;
  };
  // RATS-TLS reads `verify.evidence` per handshake: the getter hands it the current trust configuration.
  // Verdicts on client certificates are cached (RATS-TLS's cache: only accepted certificates, each while both
  // it and its evidence's claims are valid) until the trust configuration changes (refreshTrust). Without the
  // cache, verifying the evidence again on every connection of the same enclave cost about two thirds of the
  // CPU time of an attested release (docs/benchmarks.md, "verdictd key releases"). The `--verifier` TEE is
  // checked per connection, and the broker's policy on every release, cached verdict or not.
  const verify: RatsTlsVerifyOptions = {
    get evidence() {
      return evidence;
    },
    ...(options.expected ? { expected: options.expected } : {}),
    allowUnattested: false,
  };
  const sockets = new Set<tls.TLSSocket>();
  const server = createServer({ identity: options.identity, mutual: true, verify }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serveEaaConnection(socket, socket.ratsTls?.claims, options);
  });
  server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    const peer: Peer = { address: addressOf(socket), frontEnd: 'eaa' };
    log.warn(`eaa: ${peer.address}: peer refused in the handshake: ${describeError(err)}`);
    // Audited through the broker (the store's log): who tried, and why it was refused.
    if (isInclavareError(err)) {
      broker.auditRejection(peer, err).catch((e: unknown) => log.error(`eaa: cannot audit a refused peer: ${describeError(e)}`));
    }
  });

  let trustTimer: NodeJS.Timeout | undefined;
  return {
    name: 'eaa',
    refreshTrust,
    async start() {
      await refreshTrust();
      trustTimer = setInterval(() => {
        refreshTrust().catch((err: unknown) => log.error(`eaa: cannot re-read the trust configuration: ${describeError(err)}`));
      }, options.trustRefreshMs ?? 5000);
      trustTimer.unref();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => log.error(`eaa: ${describeError(err)}`));
      return server.address() as AddressInfo;
    },
    async close() {
      clearInterval(trustTimer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.end();
      const forced = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 2000);
      await closed;
      clearTimeout(forced);
    },
  };
}

/** Options of {@link serveEaaConnection}. */
export interface EaaConnectionOptions {
  broker: Broker;
  log: VerdictdLog;
  /** How long a request that has begun may take to arrive whole (ms); default 5000. */
  frameTimeoutMs?: number;
  /** How long a connection may stay idle (ms); default 5 minutes. */
  idleTimeoutMs?: number;
}

/**
 * Answers one connection's EAA requests, in order, for the peer whose verified claims are `claims` (the
 * transport verified them; none: the connection is dropped, fail closed). The EAA front end calls it for each
 * attested connection; bench/verdictd.ts serves its plain-TLS baseline with it, so both run the same code.
 */
export function serveEaaConnection(socket: tls.TLSSocket, claims: Claims | undefined, options: EaaConnectionOptions): void {
  const { broker, log } = options;
  const frameTimeoutMs = options.frameTimeoutMs ?? 5000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 5 * 60_000;
  const address = addressOf(socket);
  socket.on('error', (err) => log.debug(`eaa: ${address}: ${describeError(err)}`));
  socket.setTimeout(idleTimeoutMs, () => socket.destroy());
  if (claims === undefined) {
    // Mutual with allowUnattested false: cannot happen; fail closed all the same.
    socket.destroy();
    return;
  }
  const attestation = broker.admit(claims, { address, frontEnd: 'eaa' });
  log.info(`eaa: ${address}: verified ${claims.tee} peer (claims digest ${attestation.claimsDigest})`);
  const reader = new FrameReader();
  let queue: Promise<void> = Promise.resolve();
  let closing = false;
  let frameTimer: NodeJS.Timeout | undefined;

  const answer = (body: string, close: boolean): void => {
    if (closing || socket.destroyed) return;
    if (close) {
      closing = true;
      socket.end(body);
    } else socket.write(body);
  };
  const enqueue = (work: () => Promise<void>): void => {
    queue = queue.then(work).catch((err: unknown) => {
      log.error(`eaa: ${address}: ${describeError(err)}`);
      answer(failReply(err), false);
    });
  };
  const handle = (events: ReturnType<FrameReader['push']>): void => {
    for (const event of events) {
      if (event.kind === 'error') {
        const { error } = event;
        enqueue(async () => {
          log.info(`eaa: ${address}: ${error.code}`);
          answer(failReply(error), false);
        });
      } else {
        const text = event.text;
        enqueue(async () => {
          if (closing || socket.destroyed) return;
          const result = await runCommand(text, { broker, attestation });
          log.info(`eaa: ${address}: ${result.summary}`);
          answer(result.body, result.close);
        });
      }
    }
  };
  const armFrameTimer = (): void => {
    clearTimeout(frameTimer);
    if (!reader.pending) return;
    frameTimer = setTimeout(() => {
      const event = reader.abandon(`nothing more arrived within ${frameTimeoutMs} ms`);
      if (event) handle([event]);
    }, frameTimeoutMs);
  };
  socket.on('data', (chunk: Buffer) => {
    if (closing) return;
    handle(reader.push(chunk));
    armFrameTimer();
  });
  socket.on('end', () => {
    clearTimeout(frameTimer);
    const event = reader.abandon('the client ended the connection');
    if (event) handle([event]);
    enqueue(async () => {
      if (!closing) {
        closing = true;
        socket.end();
      }
    });
  });
  socket.once('close', () => clearTimeout(frameTimer));
}

function addressOf(socket: tls.TLSSocket): string {
  const host = socket.remoteAddress ?? 'unknown';
  return `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? 0}`;
}
