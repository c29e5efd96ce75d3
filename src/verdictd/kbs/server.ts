/**
 * The KBS front end (docs/verdictd.md, "KBS"): CoCo Trustee's KBS protocol ("RCAR": request, challenge,
 * attestation, response) over HTTP, on the same broker, policies, store and audit log as the EAA front end.
 *
 *   POST /kbs/v0/auth      → session cookie `kbs-session-id`, {"nonce","extra-params"}     (session.ts)
 *   POST /kbs/v0/attest    → {"token": EAR JWT}; the evidence binds SHA-384(RFC 8785 JSON of runtime-data)
 *   GET  /kbs/v0/resource/<repo>/<type>/<tag> (cookie or bearer token) → flattened JWE to the tee-pubkey (jwe.ts)
 *   admin endpoints (admin.ts), with a JWT of the admin key
 *
 * The broker verifies and decides; errors become RFC 7807 answers in one place (toHttpProblem). Bodies are
 * bounded and requests timed out by src/sys/json-http-server.ts.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { closeServer, createJsonServer, DEFAULT_LIMITS, type JsonRequest, type JsonResponse } from '../../sys/json-http-server.ts';
import { describeError, toHttpProblem, type InclavareError } from '../../errors/errors.ts';
import { pinOfSpki } from '../../rats-tls/pin.ts';
import type { Attestation, Broker, Peer } from '../broker.ts';
import { canonicalJson } from '../canonical-json.ts';
import { verdictdError } from '../codes.ts';
import type { ManagedServer } from '../eaa/server.ts';
import { loadIdentityKey } from '../identity.ts';
import type { VerdictdLog } from '../log.ts';
import { createManagementService } from '../management/service.ts';
import type { Store } from '../store/store.ts';
import { checkAdmin, serveAdmin, type KbsAdminKey } from './admin.ts';
import { parseAttestRequest, parseAuthRequest, parseTeeEvidence } from './evidence.ts';
import { checkTeeKey, encryptToTeeKey, type TeeKey } from './jwe.ts';
import { KbsSessions, SESSION_COOKIE, sessionIdOf, type KbsSession, type KbsSessionLimits } from './session.ts';
import { issueKbsToken, verifyKbsToken } from './token.ts';

/** The default KBS listener (Trustee's). */
export const DEFAULT_KBS_LISTEN = '127.0.0.1:8080';
/** Largest body of a protocol request (an attest with SNP certificates as byte arrays fits). */
export const KBS_MAX_BODY_BYTES = 256 * 1024;
/** Largest resource uploaded through the admin endpoint (bigger ones: `verdict resource set`, up to 16 MiB). */
export const KBS_MAX_UPLOAD_BYTES = 1024 * 1024;
const PREFIX = '/kbs/v0/';
const FRONT_END = 'kbs';

/** Options of {@link createKbsServer}. */
export interface KbsServerOptions {
  broker: Broker;
  store: Store;
  log: VerdictdLog;
  host: string;
  port: number;
  /** The policy that decides releases (the daemon's `--policy`): resource-policy sets it, tokens are appraised with it. */
  policy: string;
  /** The admin public key (`--kbs-admin-key`); without it admin endpoints are refused. */
  adminKey?: KbsAdminKey;
  /** The clock (default: the system clock): sessions, tokens, admin JWTs. The broker has its own. */
  now?: () => Date;
  sessions?: KbsSessionLimits;
  /** Token lifetime (s); default 300, never beyond the claims' validity. */
  tokenTtlSeconds?: number;
  /** Time allowed to receive a whole request (ms); default 10 s. */
  requestTimeoutMs?: number;
}

/** The KBS front end's request handler, for tests that drive it without a socket. */
export interface KbsHandler {
  (request: JsonRequest): Promise<JsonResponse>;
  /** The public key tokens are signed with. */
  readonly tokenKey: KeyObject;
}

/** An error as an RFC 7807 answer (src/errors/errors.ts toHttpProblem). */
export function kbsErrorAnswer(err: InclavareError): { status: number; contentType: string; body: string } {
  const problem = toHttpProblem(err);
  return { status: problem.status, contentType: problem.contentType, body: `${JSON.stringify(problem.body)}\n` };
}

/** 64 bytes (hex) the evidence must bind: SHA-384 of the RFC 8785 canonical JSON of runtime-data, zero padded. */
export function kbsReportData(runtimeData: Record<string, unknown>): string {
  const digest = createHash('sha384').update(canonicalJson(runtimeData)).digest();
  return Buffer.concat([digest, Buffer.alloc(64 - digest.length)]).toString('hex');
}

function unauthenticated(message: string): InclavareError {
  return verdictdError('VERDICTD_ERR_UNAUTHENTICATED', message);
}

/** Creates the handler: loads (or creates) the token signing key from the store. */
export async function createKbsHandler(options: KbsServerOptions): Promise<KbsHandler> {
  const { broker, store, log } = options;
  const now = options.now ?? (() => new Date());
  const { key: signingKey, created } = await loadIdentityKey(store, 'kbs-token');
  const tokenKey = createPublicKey(signingKey);
  const kid = pinOfSpki(tokenKey.export({ type: 'spki', format: 'der' }));
  if (created) log.info(`created the KBS token signing key (${kid}), sealed in the store`);
  const sessions = new KbsSessions(now, options.sessions);
  const admin = createManagementService({ store, broker, now, frontEnd: 'kbs-admin' });

  const refuse = async (peer: Peer, err: InclavareError): Promise<never> => {
    await broker.auditRejection(peer, err);
    throw err;
  };

  const auth = (request: JsonRequest): JsonResponse => {
    const { kbsTee, tee } = parseAuthRequest(request.body);
    const session = sessions.create(kbsTee, tee);
    const maxAge = Math.max(0, Math.floor((session.expiresAt - now().getTime()) / 1000));
    return {
      status: 200,
      json: { nonce: session.nonce, 'extra-params': {} },
      headers: { 'set-cookie': `${SESSION_COOKIE}=${session.id}; Path=/kbs/v0; Max-Age=${maxAge}; HttpOnly; SameSite=Strict` },
    };
  };

  const attest = async (request: JsonRequest, peer: Peer): Promise<JsonResponse> => {
    const session = sessions.get(sessionIdOf(request.headers.cookie));
    if (session === undefined) throw unauthenticated(`Cannot attest: no live KBS session (cookie ${SESSION_COOKIE}); call /kbs/v0/auth first`);
    const parsed = parseAttestRequest(request.body);
    if (session.attested !== undefined || session.nonce === '') throw unauthenticated('Cannot attest: this session has used its nonce; call /kbs/v0/auth again');
    const nonce = session.nonce;
    // One attempt per nonce: evidence made for it cannot be tried again, nor other evidence in its place.
    session.nonce = '';
    if (parsed.nonce !== nonce) {
      await refuse(peer, verdictdError('VERDICTD_ERR_EVIDENCE_REJECTED', "Cannot accept the evidence: runtime-data's nonce is not this session's (replayed evidence?)"));
    }
    let teeKey: TeeKey;
    try {
      teeKey = checkTeeKey(parsed.teePubkey);
    } catch (err) {
      return refuse(peer, err as InclavareError);
    }
    const { evidence, evidenceOptions } = parseTeeEvidence(session.tee, parsed.teeEvidence);
    const attestation = await broker.attest({ evidence, tee: session.tee, reportData: kbsReportData(parsed.runtimeData), evidenceOptions, peer });
    const verdict = await broker.decide(attestation).catch((err: unknown) => {
      log.warn(`kbs: ${peer.address}: cannot appraise for the token: ${describeError(err)}`);
      return undefined;
    });
    const token = await issueKbsToken(signingKey, {
      claims: attestation.claims,
      claimsDigest: attestation.claimsDigest,
      verdict,
      policy: options.policy,
      runtimeData: parsed.runtimeData,
      ...(parsed.initData === undefined ? {} : { initData: parsed.initData }),
      teeKey,
      nonce,
      now: now(),
      ttlSeconds: options.tokenTtlSeconds ?? 300,
      kid,
    });
    session.attested = { attestation, teeKey };
    log.info(`kbs: ${peer.address}: verified ${attestation.claims.tee} evidence (claims digest ${attestation.claimsDigest}), token issued`);
    return { status: 200, json: { token } };
  };

  /** Who asks for a resource: the bearer token's claims, else the session's attestation. */
  const attested = async (request: JsonRequest, peer: Peer): Promise<{ attestation: Attestation; teeKey: TeeKey }> => {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const token = /^Bearer ([A-Za-z0-9_.-]{1,65536})$/.exec(authorization)?.[1];
      if (token === undefined) throw unauthenticated('Cannot release: the Authorization header is no `Bearer <token>`');
      const subject = await verifyKbsToken(token, tokenKey, now());
      return { attestation: broker.admit(subject.claims, peer), teeKey: subject.teeKey };
    }
    const session: KbsSession | undefined = sessions.get(sessionIdOf(request.headers.cookie));
    if (session?.attested === undefined) {
      throw unauthenticated(`Cannot release: no attested KBS session (cookie ${SESSION_COOKIE}) and no bearer token; auth and attest first`);
    }
    return { attestation: { ...session.attested.attestation, peer }, teeKey: session.attested.teeKey };
  };

  const resource = async (request: JsonRequest, path: string, peer: Peer): Promise<JsonResponse> => {
    const { attestation, teeKey } = await attested(request, peer);
    const release = await broker.release(attestation, { kind: 'resource', path });
    log.info(`kbs: ${peer.address}: released resource ${path} (claims digest ${attestation.claimsDigest})`);
    return { status: 200, json: await encryptToTeeKey(release.value, teeKey) };
  };

  const handler = async (request: JsonRequest): Promise<JsonResponse> => {
    const { method, path } = request;
    const peer: Peer = { address: request.remote, frontEnd: FRONT_END };
    if (!path.startsWith(PREFIX)) throw verdictdError('VERDICTD_ERR_NOT_FOUND', `Cannot serve ${path.slice(0, 100)}: the KBS API is under ${PREFIX}`);
    const route = path.slice(PREFIX.length);
    if (route === 'auth' && method === 'POST') return auth(request);
    if (route === 'attest' && method === 'POST') return attest(request, peer);
    if (route.startsWith('resource/') && method === 'GET') return resource(request, route.slice('resource/'.length), peer);
    if (/^(resource\/|resource-policy$|attestation-policy$|reference-value(\/|$))/.test(route)) {
      await checkAdmin(options.adminKey, request.headers.authorization, now());
      const answer = await serveAdmin(admin, options.policy, { method, route, body: request.body, caller: { address: request.remote } });
      if (answer !== undefined) return answer;
    }
    throw verdictdError('VERDICTD_ERR_NOT_FOUND', `Cannot serve ${method} ${path.slice(0, 100)}: no such KBS endpoint`);
  };
  return Object.assign(handler, { tokenKey });
}

/** The KBS front end as a server the daemon starts and stops. */
export function createKbsServer(options: KbsServerOptions): ManagedServer {
  let server: ReturnType<typeof createJsonServer> | undefined;
  return {
    name: 'kbs',
    async start(): Promise<AddressInfo> {
      const handler = await createKbsHandler(options);
      const s = (server = createJsonServer(handler, {
        log: { error: (msg) => options.log.error(`kbs: ${msg}`) },
        codes: { badRequest: 'VERDICTD_ERR_MALFORMED_REQUEST', tooLarge: 'VERDICTD_ERR_BODY_TOO_LARGE', internal: 'VERDICTD_ERR_INTERNAL' },
        error: (code, message) => verdictdError(code, message),
        logName: 'the verdictd log',
        limits: { ...DEFAULT_LIMITS, maxBodyBytes: KBS_MAX_BODY_BYTES, requestTimeoutMs: options.requestTimeoutMs ?? 10_000, maxConnections: 256 },
        bodyLimit: (method, path) => (method !== 'GET' && path.startsWith(`${PREFIX}resource/`) ? KBS_MAX_UPLOAD_BYTES : KBS_MAX_BODY_BYTES),
        errorAnswer: kbsErrorAnswer,
      }));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(options.port, options.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      return s.address() as AddressInfo;
    },
    async close(): Promise<void> {
      if (server !== undefined) await closeServer(server);
      server = undefined;
    },
  };
}
