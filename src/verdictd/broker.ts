/**
 * The broker: verify → policy → release or deny (docs/verdictd.md, "Broker"). Every protocol front end (EAA
 * over RATS-TLS, the ocicrypt key provider, KBS) hands it evidence or already verified claims and a target
 * (a key by kid, a resource by path) and answers with what it returns or the InclavareError it throws; none
 * decides on its own. Every release and every denial is written to the store's audit log before the answer
 * (fail closed: no audit record, no release). The store, the clock and the collateral source are injected:
 * with an in-memory store and a fixed clock the broker is a function of its inputs.
 */
import type { Claims, TeeType } from '../attestation/claims.ts';
import { detectTee, verifyEvidence, type PerTeeOptions, type TeeSelector, type VerifyEvidenceOptions } from '../attestation/verify-evidence.ts';
import { describeError, InclavareError, isInclavareError } from '../errors/errors.ts';
import { claimsDigest } from './canonical-json.ts';
import { verdictdError } from './codes.ts';
import { BUILTIN_POLICIES } from './policy/builtin.ts';
import { compilePolicy, describeFailures, evaluatePolicy, type CompiledPolicy, type Verdict } from './policy/policy.ts';
import type { AuditRecord, Store } from './store/store.ts';

/** Who is asking: for the audit log. */
export interface Peer {
  /** `host:port` of the connection, or a unix socket name. */
  address?: string;
  /** `eaa`, `key-provider`, `kbs`, `grpc`, ... */
  frontEnd?: string;
}

/**
 * Where Intel collateral and SNP certificates come from (a directory, a PCCS with a cache: src/collateral/).
 * It returns per-TEE verifyEvidence() options; trust anchors and sim platform keys it returns are ignored
 * (they come from the store's trust configuration only).
 */
export interface CollateralSource {
  optionsFor(tee: TeeType, evidence: Uint8Array, at: Date): Promise<PerTeeOptions>;
  /**
   * The options that hold for any evidence (a collateral directory), for front ends that must have them
   * before they see the evidence: RATS-TLS verifies the peer's certificate inside the handshake.
   */
  anyEvidence?(at: Date): Promise<PerTeeOptions>;
}

/** Options of {@link Broker}. */
export interface BrokerOptions {
  store: Store;
  /** The clock (default: the system clock): the verification time and audit times. */
  now?: () => Date;
  collateral?: CollateralSource;
  /** The policy that decides (default `default`): a stored policy of that name, else the shipped one. */
  policy?: string;
}

/** Evidence to verify. */
export interface AttestRequest {
  evidence: Uint8Array;
  /** The TEE the peer claims (default: detect). */
  tee?: TeeSelector;
  /** The 64 bytes (hex) the evidence must bind: a nonce, the TLS key's digest; a mismatch is a rejection. */
  reportData?: string;
  /** Inputs the peer sent with its evidence (an SNP VCEK and chain, Intel collateral); never trust anchors. */
  evidenceOptions?: PerTeeOptions;
  peer: Peer;
}

/** A verified peer: what release() judges. */
export interface Attestation {
  claims: Claims;
  /** SHA-256 of the canonical JSON of the claims. */
  claimsDigest: string;
  peer: Peer;
}

/** What may be released. */
export type ReleaseTarget = { kind: 'key'; kid: string } | { kind: 'resource'; path: string };

/** The policy's verdict, with the digest of the claims it judged. */
export interface BrokerVerdict extends Verdict {
  claimsDigest: string;
}

/** A release: the secret and the verdict that allowed it. */
export interface Release {
  target: ReleaseTarget;
  value: Uint8Array;
  verdict: BrokerVerdict;
}

const PEER_FORBIDDEN = ['trustAnchors', 'platformKeys'];

/** verify → policy → release, over one store. */
export class Broker {
  #store: Store;
  #now: () => Date;
  #collateral: CollateralSource | undefined;
  #policy: string;
  #compiled = new Map<string, CompiledPolicy>();

  constructor(options: BrokerOptions) {
    this.#store = options.store;
    this.#now = options.now ?? (() => new Date());
    this.#collateral = options.collateral;
    this.#policy = options.policy ?? 'default';
  }

  /**
   * The verifyEvidence() options for `tee` at `at` from the store's trust configuration, the collateral
   * source (without evidence: what it has for any evidence) and what the peer sent: what a RATS-TLS front end
   * passes to its verifier. Trust anchors and sim platform keys come from the store alone.
   */
  async evidenceOptions(at: Date, tee?: TeeType, evidence?: Uint8Array, fromPeer: PerTeeOptions = {}): Promise<VerifyEvidenceOptions> {
    const trust = await this.#store.getTrust();
    const source = this.#collateral;
    const fromSource = source === undefined ? {} : tee !== undefined && evidence !== undefined ? await source.optionsFor(tee, evidence, at) : ((await source.anyEvidence?.(at)) ?? {});
    const merged: Record<string, Record<string, unknown>> = {};
    for (const t of ['sgx', 'tdx', 'snp', 'sim'] as const) {
      const o: Record<string, unknown> = {};
      for (const src of [fromPeer[t], fromSource[t]]) {
        for (const [k, v] of Object.entries((src ?? {}) as Record<string, unknown>)) if (!PEER_FORBIDDEN.includes(k) && v !== undefined) o[k] = v;
      }
      merged[t] = o;
    }
    merged.sim!.platformKeys = trust.simPlatformKeys;
    if (trust.intelTrustAnchors !== undefined) merged.sgx!.trustAnchors = merged.tdx!.trustAnchors = trust.intelTrustAnchors;
    if (trust.amdTrustAnchors !== undefined) merged.snp!.trustAnchors = trust.amdTrustAnchors;
    return { ...(merged as PerTeeOptions), at };
  }

  /**
   * Verifies evidence. A failure is audited (action `attest`, decision `deny`) and thrown as
   * VERDICTD_ERR_EVIDENCE_REJECTED with the attestation error as its cause.
   */
  async attest(request: AttestRequest): Promise<Attestation> {
    const at = this.#now();
    let claims: Claims;
    try {
      const tee = request.tee === undefined || request.tee === 'auto' ? (detectTee(request.evidence) ?? undefined) : request.tee;
      const options = await this.evidenceOptions(at, tee, request.evidence, request.evidenceOptions);
      claims = verifyEvidence(request.evidence, { ...options, tee: request.tee ?? 'auto' });
      if (request.reportData !== undefined && claims.reportData !== request.reportData.toLowerCase()) {
        throw verdictdError('VERDICTD_ERR_EVIDENCE_REJECTED', 'Cannot accept the evidence: it does not bind the expected report data (nonce or key)', {
          details: { expected: request.reportData.toLowerCase(), actual: claims.reportData },
        });
      }
    } catch (err) {
      const rejected = isInclavareError(err, 'VERDICTD_ERR_EVIDENCE_REJECTED')
        ? err
        : verdictdError('VERDICTD_ERR_EVIDENCE_REJECTED', `Cannot accept the evidence: ${describeError(err)}`, { cause: err, details: { code: isInclavareError(err) ? err.code : undefined } });
      await this.#audit({ time: at.toISOString(), peer: { ...request.peer }, action: 'attest', decision: 'deny', error: { code: codeOf(err), message: describeError(err) } });
      throw rejected;
    }
    return { claims, claimsDigest: claimsDigest(claims), peer: request.peer };
  }

  /** Claims a transport already verified (RATS-TLS with {@link evidenceOptions}), as an attestation. */
  admit(claims: Claims, peer: Peer): Attestation {
    return { claims, claimsDigest: claimsDigest(claims), peer };
  }

  /**
   * Audits a peer its transport refused before it could ask for anything (a RATS-TLS certificate whose
   * evidence did not verify): action `attest`, decision `deny`, the error's code and message.
   */
  async auditRejection(peer: Peer, error: InclavareError): Promise<void> {
    await this.#audit({ time: this.#now().toISOString(), peer: { ...peer }, action: 'attest', decision: 'deny', error: { code: error.code, message: error.message } });
  }

  /** The policy's verdict on an attestation, without releasing or auditing anything (`policy test`). */
  async decide(attestation: Attestation, policyName: string = this.#policy): Promise<BrokerVerdict> {
    const [policy, references] = await Promise.all([this.policy(policyName), this.#store.referenceSets()]);
    return { ...evaluatePolicy(attestation.claims, policy, references), claimsDigest: attestation.claimsDigest };
  }

  /** A policy by name: the stored one, else the shipped one of that name; VERDICTD_ERR_NOT_FOUND otherwise. */
  async policy(name: string): Promise<CompiledPolicy> {
    let text: string;
    try {
      text = (await this.#store.getPolicy(name)).text;
    } catch (err) {
      if (!isInclavareError(err, 'VERDICTD_ERR_NOT_FOUND') || !Object.hasOwn(BUILTIN_POLICIES, name)) throw err;
      text = BUILTIN_POLICIES[name as keyof typeof BUILTIN_POLICIES];
    }
    let compiled = this.#compiled.get(text);
    if (compiled === undefined) {
      compiled = compilePolicy(text, name);
      if (this.#compiled.size > 64) this.#compiled.clear();
      this.#compiled.set(text, compiled);
    }
    return compiled;
  }

  /**
   * Judges `attestation` with the policy now and, when it allows, returns the key or resource. Every outcome is
   * audited first: a denial (VERDICTD_ERR_POLICY_DENIED, `details.failed` the failed rules; or
   * VERDICTD_ERR_EVIDENCE_REJECTED when the claims' validity has ended), a missing target or a policy that
   * cannot be loaded (decision `error`), a release (decision `allow`). Nothing is released without its record.
   */
  async release(attestation: Attestation, target: ReleaseTarget): Promise<Release> {
    const at = this.#now();
    const base: AuditRecord = {
      time: at.toISOString(),
      peer: { ...attestation.peer, tee: attestation.claims.tee },
      action: target.kind === 'key' ? 'release-key' : 'release-resource',
      ...(target.kind === 'key' ? { kid: target.kid } : { path: target.path }),
      claimsDigest: attestation.claimsDigest,
      policy: this.#policy,
      decision: 'deny',
    };
    let verdict: BrokerVerdict;
    try {
      if (!(at.getTime() <= Date.parse(attestation.claims.validUntil))) {
        throw verdictdError('VERDICTD_ERR_EVIDENCE_REJECTED', `Cannot release: the attestation was valid until ${attestation.claims.validUntil}; attest again`);
      }
      verdict = await this.decide(attestation);
    } catch (err) {
      await this.#audit({ ...base, decision: isInclavareError(err, 'VERDICTD_ERR_EVIDENCE_REJECTED') ? 'deny' : 'error', error: { code: codeOf(err), message: describeError(err) } });
      throw err;
    }
    if (!verdict.allow) {
      const failedRules = verdict.failed.map((f) => ({ rule: f.rule, message: f.message, claims: f.claims, ...(f.error === undefined ? {} : { error: f.error }) }));
      await this.#audit({ ...base, failedRules });
      throw verdictdError('VERDICTD_ERR_POLICY_DENIED', `Cannot release ${describeTarget(target)}: policy "${verdict.policy}" denies: ${describeFailures(verdict.failed)}`, {
        details: { policy: verdict.policy, claimsDigest: verdict.claimsDigest, failed: verdict.failed },
      });
    }
    let value: Uint8Array;
    try {
      value = target.kind === 'key' ? await this.#store.getKey(target.kid) : await this.#store.getResource(target.path);
    } catch (err) {
      await this.#audit({ ...base, decision: 'error', error: { code: codeOf(err), message: describeError(err) } });
      throw err;
    }
    await this.#audit({ ...base, decision: 'allow' });
    return { target, value, verdict };
  }

  /**
   * Releases the stored key that `match` accepts (e.g. the key whose image key a JWE is encrypted to:
   * image-key.ts), judged and audited as {@link release}. `match` sees each key's value inside verdictd and
   * answers what it made of it (nothing leaves before the policy allows). When no key matches, the policy
   * still judges first (a denied peer learns only the denial, audited without a kid); an allowed peer gets
   * `notFound()`, audited as an error.
   */
  async releaseMatchingKey<T>(attestation: Attestation, match: (value: Uint8Array) => Promise<T | undefined>, notFound: () => Error): Promise<{ release: Release; result: T }> {
    for (const info of await this.#store.listKeys()) {
      const value = await this.#store.getKey(info.kid);
      let result: T | undefined;
      try {
        result = await match(value);
      } finally {
        value.fill(0);
      }
      if (result !== undefined) {
        const release = await this.release(attestation, { kind: 'key', kid: info.kid });
        return { release, result };
      }
    }
    const at = this.#now();
    const base: AuditRecord = { time: at.toISOString(), peer: { ...attestation.peer, tee: attestation.claims.tee }, action: 'release-key', claimsDigest: attestation.claimsDigest, policy: this.#policy, decision: 'deny' };
    const verdict = await this.decide(attestation);
    if (!verdict.allow) {
      const failedRules = verdict.failed.map((f) => ({ rule: f.rule, message: f.message, claims: f.claims, ...(f.error === undefined ? {} : { error: f.error }) }));
      await this.#audit({ ...base, failedRules });
      throw verdictdError('VERDICTD_ERR_POLICY_DENIED', `Cannot release a key: policy "${verdict.policy}" denies: ${describeFailures(verdict.failed)}`, {
        details: { policy: verdict.policy, claimsDigest: verdict.claimsDigest, failed: verdict.failed },
      });
    }
    const error = notFound();
    await this.#audit({ ...base, decision: 'error', error: { code: codeOf(error), message: describeError(error) } });
    throw error;
  }

  /** evidence → claims → verdict → secret in one call (front ends that attest per request, e.g. the key provider). */
  async attestAndRelease(request: AttestRequest, target: ReleaseTarget): Promise<Release> {
    return this.release(await this.attest(request), target);
  }

  async #audit(record: AuditRecord): Promise<void> {
    try {
      await this.#store.appendAudit(record);
    } catch (err) {
      if (isInclavareError(err, 'VERDICTD_ERR_AUDIT')) throw err;
      throw verdictdError('VERDICTD_ERR_AUDIT', `Cannot write the audit record: ${describeError(err)}`, { cause: err });
    }
  }
}

function codeOf(err: unknown): string {
  return err instanceof InclavareError ? err.code : 'INTERNAL';
}

function describeTarget(target: ReleaseTarget): string {
  return target.kind === 'key' ? `key ${target.kid}` : `resource ${target.path}`;
}
