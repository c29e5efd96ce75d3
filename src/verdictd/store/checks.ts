/**
 * The checks every store implementation makes before it writes (so the embedded and the PostgreSQL store
 * accept exactly the same inputs), and the audit query every implementation answers the same way.
 */
import { createPublicKey } from 'node:crypto';
import { verdictdError } from '../codes.ts';
import { isValidName } from '../policy/reference.ts';
import { checkResourcePath } from './names.ts';
import type { AuditQuery, AuditRecord, IdentityKeyUse, TrustConfig } from './store.ts';

/** Generated keys: 32 random bytes (AES-256), as the original's CreateKey. */
export const GENERATED_KEY_BYTES = 32;
const MIN_IMPORT = 16;
const MAX_IMPORT = 64;
/** Largest resource accepted (16 MiB). */
export const MAX_RESOURCE_BYTES = 16 * 1024 * 1024;

/** An imported key: 16 to 64 bytes. */
export function checkImportedKey(key: unknown): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length < MIN_IMPORT || key.length > MAX_IMPORT) {
    throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot import the key: it must be ${MIN_IMPORT} to ${MAX_IMPORT} bytes (got ${key instanceof Uint8Array ? key.length : typeof key})`);
  }
  return key;
}

/** A resource's path and content (bytes, at most {@link MAX_RESOURCE_BYTES}). */
export function checkResource(path: string, data: unknown): string {
  const p = checkResourcePath(path);
  if (!(data instanceof Uint8Array) || data.length > MAX_RESOURCE_BYTES) {
    throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot store resource ${p}: it must be bytes, at most ${MAX_RESOURCE_BYTES} of them`);
  }
  return p;
}

/** A policy or reference-value set name. */
export function checkName(name: unknown, what: string): string {
  if (!isValidName(name)) throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot use the ${what} name ${JSON.stringify(name)}: a name is a letter or digit, then letters, digits, '.', '_' or '-' (at most 64)`);
  return name;
}

/** A trust configuration: known members only, PEM lists, sim platform keys that are public keys. */
export function checkTrust(input: unknown): TrustConfig {
  const bad = (why: string): never => {
    throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot accept the trust configuration: ${why}`);
  };
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return bad('expected an object');
  const obj = input as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (!['simPlatformKeys', 'intelTrustAnchors', 'amdTrustAnchors'].includes(k)) bad(`unknown member "${k}"`);
  const pems = (name: string, v: unknown, check?: (pem: string) => void): string[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((p) => typeof p === 'string' && p.includes('-----BEGIN '))) return bad(`"${name}" must be a list of PEM texts`);
    for (const pem of v as string[]) {
      try {
        check?.(pem);
      } catch (err) {
        bad(`"${name}" holds a PEM that is no public key (${(err as Error).message})`);
      }
    }
    return v as string[];
  };
  const simPlatformKeys = pems('simPlatformKeys', obj.simPlatformKeys ?? [], (pem) => void createPublicKey(pem)) ?? [];
  const intel = pems('intelTrustAnchors', obj.intelTrustAnchors);
  const amd = pems('amdTrustAnchors', obj.amdTrustAnchors);
  return { simPlatformKeys, ...(intel === undefined ? {} : { intelTrustAnchors: intel }), ...(amd === undefined ? {} : { amdTrustAnchors: amd }) };
}

/** An audit query's filters checked: times are ISO-8601 (normalized), the limit a positive integer. */
export function checkAuditQuery(query: AuditQuery): AuditQuery {
  const time = (name: string, v: string | undefined): string | undefined => {
    if (v === undefined) return undefined;
    const t = new Date(v);
    if (Number.isNaN(t.getTime())) throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot read the audit log: ${name} ${JSON.stringify(v)} is not a time (ISO-8601, e.g. 2026-03-01T12:00:00Z)`);
    return t.toISOString();
  };
  if (query.limit !== undefined && !(Number.isInteger(query.limit) && query.limit > 0)) {
    throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot read the audit log: the limit must be a positive integer (got ${String(query.limit)})`);
  }
  if (query.decision !== undefined && !['allow', 'deny', 'error'].includes(query.decision)) {
    throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot read the audit log: decision ${JSON.stringify(query.decision)} is not allow, deny or error`);
  }
  const since = time('since', query.since);
  const until = time('until', query.until);
  return {
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(query.decision !== undefined ? { decision: query.decision } : {}),
    ...(query.kid !== undefined ? { kid: query.kid.toLowerCase() } : {}),
    ...(query.path !== undefined ? { path: query.path } : {}),
    ...(query.limit !== undefined ? { limit: query.limit } : {}),
  };
}

/** True when `record` passes every filter of a checked query (the limit aside). */
export function auditMatches(record: AuditRecord, query: AuditQuery): boolean {
  const t = Date.parse(record.time);
  if (query.since !== undefined && !(t >= Date.parse(query.since))) return false;
  if (query.until !== undefined && !(t < Date.parse(query.until))) return false;
  if (query.decision !== undefined && record.decision !== query.decision) return false;
  if (query.kid !== undefined && record.kid?.toLowerCase() !== query.kid) return false;
  if (query.path !== undefined && record.path !== query.path) return false;
  return true;
}

/**
 * verdictd's own keys: sealed records of kind `identity`, each under its own record name (the name is
 * authenticated, so one key copied over the other fails to open) and, in the embedded store, its own file. The
 * PostgreSQL store uses the same names, so records move between stores unchanged.
 */
export const IDENTITY_KEYS: Readonly<Record<IdentityKeyUse, { file: string; name: string; what: string }>> = {
  tls: { file: 'identity.key', name: 'verdictd', what: "verdictd's identity key" },
  'kbs-token': { file: 'kbs-token.key', name: 'kbs-token', what: "verdictd's KBS token signing key" },
};
