/**
 * The attested TLS server (docs/rats-tls.md, "TLS layer"): node:tls's createServer() whose `secureConnection`
 * is emitted only for verified peers (mutual mode) and whose certificate is made by an attester and renewed.
 */
import tls from 'node:tls';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import { asError, establish } from './establish.ts';
import { createRatsTlsIdentity, type RatsTlsIdentity } from './identity.ts';
import { allowSelfSignedPeer, isNoCertificateError } from './mutual.ts';
import type { RatsTlsCommonOptions } from './options.ts';
import { ReadGate } from './read-gate.ts';
import { noRenegotiation } from './secure-context.ts';

type ServerTlsOptions = Omit<tls.TlsOptions, 'key' | 'cert' | 'pfx' | 'ca' | 'requestCert' | 'rejectUnauthorized' | 'SNICallback'>;

/** Options of createServer(). */
export interface RatsTlsServerOptions extends ServerTlsOptions, RatsTlsCommonOptions {
  /** Require and verify a client certificate. */
  mutual?: boolean;
}

type Emit = (event: string | symbol, ...args: unknown[]) => boolean;

/**
 * An attested TLS server. With `attester`, listen() starts once the first certificate exists (an `error` event
 * if it cannot be made); the certificate is renewed before it expires. `secureConnectionListener` and every
 * `secureConnection` listener see only verified sockets.
 */
export function createServer(options: RatsTlsServerOptions, secureConnectionListener?: (socket: tls.TLSSocket) => void): tls.Server {
  const { attester, identity: givenIdentity, verify = {}, mutual = false, hashAlg, customClaims, endorsements, ...tlsOptions } = options;
  if (attester === undefined && givenIdentity === undefined) throw ratsTlsError(E.INVALID_ARGUMENT, 'Cannot create the RATS-TLS server: give an attester or an identity');
  // Mutual: OpenSSL fails the handshake of a client without a certificate (see allowSelfSignedPeer).
  const base: tls.TlsOptions = { ...tlsOptions, secureOptions: noRenegotiation(tlsOptions.secureOptions), requestCert: mutual, rejectUnauthorized: mutual };
  const server = tls.createServer(givenIdentity ? { ...base, ...givenIdentity.current() } : base);
  if (mutual) server.on('keylog', allowSelfSignedPeer);
  let identity = givenIdentity;
  const ready: Promise<RatsTlsIdentity> = givenIdentity
    ? Promise.resolve(givenIdentity)
    : createRatsTlsIdentity({ attester: attester!, ...(hashAlg ? { hashAlg } : {}), ...(customClaims ? { customClaims } : {}), ...(endorsements ? { endorsements } : {}) });
  ready.then(
    (id) => {
      identity = id;
      if (!givenIdentity) server.setSecureContext({ ...base, ...id.current() });
      const off = id.onRenew(() => server.setSecureContext({ ...base, ...id.current() }));
      server.once('close', () => {
        off();
        if (!givenIdentity) id.close();
      });
    },
    // The failure is reported by listen() as an `error` event.
    () => undefined,
  );

  const listen = server.listen.bind(server) as (...args: unknown[]) => tls.Server;
  (server as unknown as { listen: (...args: unknown[]) => tls.Server }).listen = (...args: unknown[]) => {
    ready.then(
      () => listen(...args),
      (err: unknown) => server.emit('error', asError(err)),
    );
    return server;
  };

  const emit = server.emit.bind(server) as Emit;
  (server as unknown as { emit: Emit }).emit = (event, ...args) => {
    if (event === 'tlsClientError' && isNoCertificateError(args[0])) {
      const reason = ratsTlsError(E.NO_PEER_CERTIFICATE, 'Cannot trust the peer: it presented no certificate (mutual attestation requires one; the handshake failed with alert 116)', { cause: args[0] });
      return emit(event, reason, ...args.slice(1));
    }
    if (event !== 'secureConnection') return emit(event, ...args);
    const socket = args[0] as tls.TLSSocket;
    const gate = new ReadGate(socket);
    const swallow = () => undefined;
    socket.on('error', swallow);
    establish(socket, gate, { verifyPeer: mutual, isServer: true, verify, identity }).then(
      (peer) => {
        socket.off('error', swallow);
        if (socket.destroyed) return;
        socket.ratsTls = peer;
        emit('secureConnection', socket);
        gate.release();
      },
      (err: unknown) => {
        socket.destroy();
        emit('tlsClientError', asError(err), socket);
      },
    );
    return true;
  };
  if (secureConnectionListener) server.on('secureConnection', secureConnectionListener);
  return server;
}
