/** Mutual attestation: a server that requires a client certificate fails the handshake of a client without one. */
import type tls from 'node:tls';

/**
 * Mutual mode must fail the handshake of a client that sends no certificate, in the handshake (TLS 1.3 alert
 * 116 certificate_required, 1.2 handshake_failure), as the C RATS-TLS does. node:tls asks OpenSSL for that only
 * with `rejectUnauthorized`, which also makes node destroy each connection whose certificate does not chain to a
 * CA once the handshake completes, and a RATS-TLS certificate is self-signed. A connection's first keylog event
 * comes during its handshake, before that check: there the CA check is turned off again for this socket
 * (node's per-socket `_rejectUnauthorized`), leaving OpenSSL's no-certificate rule in force and the RATS-TLS
 * verification to establish(). The key material passed in is dropped. Should a node version stop honouring
 * this, every mutual connection fails (closed, not open), which the tests would show.
 */
export function allowSelfSignedPeer(_line: Buffer, socket: tls.TLSSocket): void {
  (socket as unknown as { _rejectUnauthorized: boolean })._rejectUnauthorized = false;
}

/** OpenSSL's error for a client that sent no certificate to a server that requires one. */
export function isNoCertificateError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE';
}
