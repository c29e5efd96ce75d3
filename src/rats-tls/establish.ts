/**
 * What happens between a completed handshake and the application: the peer's certificate judged
 * (verify-peer.ts) and, in in-band nonce mode, the freshness proofs exchanged and verified (nonce.ts,
 * docs/rats-tls.md "In-band nonce"), while the read gate holds back the peer's bytes.
 */
import type tls from 'node:tls';
import type { Claims } from '../attestation/claims.ts';
import { InclavareError, isInclavareError } from '../errors/errors.ts';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import type { RatsTlsIdentity } from './identity.ts';
import { createFreshnessProof, encodeFrame, exporterNonce, FRAME_HEADER_LENGTH, frameLength, verifyFreshnessProof } from './nonce.ts';
import type { RatsTlsPeer, RatsTlsVerifyOptions } from './options.ts';
import type { ReadGate } from './read-gate.ts';
import { applyPolicy, checkPeerCertificate } from './verify-peer.ts';

/** What establish() needs to know about this end. */
export interface EstablishContext {
  verifyPeer: boolean;
  isServer: boolean;
  verify: RatsTlsVerifyOptions;
  identity: RatsTlsIdentity | undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number, socket: tls.TLSSocket): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(ratsTlsError(E.PROTOCOL, `Cannot verify the peer: the in-band nonce exchange took over ${ms} ms`)), ms);
  });
  socket.once('close', () => clearTimeout(timer));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Verifies the peer of a completed handshake (and runs the in-band exchange); returns what to put on the socket. */
export async function establish(socket: tls.TLSSocket, gate: ReadGate, ctx: EstablishContext): Promise<RatsTlsPeer | undefined> {
  let peer: RatsTlsPeer | undefined;
  let peerSpki: Uint8Array | undefined;
  if (ctx.verifyPeer) {
    const x509 = socket.getPeerX509Certificate();
    if (x509 === undefined) {
      throw ratsTlsError(E.NO_PEER_CERTIFICATE, `Cannot trust the peer: it presented no certificate${ctx.isServer ? ' (mutual attestation requires one)' : ''}`);
    }
    const { peer: verified, verification } = checkPeerCertificate(new Uint8Array(x509.raw), ctx.verify);
    peer = verified;
    peerSpki = verification.certificate?.spki;
    if (ctx.verify.nonce === 'in-band') {
      // Re-run the policy on the fresh claims below: they are the ones the peer is accepted on.
      const freshPolicy = (claims: Claims) => applyPolicy(ctx.verify, claims, verification);
      peer = await withTimeout(inBand(socket, gate, ctx, { spki: peerSpki, attested: verification.binding !== 'absent', check: freshPolicy, peer }), ctx.verify.timeoutMs ?? 10_000, socket);
    }
  } else if (ctx.verify.nonce === 'in-band') {
    await withTimeout(inBand(socket, gate, ctx, undefined), ctx.verify.timeoutMs ?? 10_000, socket);
  }
  return peer;
}

/** The in-band exchange: send our proof (or an empty frame), read the peer's, verify it when we verify the peer. */
async function inBand(
  socket: tls.TLSSocket,
  gate: ReadGate,
  ctx: EstablishContext,
  verifying: { spki: Uint8Array | undefined; attested: boolean; check: (claims: Claims) => void; peer: RatsTlsPeer } | undefined,
): Promise<RatsTlsPeer | undefined> {
  const nonce = exporterNonce(socket);
  const own = socket.getX509Certificate();
  const identity = ctx.identity;
  const proof =
    identity?.attester !== undefined && own !== undefined
      ? await createFreshnessProof(identity.attester, new Uint8Array(own.publicKey.export({ type: 'spki', format: 'der' })), nonce, identity.hashAlg)
      : new Uint8Array(0);
  socket.write(encodeFrame(proof));
  const length = frameLength(await gate.take(FRAME_HEADER_LENGTH));
  const peerProof = length > 0 ? await gate.take(length) : new Uint8Array(0);
  if (verifying === undefined) return undefined;
  if (!verifying.attested) return verifying.peer; // an allowed unattested peer has nothing to prove
  const claims = verifyFreshnessProof(peerProof, {
    spki: verifying.spki ?? new Uint8Array(0),
    nonce,
    at: (ctx.verify.now ?? (() => new Date()))(),
    ...(ctx.verify.evidence ? { evidence: ctx.verify.evidence } : {}),
  });
  verifying.check(claims);
  return { ...verifying.peer, claims, fresh: true };
}

/** Any failure as the InclavareError the application sees (RATS_TLS_ERR_PROTOCOL for unexpected ones). */
export function asError(err: unknown): InclavareError {
  return isInclavareError(err) ? err : ratsTlsError(E.PROTOCOL, 'Cannot verify the peer', { cause: err });
}
