/**
 * RATS-TLS credentials for @grpc/grpc-js (docs/rats-tls.md, "gRPC"): a service and its clients are attested by
 * passing these credentials instead of ServerCredentials.createSsl()/credentials.createSsl(); no service code
 * changes.
 *
 * Why not createSsl() with a `checkServerIdentity`: node:tls calls checkServerIdentity only when the chain
 * verified, and a RATS-TLS certificate is self-signed, so with `rejectUnauthorized: false` the hook never runs
 * (fail open) and without it every handshake fails. The channel credentials therefore hand grpc-js a secure
 * connector that is our connect(): the server is verified before grpc-js sees the socket, and a rejected server
 * makes the call fail with UNAVAILABLE. The server credentials present the attested certificate; with `mutual`
 * they request the client's certificate and verify it in a server interceptor before any handler runs
 * (UNAUTHENTICATED otherwise), once per connection until the certificate or its evidence claims expire.
 */
import { TLSSocket } from 'node:tls';
import { CallCredentials, ChannelCredentials, Metadata, ServerCredentials, ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import { isInclavareError } from '../errors/errors.ts';
import type { Attester } from './attesters/attester.ts';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import type { EndorsementsSource } from './endorsements.ts';
import type { HashAlgorithm } from './format.ts';
import { connect } from './client.ts';
import { createRatsTlsIdentity, type RatsTlsIdentity } from './identity.ts';
import type { RatsTlsPeer, RatsTlsVerifyOptions } from './options.ts';
import { checkPeerCertificate } from './verify-peer.ts';

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
 * The TLS socket under a server call. grpc-js exposes the peer certificate (getAuthContext()) only for sockets
 * whose chain verified, which a self-signed RATS-TLS certificate never does, so this reads the socket of the base
 * call (grpc-js 1.14: `call.stream.session.socket`). If that shape changes, no socket is found and every call is
 * rejected: fail closed.
 */
function tlsSocketOf(call: unknown): TLSSocket | undefined {
  const socket = (call as { stream?: { session?: { socket?: unknown } } } | undefined)?.stream?.session?.socket;
  return socket instanceof TLSSocket ? socket : undefined;
}

function clientVerifier(verify: RatsTlsVerifyOptions): ServerInterceptor {
  // One verdict per connection, valid until the certificate or its evidence claims expire.
  const verdicts = new WeakMap<TLSSocket, { until: number; peer: RatsTlsPeer }>();
  const judge = (call: unknown): Error | undefined => {
    const socket = tlsSocketOf(call);
    if (socket === undefined) return ratsTlsError(E.NO_PEER_CERTIFICATE, 'Cannot trust the client: its TLS connection is not reachable from the call');
    const now = (verify.now ?? (() => new Date()))().getTime();
    const hit = verdicts.get(socket);
    if (hit !== undefined && hit.until > now) return undefined;
    const x509 = socket.getPeerX509Certificate();
    if (x509 === undefined) return ratsTlsError(E.NO_PEER_CERTIFICATE, 'Cannot trust the client: it presented no certificate (mutual attestation requires one)');
    try {
      const { peer, verification } = checkPeerCertificate(new Uint8Array(x509.raw), verify);
      const until = Math.min(verification.certificate?.notAfter.getTime() ?? now, peer.claims ? Date.parse(peer.claims.validUntil) : Infinity);
      verdicts.set(socket, { until, peer });
      socket.ratsTls = peer;
      return undefined;
    } catch (err) {
      return isInclavareError(err) ? err : ratsTlsError(E.EVIDENCE_REJECTED, 'Cannot trust the client', { cause: err });
    }
  };
  return (_method, call) =>
    new ServerInterceptingCall(call, {
      start: (next) => {
        const error = judge(call);
        if (error === undefined) {
          next();
          return;
        }
        call.sendStatus({ code: status.UNAUTHENTICATED, details: error.message, metadata: new Metadata() });
      },
    });
}

class RatsTlsServerCredentials extends ServerCredentials {
  readonly #interceptors: ServerInterceptor[];

  constructor(identity: RatsTlsIdentity, mutual: boolean, verify: RatsTlsVerifyOptions) {
    super({ requestCert: mutual, rejectUnauthorized: false }, identity.current());
    this.#interceptors = mutual ? [clientVerifier(verify)] : [];
    identity.onRenew(() => this.updateSecureContextOptions(identity.current()));
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }

  override _getInterceptors(): ServerInterceptor[] {
    return this.#interceptors;
  }
}

/**
 * Server credentials presenting an attested certificate (made with `attester`, renewed before it expires, or
 * the given `identity`); with `mutual`, clients must present a verified RATS-TLS certificate.
 */
export async function ratsTlsServerCredentials(options: RatsTlsServerCredentialsOptions): Promise<ServerCredentials> {
  rejectNonce(options.verify);
  let identity = options.identity;
  if (identity === undefined) {
    if (options.attester === undefined) throw ratsTlsError(E.INVALID_ARGUMENT, 'Cannot make RATS-TLS server credentials: give an attester or an identity');
    identity = await createRatsTlsIdentity({
      attester: options.attester,
      ...(options.hashAlg ? { hashAlg: options.hashAlg } : {}),
      ...(options.customClaims ? { customClaims: options.customClaims } : {}),
      ...(options.endorsements ? { endorsements: options.endorsements } : {}),
    });
  }
  return new RatsTlsServerCredentials(identity, options.mutual === true, options.verify ?? {});
}
