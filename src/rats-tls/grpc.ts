/**
 * RATS-TLS for @grpc/grpc-js (docs/rats-tls.md, "gRPC"): a service and its clients are attested by passing these
 * credentials instead of ServerCredentials.createSsl()/credentials.createSsl(), or, for a mutual server, by
 * binding the service with bindRatsTls(); no service code changes.
 *
 * Why not createSsl() with a `checkServerIdentity`: node:tls calls checkServerIdentity only when the chain
 * verified, and a RATS-TLS certificate is self-signed, so with `rejectUnauthorized: false` the hook never runs
 * (fail open) and without it every handshake fails. The channel credentials therefore hand grpc-js a secure
 * connector that is our connect(): the server is verified before grpc-js sees the socket, and a rejected server
 * makes the call fail with UNAVAILABLE.
 *
 * A mutual server must refuse an unattested client in the TLS layer, before any of its HTTP/2 bytes is read.
 * grpc-js's own TLS server gives no hook for that (its sockets are handed to HTTP/2 as soon as node:tls has
 * chain-checked them, which a self-signed certificate never passes), so bindRatsTls() listens with our
 * createServer() (a client without a certificate fails the handshake with alert 116; one whose evidence does not
 * verify is closed before a byte of it is delivered) and injects only verified connections into the grpc-js
 * server (Server.createConnectionInjector). The server credentials present the certificate and serve clients
 * without verifying them; asked for `mutual` they refuse, naming bindRatsTls().
 */
import { TLSSocket } from 'node:tls';
import { CallCredentials, ChannelCredentials, ServerCredentials, type Server } from '@grpc/grpc-js';
import type { Attester } from './attesters/attester.ts';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import type { EndorsementsSource } from './endorsements.ts';
import type { HashAlgorithm } from './format.ts';
import { connect } from './client.ts';
import { createRatsTlsIdentity, type RatsTlsIdentity } from './identity.ts';
import type { RatsTlsPeer, RatsTlsVerifyOptions } from './options.ts';
import { createServer } from './server.ts';

/** Options of ratsTlsChannelCredentials(). */
export interface RatsTlsChannelCredentialsOptions {
  /** How the server is verified (the in-band nonce mode does not apply to gRPC). */
  verify?: Omit<RatsTlsVerifyOptions, 'nonce'>;
  /** Our certificate, for mutual servers. */
  identity?: RatsTlsIdentity;
}

/** Options of ratsTlsServerCredentials(). */
export interface RatsTlsServerCredentialsOptions {
  attester?: Attester;
  identity?: RatsTlsIdentity;
  /** Request and verify client certificates. */
  mutual?: boolean;
  verify?: Omit<RatsTlsVerifyOptions, 'nonce'>;
  hashAlg?: HashAlgorithm;
  customClaims?: Record<string, Uint8Array>;
  /** With an Intel `attester`: collateral to attach to the certificate as endorsements. */
  endorsements?: EndorsementsSource;
}

type SecureConnector = ReturnType<ChannelCredentials['_createSecureConnector']>;

function rejectNonce(verify: RatsTlsVerifyOptions | undefined): void {
  if (verify?.nonce !== undefined) throw ratsTlsError(E.INVALID_ARGUMENT, 'Cannot make RATS-TLS gRPC credentials: the in-band nonce mode needs the raw TLS stream, which HTTP/2 owns');
}

class RatsTlsChannelCredentials extends ChannelCredentials {
  readonly #options: RatsTlsChannelCredentialsOptions;

  constructor(options: RatsTlsChannelCredentialsOptions) {
    super();
    this.#options = options;
  }

  _isSecure(): boolean {
    return true;
  }

  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(_target: unknown, _options: unknown, callCredentials?: CallCredentials): SecureConnector {
    const { verify = {}, identity } = this.#options;
    return {
      connect: (socket) =>
        new Promise((resolve, reject) => {
          const tlsSocket = connect({ socket, ALPNProtocols: ['h2'], verify, ...(identity ? { identity } : {}) }, () => resolve({ socket: tlsSocket, secure: true }));
          tlsSocket.once('error', reject);
        }),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCredentials ?? CallCredentials.createEmpty(),
      destroy: () => undefined,
    };
  }
}

/** Channel credentials that verify the server's RATS-TLS certificate (UNAVAILABLE when it does not verify). */
export function ratsTlsChannelCredentials(options: RatsTlsChannelCredentialsOptions = {}): ChannelCredentials {
  rejectNonce(options.verify);
  return new RatsTlsChannelCredentials(options);
}

/**
 * The TLS socket under a server call (grpc-js 1.14: `call.stream.session.socket`); grpc-js's getAuthContext()
 * hides certificates that did not chain-verify, which a RATS-TLS certificate never does.
 */
function tlsSocketOf(call: unknown): TLSSocket | undefined {
  const socket = (call as { call?: { stream?: { session?: { socket?: unknown } } }; stream?: { session?: { socket?: unknown } } } | undefined);
  const found = socket?.stream?.session?.socket ?? socket?.call?.stream?.session?.socket;
  return found instanceof TLSSocket ? found : undefined;
}

/**
 * The verified client of a call on a server bound with bindRatsTls({ mutual: true }) (its evidence claims and
 * certificate); undefined for a server that does not verify clients.
 */
export function ratsTlsPeerOf(call: unknown): RatsTlsPeer | undefined {
  return tlsSocketOf(call)?.ratsTls;
}

class RatsTlsServerCredentials extends ServerCredentials {
  constructor(identity: RatsTlsIdentity) {
    super({ requestCert: false, rejectUnauthorized: false }, identity.current());
    identity.onRenew(() => this.updateSecureContextOptions(identity.current()));
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

async function identityOf(options: RatsTlsServerCredentialsOptions): Promise<RatsTlsIdentity> {
  if (options.identity !== undefined) return options.identity;
  if (options.attester === undefined) throw ratsTlsError(E.INVALID_ARGUMENT, 'Cannot make the RATS-TLS gRPC server: give an attester or an identity');
  return createRatsTlsIdentity({
    attester: options.attester,
    ...(options.hashAlg ? { hashAlg: options.hashAlg } : {}),
    ...(options.customClaims ? { customClaims: options.customClaims } : {}),
    ...(options.endorsements ? { endorsements: options.endorsements } : {}),
  });
}

/**
 * Server credentials presenting an attested certificate (made with `attester`, renewed before it expires, or
 * the given `identity`), for server.bindAsync(). They do not verify clients: for mutual attestation bind the
 * service with bindRatsTls(), which refuses an unattested client in the TLS layer.
 */
export async function ratsTlsServerCredentials(options: RatsTlsServerCredentialsOptions): Promise<ServerCredentials> {
  rejectNonce(options.verify);
  if (options.mutual === true) {
    throw ratsTlsError(E.INVALID_ARGUMENT, 'Cannot make mutual RATS-TLS gRPC server credentials: grpc-js would read a client\'s HTTP/2 frames before it is verified; bind the service with bindRatsTls(server, address, { mutual: true, ... }) instead');
  }
  return new RatsTlsServerCredentials(await identityOf(options));
}

/** A gRPC service listening with RATS-TLS (bindRatsTls()). */
export interface RatsTlsGrpcBinding {
  /** The TCP port (useful with port 0). */
  port: number;
  /** Stops listening and closes the connections it accepted (the grpc-js server itself is the caller's). */
  close(): Promise<void>;
}

/**
 * Serves `server`'s services on host:port over RATS-TLS. With `mutual`, a client without a certificate fails the
 * TLS handshake (alert 116) and one whose certificate or evidence does not verify is closed before any of its
 * bytes reaches HTTP/2; handlers read the verified client with ratsTlsPeerOf(call).
 */
export async function bindRatsTls(server: Server, address: { host?: string; port: number }, options: RatsTlsServerCredentialsOptions): Promise<RatsTlsGrpcBinding> {
  rejectNonce(options.verify);
  const identity = await identityOf(options);
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const sockets = new Set<TLSSocket>();
  const tlsServer = createServer(
    { identity, mutual: options.mutual === true, verify: options.verify ?? {}, ALPNProtocols: ['h2'] },
    (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      injector.injectConnection(socket);
    },
  );
  // A refused client is the client's problem, not the server's: nothing to do but not crash.
  tlsServer.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    tlsServer.once('error', reject);
    tlsServer.listen(address.port, address.host ?? '127.0.0.1', () => {
      tlsServer.off('error', reject);
      resolve();
    });
  });
  const bound = tlsServer.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        injector.destroy();
        for (const socket of sockets) socket.destroy();
        tlsServer.close(() => {
          if (options.identity === undefined) identity.close();
          resolve();
        });
      }),
  };
}
