/**
 * The management API's methods over the store and the broker (docs/verdictd.md, "Management API"): keys,
 * resources, policies, reference-value sets, trust, "test a policy", and verdictd's identity (its pin).
 * Transport-free: each method takes the decoded request and who asked, and resolves to the response or throws
 * an InclavareError; server.ts turns both into gRPC answers (errors through toGrpcStatus).
 *
 * Every action that changes something is written to the store's audit log (action `key-create`,
 * `policy-set`, ...; decision `allow`, or `error` with the error's code when it failed), and so is every read
 * of a secret value (`key-get`, `resource-get`), before the value is answered. Audit records name kids, paths
 * and names, never values.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { Claims } from '../../attestation/claims.ts';
import { TEE_TYPES } from '../../attestation/registry.ts';
import type { TeeSelector } from '../../attestation/verify-evidence.ts';
import { describeError, isInclavareError } from '../../errors/errors.ts';
import type { Broker, BrokerVerdict } from '../broker.ts';
import { claimsDigest } from '../canonical-json.ts';
import { verdictdError } from '../codes.ts';
import { imagePublicKeyPem } from '../image-key.ts';
import type { VerdictdIdentity } from '../identity.ts';
import { BUILTIN_POLICIES } from '../policy/builtin.ts';
import { compilePolicy, evaluatePolicy } from '../policy/policy.ts';
import { parseReferenceSet, type ReferenceSet, type ReferenceValue } from '../policy/reference.ts';
import type { AuditDecision, AuditRecord, KeyInfo, ResourceInfo, Store, TrustConfig } from '../store/store.ts';
import type { AuditRecordMessage, KeyInfoMessage, MethodName, RequestOf, ResourceInfoMessage, ResponseOf } from './messages.ts';

/** Who called: for the audit log. */
export interface Caller {
  /** The connection's address (`127.0.0.1:45678`). */
  address: string;
}

/** One method's implementation. */
export type MethodHandler<M extends MethodName> = (request: RequestOf<M>, caller: Caller) => Promise<ResponseOf<M>>;

/** Every method's implementation. */
export type ManagementService = { [M in MethodName]: MethodHandler<M> };

/** What the service works on. */
export interface ManagementServiceOptions {
  store: Store;
  broker: Broker;
  /** verdictd's identity, for GetIdentity (absent: GetIdentity is VERDICTD_ERR_NOT_FOUND). */
  identity?: VerdictdIdentity;
  /** The clock of audit records (default: the system clock). */
  now?: () => Date;
  /** Called after each change of the trust configuration, so that front ends apply it before the call returns. */
  onTrustChange?: () => Promise<void>;
  /** The front end audit records name (default `management`; the KBS admin endpoints: `kbs-admin`). */
  frontEnd?: string;
}

const MAX_CLAIMS_JSON = 256 * 1024;
/** The most audit records one ReadAudit answers (the last ones that match): the answer stays under the message limit. */
export const MAX_AUDIT_RECORDS = 10_000;

function keyInfo(info: KeyInfo): KeyInfoMessage {
  return { uuid: info.kid, length: info.length, origin: info.origin, createdAt: info.createdAt };
}

function resourceInfo(info: ResourceInfo): ResourceInfoMessage {
  return { path: info.path, size: info.size, updatedAt: info.updatedAt };
}

function auditRecordMessage(r: AuditRecord): AuditRecordMessage {
  return {
    time: r.time,
    action: r.action,
    decision: r.decision,
    kid: r.kid ?? '',
    path: r.path ?? '',
    name: r.name ?? '',
    peerAddress: r.peer.address ?? '',
    frontEnd: r.peer.frontEnd ?? '',
    policy: r.policy ?? '',
    errorCode: r.error?.code ?? '',
    json: JSON.stringify(r),
  };
}

/**
 * The set `given` applied to the stored set `current`: `merge` adds each field's values to the stored list
 * (once), `replace-fields` replaces the given fields' lists; the other fields stay.
 */
export function mergeReferenceSet(current: ReferenceSet | null, given: ReferenceSet, mode: 'merge' | 'replace-fields'): ReferenceSet {
  const values: Record<string, ReferenceValue[]> = { ...current?.values };
  for (const [field, list] of Object.entries(given.values)) {
    const known = mode === 'merge' ? (values[field] ?? []) : [];
    values[field] = [...known, ...list.filter((v) => !known.some((k) => JSON.stringify(k) === JSON.stringify(v)))];
  }
  return { name: given.name, values };
}

function invalid(message: string): never {
  throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', message);
}

/** The SHA-256 of a public key's DER SubjectPublicKeyInfo: the sim `platformKeyId` claim. */
export function platformKeyIdOf(pem: string): string {
  return createHash('sha256').update(createPublicKey(pem).export({ type: 'spki', format: 'der' })).digest('hex');
}

function normalizePublicKey(pem: string): string {
  // createPublicKey() would derive the public half of a private key: refuse it, so the mistake is seen.
  if (/PRIVATE KEY/.test(pem)) throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', 'Cannot add the sim platform key: that is a private key; give the platform\'s public key (PEM SubjectPublicKeyInfo) and keep the private key secret');
  try {
    const key = createPublicKey(pem);
    if (key.type !== 'public') throw new Error('not a public key');
    return key.export({ type: 'spki', format: 'pem' }).toString();
  } catch (err) {
    // Never echo the input: a private key pasted by mistake must not reach a log.
    throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', 'Cannot add the sim platform key: it is not a PEM public key (SubjectPublicKeyInfo)', { cause: err instanceof Error ? new Error(err.message.split('\n')[0]) : undefined });
  }
}

function parseClaims(text: string): Claims {
  if (text.length > MAX_CLAIMS_JSON) invalid(`Cannot test the policy: the claims JSON is larger than ${MAX_CLAIMS_JSON} characters`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return invalid(`Cannot test the policy: the claims are not JSON (${(err as Error).message})`);
  }
  // `tee-tools verify --json` prints { verified, claims, ... }: take its claims.
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !('tee' in value) && 'claims' in value) value = (value as { claims: unknown }).claims;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof (value as { tee?: unknown }).tee !== 'string') {
    invalid('Cannot test the policy: the claims must be a JSON object with a "tee" member (a claims record, as `tee-tools verify --json` prints)');
  }
  return value as Claims;
}

function verdictMessage(verdict: BrokerVerdict, claims: Claims): ResponseOf<'PolicyService/TestPolicy'> {
  return {
    allow: verdict.allow,
    policy: verdict.policy,
    claimsDigest: verdict.claimsDigest,
    failed: verdict.failed.map((f) => ({ rule: f.rule, expression: f.expression, message: f.message, reason: f.reason, error: f.error ?? '', claimsJson: JSON.stringify(f.claims) })),
    claimsJson: JSON.stringify(claims),
  };
}

/** The management API's methods over `store` and `broker`. */
export function createManagementService(options: ManagementServiceOptions): ManagementService {
  const { store, broker } = options;
  const now = options.now ?? (() => new Date());
  const FRONT_END = options.frontEnd ?? 'management';
  /** Changes the trust configuration in one atomic step of the store (replicas included), then applies it here. */
  const changeTrust = async (change: (trust: TrustConfig) => TrustConfig | null): Promise<boolean> => {
    const changed = await store.updateTrust(change);
    if (changed) await options.onTrustChange?.();
    return changed;
  };

  const audit = async (caller: Caller, action: string, target: Pick<AuditRecord, 'kid' | 'path' | 'name'>, outcome: { error?: unknown } = {}): Promise<void> => {
    // A bad request's name can be anything the caller sent: keep the line short.
    const clipped = Object.fromEntries(Object.entries(target).map(([k, v]) => [k, typeof v === 'string' && v.length > 256 ? `${v.slice(0, 256)}…` : v]));
    const record: AuditRecord = { time: now().toISOString(), peer: { address: caller.address, frontEnd: FRONT_END }, action, ...clipped, decision: 'allow' };
    if ('error' in outcome) {
      record.decision = 'error';
      record.error = { code: isInclavareError(outcome.error) ? outcome.error.code : 'INTERNAL', message: describeError(outcome.error) };
    }
    try {
      await store.appendAudit(record);
    } catch (err) {
      if (isInclavareError(err, 'VERDICTD_ERR_AUDIT')) throw err;
      throw verdictdError('VERDICTD_ERR_AUDIT', `Cannot write the audit record: ${describeError(err)}`, { cause: err });
    }
  };
  /** Runs a change and audits its outcome; the answer waits for the record. */
  const audited = async <T>(caller: Caller, action: string, target: (result?: T) => Pick<AuditRecord, 'kid' | 'path' | 'name'>, fn: () => Promise<T>): Promise<T> => {
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      await audit(caller, action, target(), { error: err });
      throw err;
    }
    await audit(caller, action, target(result));
    return result;
  };

  return {
    // --- keys ---
    'KeyManagerService/CreateKey': async (_req, caller) => {
      const info = await audited(caller, 'key-create', (i?: KeyInfo) => (i ? { kid: i.kid } : {}), () => store.createKey());
      return { status: 'OK', uuid: info.kid, info: keyInfo(info) };
    },
    'KeyManagerService/GetKey': async (req, caller) => {
      const key = await store.getKey(req.uuid);
      // The value leaves the store: recorded before it is answered.
      await audit(caller, 'key-get', { kid: req.uuid.toLowerCase() });
      return { status: 'OK', key };
    },
    'KeyManagerService/DeleteKey': async (req, caller) => {
      await audited(caller, 'key-delete', () => ({ kid: req.uuid }), () => store.deleteKey(req.uuid));
      return { status: 'OK' };
    },
    'KeyManagerService/ListKeys': async () => ({ keys: (await store.listKeys()).map(keyInfo) }),
    'KeyManagerService/ImportKey': async (req, caller) => {
      const info = await audited(
        caller,
        'key-import',
        (i?: KeyInfo) => (i ? { kid: i.kid } : req.uuid ? { kid: req.uuid } : {}),
        () => store.importKey(req.key, req.uuid === '' ? {} : { kid: req.uuid }),
      );
      return { status: 'OK', uuid: info.kid, info: keyInfo(info) };
    },

    'KeyManagerService/GetImagePublicKey': async (req) => {
      const key = await store.getKey(req.uuid);
      try {
        return { pem: imagePublicKeyPem(key) };
      } finally {
        key.fill(0);
      }
    },

    // --- resources ---
    'ResourceService/SetResource': async (req, caller) => {
      const info = await audited(caller, 'resource-set', () => ({ path: req.path }), () => store.setResource(req.path, req.data));
      return { info: resourceInfo(info) };
    },
    'ResourceService/GetResource': async (req, caller) => {
      const data = await store.getResource(req.path);
      await audit(caller, 'resource-get', { path: req.path });
      return { data };
    },
    'ResourceService/ListResources': async () => ({ resources: (await store.listResources()).map(resourceInfo) }),
    'ResourceService/DeleteResource': async (req, caller) => {
      await audited(caller, 'resource-delete', () => ({ path: req.path }), () => store.deleteResource(req.path));
      return {};
    },

    // --- policies ---
    'PolicyService/SetPolicy': async (req, caller) => {
      const stored = await audited(caller, 'policy-set', () => ({ name: req.name }), () => store.setPolicy(req.name, req.content));
      return { name: stored.name, updatedAt: stored.updatedAt };
    },
    'PolicyService/GetPolicy': async (req) => {
      try {
        const p = await store.getPolicy(req.name);
        return { name: p.name, content: p.text, updatedAt: p.updatedAt, builtin: false };
      } catch (err) {
        if (!isInclavareError(err, 'VERDICTD_ERR_NOT_FOUND') || !Object.hasOwn(BUILTIN_POLICIES, req.name)) throw err;
        return { name: req.name, content: BUILTIN_POLICIES[req.name as keyof typeof BUILTIN_POLICIES], updatedAt: '', builtin: true };
      }
    },
    'PolicyService/ListPolicies': async () => ({ stored: await store.listPolicies(), builtin: Object.keys(BUILTIN_POLICIES).sort() }),
    'PolicyService/DeletePolicy': async (req, caller) => {
      await audited(caller, 'policy-delete', () => ({ name: req.name }), () => store.deletePolicy(req.name));
      return {};
    },
    'PolicyService/TestPolicy': async (req, caller) => {
      const hasEvidence = req.evidence.length > 0;
      const hasClaims = req.claimsJson !== '';
      if (hasEvidence === hasClaims) invalid('Cannot test the policy: give either evidence or claims (exactly one)');
      if (req.policyName !== '' && req.policyContent !== '') invalid('Cannot test the policy: give a policy name or a policy document, not both');
      let attestation;
      if (hasEvidence) {
        if (req.tee !== '' && req.tee !== 'auto' && !(TEE_TYPES as readonly string[]).includes(req.tee)) {
          invalid(`Cannot test the policy: unknown TEE ${JSON.stringify(req.tee)} (expected auto, ${TEE_TYPES.join(', ')})`);
        }
        attestation = await broker.attest({
          evidence: req.evidence,
          ...(req.tee === '' ? {} : { tee: req.tee as TeeSelector }),
          ...(req.reportData === '' ? {} : { reportData: req.reportData }),
          peer: { address: caller.address, frontEnd: FRONT_END },
        });
      } else {
        const claims = parseClaims(req.claimsJson);
        let digest: string;
        try {
          digest = claimsDigest(claims);
        } catch (err) {
          return invalid(`Cannot test the policy: the claims have no canonical JSON form (${(err as Error).message})`);
        }
        attestation = { claims, claimsDigest: digest, peer: { address: caller.address, frontEnd: FRONT_END } };
      }
      let verdict: BrokerVerdict;
      if (req.policyContent !== '') {
        const compiled = compilePolicy(req.policyContent);
        verdict = { ...evaluatePolicy(attestation.claims, compiled, await store.referenceSets()), claimsDigest: attestation.claimsDigest };
      } else {
        verdict = await broker.decide(attestation, req.policyName === '' ? undefined : req.policyName);
      }
      return verdictMessage(verdict, attestation.claims);
    },

    // --- reference-value sets ---
    'ReferenceService/SetReference': async (req, caller) => {
      const set = await audited(
        caller,
        'reference-set',
        () => ({ name: req.name }),
        async () => {
          let value: unknown;
          try {
            value = JSON.parse(req.content);
          } catch (err) {
            throw verdictdError('VERDICTD_ERR_REFERENCE_INVALID', `Cannot accept the reference-value set: it is not JSON (${(err as Error).message})`);
          }
          const given = parseReferenceSet(value, req.name === '' ? undefined : req.name);
          if (req.mode === '') return store.setReferenceSet(given);
          if (req.mode !== 'merge' && req.mode !== 'replace-fields') invalid(`Cannot store the reference-value set: unknown mode ${JSON.stringify(req.mode)} (expected merge or replace-fields, or none)`);
          // Read, merge and write in one step of the store: a merge through another replica is not lost.
          return store.updateReferenceSet(given.name, (current) => mergeReferenceSet(current, given, req.mode as 'merge' | 'replace-fields'));
        },
      );
      return { name: set.name };
    },
    'ReferenceService/GetReference': async (req) => {
      const set = await store.getReferenceSet(req.name);
      return { name: set.name, content: JSON.stringify(set) };
    },
    'ReferenceService/ListReferences': async () => ({ names: Object.keys(await store.referenceSets()).sort() }),
    'ReferenceService/DeleteReference': async (req, caller) => {
      await audited(caller, 'reference-delete', () => ({ name: req.name }), () => store.deleteReferenceSet(req.name));
      return {};
    },

    // --- trust ---
    'TrustService/GetTrust': async () => {
      const trust = await store.getTrust();
      return {
        simPlatformKeys: trust.simPlatformKeys.map((pem) => ({ platformKeyId: platformKeyIdOf(pem), pem })),
        intelTrustAnchors: trust.intelTrustAnchors?.length ?? 0,
        amdTrustAnchors: trust.amdTrustAnchors?.length ?? 0,
      };
    },
    'TrustService/AddSimPlatformKey': async (req, caller) => {
      const pem = normalizePublicKey(req.pem);
      const id = platformKeyIdOf(pem);
      const added = await audited(caller, 'trust-add-sim-key', () => ({ name: id }), () =>
        changeTrust((trust) => (trust.simPlatformKeys.some((k) => platformKeyIdOf(k) === id) ? null : { ...trust, simPlatformKeys: [...trust.simPlatformKeys, pem] })),
      );
      return { platformKeyId: id, added };
    },
    'TrustService/RemoveSimPlatformKey': async (req, caller) => {
      const id = req.platformKeyId.toLowerCase();
      await audited(caller, 'trust-remove-sim-key', () => ({ name: id }), () =>
        changeTrust((trust) => {
          const kept = trust.simPlatformKeys.filter((k) => platformKeyIdOf(k) !== id);
          if (kept.length === trust.simPlatformKeys.length) throw verdictdError('VERDICTD_ERR_NOT_FOUND', `Cannot remove the sim platform key ${JSON.stringify(req.platformKeyId)}: no trusted key has that id`);
          return { ...trust, simPlatformKeys: kept };
        }),
      );
      return {};
    },

    // --- the audit log ---
    'AuditService/ReadAudit': async (req) => {
      if (req.decision !== '' && !['allow', 'deny', 'error'].includes(req.decision)) invalid(`Cannot read the audit log: decision ${JSON.stringify(req.decision)} is not allow, deny or error`);
      const records = await store.readAudit({
        ...(req.since !== '' ? { since: req.since } : {}),
        ...(req.until !== '' ? { until: req.until } : {}),
        ...(req.decision !== '' ? { decision: req.decision as AuditDecision } : {}),
        ...(req.kid !== '' ? { kid: req.kid } : {}),
        ...(req.path !== '' ? { path: req.path } : {}),
        limit: Math.min(req.limit === 0 ? MAX_AUDIT_RECORDS : req.limit, MAX_AUDIT_RECORDS),
      });
      return { records: records.map(auditRecordMessage) };
    },

    // --- verdictd's identity ---
    'IdentityService/GetIdentity': async () => {
      await Promise.resolve();
      const { identity } = options;
      if (identity === undefined) throw verdictdError('VERDICTD_ERR_NOT_FOUND', "Cannot find verdictd's identity: this management server was started without one");
      return { pin: identity.pin, certificate: identity.tls.current().cert };
    },
  };
}
