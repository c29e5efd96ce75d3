/**
 * The KBS attestation token: an EAR (draft-ietf-rats-ear) JWT signed ES256 with the store's `kbs-token` key
 * (identity.ts, sealed like the identity key). One submod, `cpu0`, as Trustee names it, with `ear.status`,
 * the AR4SI trustworthiness vector (draft-ietf-rats-ar4si), the appraisal policy and the verified claims as
 * annotated evidence; the tee-pubkey is bound twice: in the annotated runtime-data and as the RFC 7800 `cnf`
 * key. The token carries the claims so that a bearer of it is judged by the policy in force at release time,
 * exactly as a session is; its `ear.status` is the appraisal at issue time, for the relying party's information.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Claims } from '../../attestation/claims.ts';
import type { BrokerVerdict } from '../broker.ts';
import { verdictdError } from '../codes.ts';
import { isObject } from './evidence.ts';
import { checkTeeKey, type TeeKey } from './jwe.ts';

/** The EAR profile (draft-ietf-rats-ear §3). */
export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';
/** The token's issuer. */
export const KBS_TOKEN_ISSUER = 'verdictd';
/** The one submod. */
export const EAR_SUBMOD = 'cpu0';

/** An EAR status tier (AR4SI §3.3). */
export type EarStatus = 'none' | 'affirming' | 'warning' | 'contraindicated';

/** AR4SI trustworthiness claims this verifier makes (absent: no claim). */
export interface TrustworthinessVector {
  'instance-identity'?: number;
  configuration?: number;
  executables?: number;
  hardware?: number;
  'runtime-opaque'?: number;
}

/** What a token stands for once verified. */
export interface TokenSubject {
  claims: Claims;
  teeKey: TeeKey;
  status: EarStatus;
}

/** The tier of one AR4SI value: 0 and 1 make no claim, 2–31 affirm, 32–95 warn, 96 and up contraindicate. */
export function tierOf(value: number): EarStatus {
  if (value >= 96 || value <= -1) return 'contraindicated';
  if (value >= 32) return 'warning';
  if (value >= 2) return 'affirming';
  return 'none';
}

const RANK: Record<EarStatus, number> = { none: 0, affirming: 1, warning: 2, contraindicated: 3 };

/**
 * The AR4SI vector of verified claims and the policy's verdict (docs/verdictd.md, "KBS" has the table):
 * instance-identity 2 (the evidence verified); hardware 2 for an up-to-date Intel TCB or SNP, 32 for a TCB that
 * needs software hardening or configuration, 96 for an out-of-date or revoked one, no claim for sim;
 * configuration 96 for a debug TEE, else 3; runtime-opaque 2 for a hardware TEE not in debug, 32 in debug, no
 * claim for sim; executables 2 when the policy allows, 33 (unrecognized) when it denies, no claim when it
 * could not be evaluated.
 */
export function trustworthinessVector(claims: Claims, verdict: BrokerVerdict | undefined): TrustworthinessVector {
  const v: TrustworthinessVector = { 'instance-identity': 2, configuration: claims.debug ? 96 : 3 };
  if (claims.tee !== 'sim') {
    const tcb = claims.tcbStatus;
    v.hardware = tcb === null || tcb === 'UpToDate' ? 2 : /^(SWHardeningNeeded|ConfigurationNeeded|ConfigurationAndSWHardeningNeeded)$/.test(tcb) ? 32 : 96;
    v['runtime-opaque'] = claims.debug ? 32 : 2;
  }
  if (verdict !== undefined) v.executables = verdict.allow ? 2 : 33;
  return v;
}

/** `ear.status`: contraindicated when the policy denies, else the worst tier of the vector. */
export function earStatus(vector: TrustworthinessVector, verdict: BrokerVerdict | undefined): EarStatus {
  if (verdict !== undefined && !verdict.allow) return 'contraindicated';
  let worst: EarStatus = 'none';
  for (const value of Object.values(vector) as number[]) {
    const tier = tierOf(value);
    if (RANK[tier] > RANK[worst]) worst = tier;
  }
  return worst;
}

/** Inputs of {@link issueKbsToken}. */
export interface IssueTokenOptions {
  claims: Claims;
  claimsDigest: string;
  /** The policy's verdict at issue time (undefined: it could not be evaluated). */
  verdict: BrokerVerdict | undefined;
  policy: string;
  runtimeData: Record<string, unknown>;
  initData?: unknown;
  teeKey: TeeKey;
  nonce: string;
  now: Date;
  /** Lifetime (s); the token never outlives the claims' validity. */
  ttlSeconds: number;
  /** `kid` header: the pin of the signing key. */
  kid: string;
}

/** Signs the EAR token. */
export async function issueKbsToken(key: KeyObject, o: IssueTokenOptions): Promise<string> {
  const vector = trustworthinessVector(o.claims, o.verdict);
  const iat = Math.floor(o.now.getTime() / 1000);
  const exp = Math.min(iat + o.ttlSeconds, Math.floor(Date.parse(o.claims.validUntil) / 1000));
  const payload: JWTPayload = {
    eat_profile: EAR_PROFILE,
    eat_nonce: o.nonce,
    'ear.verifier-id': { developer: 'https://github.com/inclavare-containers', build: 'verdictd' },
    cnf: { jwk: o.teeKey.jwk },
    submods: {
      [EAR_SUBMOD]: {
        'ear.status': earStatus(vector, o.verdict),
        'ear.trustworthiness-vector': vector,
        'ear.appraisal-policy-id': `policy:${o.policy}`,
        'ear.veraison.annotated-evidence': {
          tee: o.claims.tee,
          claims: o.claims,
          'claims-digest': o.claimsDigest,
          'runtime-data': o.runtimeData,
          ...(o.initData === undefined ? {} : { 'init-data': o.initData }),
          ...(o.verdict !== undefined && !o.verdict.allow ? { 'failed-rules': o.verdict.failed.map((f) => f.rule) } : {}),
        },
      },
    },
  };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: o.kid }).setIssuer(KBS_TOKEN_ISSUER).setIssuedAt(iat).setExpirationTime(exp).setJti(randomUUID()).sign(key);
}

function unauthenticated(message: string, cause?: unknown): Error {
  return verdictdError('VERDICTD_ERR_UNAUTHENTICATED', `Cannot accept the token: ${message}`, cause === undefined ? {} : { cause });
}

/**
 * Verifies a bearer token: ES256 under `publicKey`, our issuer, not expired at `now`, and an EAR of the shape
 * {@link issueKbsToken} makes. Anything else (another signer, expired, malformed) is VERDICTD_ERR_UNAUTHENTICATED.
 */
export async function verifyKbsToken(token: string, publicKey: KeyObject, now: Date): Promise<TokenSubject> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, publicKey, { algorithms: ['ES256'], issuer: KBS_TOKEN_ISSUER, currentDate: now, requiredClaims: ['exp', 'iat'] }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw unauthenticated('it has expired; attest again', err);
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw unauthenticated('it is not signed by this verdictd', err);
    throw unauthenticated(err instanceof Error ? err.message : 'it does not verify', err);
  }
  const submod = isObject(payload.submods) ? payload.submods[EAR_SUBMOD] : undefined;
  const annotated = isObject(submod) ? submod['ear.veraison.annotated-evidence'] : undefined;
  const cnf = payload.cnf;
  if (!isObject(submod) || !isObject(annotated) || !isObject(annotated.claims) || !isObject(cnf) || !isObject(cnf.jwk)) throw unauthenticated('it is no KBS attestation token');
  return { claims: annotated.claims as unknown as Claims, teeKey: checkTeeKey(cnf.jwk), status: submod['ear.status'] as EarStatus };
}
