/**
 * The attested TLS client (docs/rats-tls.md, "TLS layer"): node:tls's connect() whose `secureConnect` is emitted
 * only once the server is verified.
 */
import tls from 'node:tls';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import { asError, establish } from './establish.ts';
import type { RatsTlsCommonOptions } from './options.ts';
import { ReadGate } from './read-gate.ts';
import { clientContext } from './secure-context.ts';

type ClientTlsOptions = Omit<tls.ConnectionOptions, 'key' | 'cert' | 'pfx' | 'ca' | 'rejectUnauthorized' | 'checkServerIdentity' | 'session' | 'secureContext'>;

/** Options of connect(). */
export interface RatsTlsConnectOptions extends ClientTlsOptions, Omit<RatsTlsCommonOptions, 'attester'> {}

type Emit = (event: string | symbol, ...args: unknown[]) => boolean;

/**
 * Connects to an attested TLS server. The server is always verified; `identity` makes this side present a
 * certificate (for mutual servers). `callback` and `secureConnect` listeners run only after verification; a
 * rejected server destroys the socket with an InclavareError (RATS_TLS_ERR_*) on `error`.
 */
export function connect(options: RatsTlsConnectOptions, callback?: () => void): tls.TLSSocket {
  const { identity, verify = {}, hashAlg: _hashAlg, customClaims: _customClaims, endorsements: _endorsements, ...tlsOptions } = options;
  void _hashAlg;
  void _customClaims;
  void _endorsements;
  if ((options as { attester?: unknown }).attester !== undefined) {
    throw ratsTlsError(E.INVALID_ARGUMENT, 'Cannot connect: a client presents a certificate through `identity` (await createRatsTlsIdentity({ attester }))');
  }
  // No session resumption: a resumed session would skip the certificate, so every connection is a full handshake.
  const socket = tls.connect({ ...tlsOptions, secureContext: clientContext(tlsOptions, identity), rejectUnauthorized: false });
  const gate = new ReadGate(socket);
  const emit = socket.emit.bind(socket) as Emit;
  (socket as unknown as { emit: Emit }).emit = (event, ...args) => {
    if (event !== 'secureConnect') return emit(event, ...args);
    establish(socket, gate, { verifyPeer: true, isServer: false, verify, identity }).then(
      (peer) => {
        if (socket.destroyed) return;
        socket.ratsTls = peer;
        delete (socket as unknown as { emit?: unknown }).emit;
        emit('secureConnect');
        gate.release();
      },
      (err: unknown) => socket.destroy(asError(err)),
    );
    return true;
  };
  if (callback) socket.once('secureConnect', callback);
  return socket;
}
