/**
 * Attested TLS with node:tls's shape (docs/rats-tls.md, "TLS layer"): `createServer()` and `connect()` return a
 * tls.Server and a tls.TLSSocket whose peers prove themselves with RATS-TLS certificates.
 *
 * Certificates are self-signed, so the chain check is off (`rejectUnauthorized: false`) and the peer is judged
 * by verifyAttestedCertificate() once the handshake completes, before anything reaches the application:
 * - received bytes are held back (the socket's `push` is gated) until the peer is verified, so no `data`,
 *   `readable` or async-iterator consumer can see bytes from an unverified peer;
 * - `secureConnect` (client) and `secureConnection` (server) are emitted only after verification;
 * - a rejected peer's socket is destroyed: the client's socket emits `error` with an InclavareError
 *   (RATS_TLS_ERR_*), the server emits `tlsClientError` and drops the connection. Fail closed.
 */
import { constants as cryptoConstants, createHash, X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { Claims, TeeType } from '../attestation/claims.ts';
import type { VerifyEvidenceOptions } from '../attestation/verify-evidence.ts';
import { InclavareError, isInclavareError } from '../errors/errors.ts';
import type { Attester } from './attesters/attester.ts';
import { createAttestedCertificate, type CertificateKeyType } from './certificate.ts';
import type { EndorsementsSource } from './endorsements.ts';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import type { HashAlgorithm } from './format.ts';
import { createFreshnessProof, encodeFrame, exporterNonce, FRAME_HEADER_LENGTH, frameLength, verifyFreshnessProof } from './nonce.ts';
import type { CertificateFormat } from './parse.ts';
import { verifyAttestedCertificate, type AttestedCertificateVerification, type Binding } from './verify.ts';

/** What the application learns about a verified peer: `socket.ratsTls`. */
export interface RatsTlsPeer {
  /** The evidence claims the peer was accepted on (the fresh ones in in-band nonce mode); undefined when unattested. */
  claims: Claims | undefined;
  binding: Binding;
  format: CertificateFormat;
  /** True when the claims come from evidence bound to this session's in-band nonce. */
  fresh: boolean;
}

declare module 'node:tls' {
  interface TLSSocket {
    /** Set by inclavare/rats-tls before the application can read: the verified peer (undefined if not verified). */
    ratsTls?: RatsTlsPeer;
  }
}

/** Claims the peer must have; every given field must equal (measurement hex compares case-insensitively). */
export interface ExpectedClaims {
  tee?: TeeType;
  debug?: boolean;
  productId?: number;
  svn?: number;
  measurements?: Partial<Record<keyof Claims['measurements'], string>>;
  platform?: Partial<Record<keyof Claims['platform'], string>>;
}

/** How a peer is verified. */
export interface RatsTlsVerifyOptions {
  /** Inputs of verifyEvidence() (collateral, VCEK, trust anchors, sim platform keys, rejectDebug). */
  evidence?: Omit<VerifyEvidenceOptions, 'at' | 'tee'>;
  expected?: ExpectedClaims;
  /** Last word on the claims: false or a string (the reason) rejects. Called with undefined for an allowed unattested peer. */
  callback?: (claims: Claims | undefined, verification: AttestedCertificateVerification) => boolean | string;
  /** Accept a peer without evidence. Default false: fail closed. */
  allowUnattested?: boolean;
  /** 'in-band': the peer must also prove fresh evidence bound to this session (both ends must use this mode). */
  nonce?: 'in-band';
  /** The verification clock; default the real one. */
  now?: () => Date;
  /** Reuse the verdict on a peer certificate seen before (while it holds); default true. */
  cache?: boolean;
  /** Time limit of the in-band exchange (ms); default 10000. */
  timeoutMs?: number;
}

/** Our own certificate and key, renewed before it expires. */
export interface RatsTlsIdentity {
  /** The attester that answers in-band nonces (undefined: this side cannot). */
  readonly attester: Attester | undefined;
  readonly hashAlg: HashAlgorithm;
  /** The current certificate and key (PEM). */
  current(): { cert: string; key: string };
  /** Calls `listener` after each renewal; returns the unsubscribe function. */
  onRenew(listener: () => void): () => void;
  /** Stops renewal. */
  close(): void;
}

/** Options of createRatsTlsIdentity(). */
export interface RatsTlsIdentityOptions {
  attester: Attester;
  hashAlg?: HashAlgorithm;
  keyType?: CertificateKeyType;
  customClaims?: Record<string, Uint8Array>;
  /** Intel attesters: collateral to attach as the endorsements extension (fetched again at each renewal when a function). */
  endorsements?: EndorsementsSource;
  /** Renew this long before notAfter (ms); default 5 minutes. */
  renewBeforeMs?: number;
}

const DEFAULT_RENEW_BEFORE_MS = 300_000;
const RETRY_MS = 10_000;

/** Creates a certificate with the attester and keeps it renewed before it expires (timers are unref'd). */
export async function createRatsTlsIdentity(options: RatsTlsIdentityOptions): Promise<RatsTlsIdentity> {
  const make = () =>
    createAttestedCertificate({
      attester: options.attester,
      ...(options.hashAlg ? { hashAlg: options.hashAlg } : {}),
      ...(options.keyType ? { keyType: options.keyType } : {}),
      ...(options.customClaims ? { customClaims: options.customClaims } : {}),
      ...(options.endorsements ? { endorsements: options.endorsements } : {}),
    });
  let cert = await make();
  const listeners = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const schedule = (delayMs: number) => {
    if (closed) return;
    timer = setTimeout(() => {
      make().then(
        (next) => {
          cert = next;
          for (const l of listeners) l();
          schedule(nextRenewal());
        },
        () => schedule(RETRY_MS),
      );
    }, delayMs);
    timer.unref();
  };
  const nextRenewal = () => {
    const notAfter = new X509Certificate(cert.certPem).validTo;
    return Math.max(1_000, Date.parse(notAfter) - Date.now() - (options.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS));
  };
  schedule(nextRenewal());
  return {
    attester: options.attester,
    hashAlg: options.hashAlg ?? 'sha-256',
    current: () => ({ cert: cert.certPem, key: cert.keyPem }),
    onRenew(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}

/** A fixed certificate and key (made elsewhere); `attester` answers in-band nonces. */
export function staticRatsTlsIdentity(options: { cert: string; key: string; attester?: Attester; hashAlg?: HashAlgorithm }): RatsTlsIdentity {
  return {
    attester: options.attester,
    hashAlg: options.hashAlg ?? 'sha-256',
    current: () => ({ cert: options.cert, key: options.key }),
    onRenew: () => () => undefined,
    close: () => undefined,
  };
}

/** Options both ends share. */
export interface RatsTlsCommonOptions {
  /** Our certificate is generated with it at start and renewed before it expires. */
  attester?: Attester;
  /** Alternatively, a ready identity (required on the client side to present a certificate). */
  identity?: RatsTlsIdentity;
  /** How the peer is verified; default: attested (fail closed) with no evidence inputs. */
  verify?: RatsTlsVerifyOptions;
  hashAlg?: HashAlgorithm;
  customClaims?: Record<string, Uint8Array>;
  /** With `attester` (sgx, tdx): attach this collateral to our certificate as endorsements. */
  endorsements?: EndorsementsSource;
}

type ServerTlsOptions = Omit<tls.TlsOptions, 'key' | 'cert' | 'pfx' | 'ca' | 'requestCert' | 'rejectUnauthorized' | 'SNICallback'>;
type ClientTlsOptions = Omit<tls.ConnectionOptions, 'key' | 'cert' | 'pfx' | 'ca' | 'rejectUnauthorized' | 'checkServerIdentity' | 'session' | 'secureContext'>;

/** Options of createServer(). */
export interface RatsTlsServerOptions extends ServerTlsOptions, RatsTlsCommonOptions {
  /** Require and verify a client certificate. */
  mutual?: boolean;
}

/** Options of connect(). */
export interface RatsTlsConnectOptions extends ClientTlsOptions, Omit<RatsTlsCommonOptions, 'attester'> {}

function policyCheck(claims: Claims | undefined, expected: ExpectedClaims | undefined): string | undefined {
  if (expected === undefined) return undefined;
  if (claims === undefined) return 'the peer is unattested and claims are expected';
  for (const key of ['tee', 'debug', 'productId', 'svn'] as const) {
    if (expected[key] !== undefined && claims[key] !== expected[key]) return `${key} is ${String(claims[key])}, expected ${String(expected[key])}`;
  }
  for (const group of ['measurements', 'platform'] as const) {
    const want = expected[group] ?? {};
    const have = claims[group] as Record<string, string | undefined>;
    for (const [name, value] of Object.entries(want)) {
      if (value === undefined) continue;
      if (have[name]?.toLowerCase() !== value.toLowerCase()) return `${group}.${name} is ${have[name] ?? 'absent'}, expected ${value.toLowerCase()}`;
    }
  }
  return undefined;
}

function applyPolicy(verify: RatsTlsVerifyOptions, claims: Claims | undefined, verification: AttestedCertificateVerification): void {
  const mismatch = policyCheck(claims, verify.expected);
  if (mismatch !== undefined) throw ratsTlsError(E.POLICY_REJECTED, `Cannot trust the peer: ${mismatch}`);
  if (verify.callback) {
    const verdict = verify.callback(claims, verification);
    if (verdict !== true) throw ratsTlsError(E.POLICY_REJECTED, `Cannot trust the peer: ${typeof verdict === 'string' ? verdict : 'the verification callback rejected its claims'}`);
  }
}

/**
 * Verifies a peer's RATS-TLS certificate (DER) against `verify` (evidence, allowUnattested, expected, callback);
 * throws the InclavareError of the first failed check. Shared by the TLS layer and the gRPC credentials.
 */
export function checkPeerCertificate(der: Uint8Array, verify: RatsTlsVerifyOptions): { peer: RatsTlsPeer; verification: AttestedCertificateVerification } {
  const at = (verify.now ?? (() => new Date()))();
  const cache = verify.cache === false ? undefined : cacheOf(verify);
  const key = cache ? createHash('sha256').update(der).digest('hex') : '';
  const hit = cache?.get(key);
  let verification: AttestedCertificateVerification;
  if (hit !== undefined && hit.from <= at.getTime() && at.getTime() <= hit.until) {
    verification = hit.verification;
  } else {
    verification = verifyAttestedCertificate(der, {
      at,
      ...(verify.evidence ? { evidence: verify.evidence } : {}),
      allowUnattested: verify.allowUnattested === true,
    });
    if (!verification.verified) throw verification.error ?? ratsTlsError(E.EVIDENCE_REJECTED, 'Cannot trust the peer\'s certificate');
    if (cache !== undefined && verification.certificate !== undefined) {
      // Valid while both the certificate and its evidence's verdict are (Claims.validFrom/validUntil).
      const claims = verification.claims;
      const from = Math.max(verification.certificate.notBefore.getTime(), claims ? Date.parse(claims.validFrom) : -Infinity);
      const until = Math.min(verification.certificate.notAfter.getTime(), claims ? Date.parse(claims.validUntil) : Infinity);
      if (cache.size >= VERDICT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(key, { from, until, verification });
    }
  }
  // The policy is cheap and may change (a callback): applied on every connection, cached verdict or not.
  applyPolicy(verify, verification.claims, verification);
  return { peer: { claims: verification.claims, binding: verification.binding, format: verification.format, fresh: false }, verification };
}

/**
 * Verdicts per verification options and peer certificate (SHA-256 of its DER): a peer's certificate is reused
 * for an hour, and verifying its evidence costs more than a handshake. Only accepted certificates are cached,
 * each for the interval in which its verdict holds; new evidence inputs (collateral, keys) mean a new options
 * object and so a fresh cache.
 */
const VERDICT_CACHE_SIZE = 256;
const verdictCaches = new WeakMap<RatsTlsVerifyOptions, Map<string, { from: number; until: number; verification: AttestedCertificateVerification }>>();

function cacheOf(verify: RatsTlsVerifyOptions) {
  let cache = verdictCaches.get(verify);
  if (cache === undefined) {
    cache = new Map();
    verdictCaches.set(verify, cache);
  }
  return cache;
}

/**
 * Holds back every byte the socket receives until released. Node's stream base delivers received records with
 * `socket.push()`; an own `push` keeps them out of the readable buffer, where any consumer could see them.
 */
class ReadGate {
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

interface EstablishContext {
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
async function establish(socket: tls.TLSSocket, gate: ReadGate, ctx: EstablishContext): Promise<RatsTlsPeer | undefined> {
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

function asError(err: unknown): InclavareError {
  return isInclavareError(err) ? err : ratsTlsError(E.PROTOCOL, 'Cannot verify the peer', { cause: err });
}

type Emit = (event: string | symbol, ...args: unknown[]) => boolean;

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
function allowSelfSignedPeer(_line: Buffer, socket: tls.TLSSocket): void {
  (socket as unknown as { _rejectUnauthorized: boolean })._rejectUnauthorized = false;
}

/** OpenSSL's error for a client that sent no certificate to a server that requires one. */
function isNoCertificateError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE';
}

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

/**
 * TLS 1.2 renegotiation is off at both ends: it could swap the peer's certificate after it was verified
 * (TLS 1.3 has no renegotiation). The caller's other secureOptions bits are kept.
 */
function noRenegotiation(secureOptions: number | undefined): number {
  return (secureOptions ?? 0) | cryptoConstants.SSL_OP_NO_RENEGOTIATION;
}

/** The tls.connect() options that go into the SecureContext (node:tls createSecureContext()). */
const CONTEXT_OPTIONS = [
  // cert/key/pfx: not in the typed options (the identity gives them), but honoured from untyped callers.
  'cert', 'key', 'pfx',
  'ciphers', 'ecdhCurve', 'sigalgs', 'minVersion', 'maxVersion', 'secureProtocol', 'secureOptions', 'honorCipherOrder',
  'dhparam', 'crl', 'passphrase', 'clientCertEngine', 'privateKeyEngine', 'privateKeyIdentifier', 'sessionIdContext',
  'allowPartialTrustChain',
] as const;
const CLIENT_CONTEXT_CACHE_SIZE = 64;
const clientContexts = new Map<string, tls.SecureContext>();

/**
 * The client's SecureContext, built once per certificate and context options: tls.connect() would otherwise
 * build one per connection, parsing the client's key every time (most of a mutual handshake's cost).
 */
function clientContext(options: Record<string, unknown>, identity: RatsTlsIdentity | undefined): tls.SecureContext {
  const own = identity?.current();
  const contextOptions: Record<string, unknown> = Object.fromEntries(CONTEXT_OPTIONS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
  contextOptions.secureOptions = noRenegotiation(options.secureOptions as number | undefined);
  const key = createHash('sha256')
    .update(JSON.stringify([own?.cert ?? null, own?.key ?? null, contextOptions]))
    .digest('hex');
  let context = clientContexts.get(key);
  if (context === undefined) {
    context = tls.createSecureContext({ ...contextOptions, ...(own ?? {}) });
    if (clientContexts.size >= CLIENT_CONTEXT_CACHE_SIZE) clientContexts.delete(clientContexts.keys().next().value!);
    clientContexts.set(key, context);
  }
  return context;
}

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
