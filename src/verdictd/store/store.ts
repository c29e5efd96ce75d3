/**
 * The one storage interface of verdictd (docs/verdictd.md, "Store"): keys, resources, policies,
 * reference-value sets, verdictd's identity key, the trust configuration and the audit log. The broker and every front end use only
 * this; the embedded implementation (embedded.ts) keeps it in a data directory, and a PostgreSQL one can
 * follow for replicas. Every method is async for that reason.
 *
 * Contract for every implementation:
 * - a method resolves only once its change is durable (a crash after it resolves loses nothing);
 * - keys and resources are secrets: encrypted at rest, bound to their name (a record moved to another name
 *   fails), never written to the audit log or to any message;
 * - a missing name is VERDICTD_ERR_NOT_FOUND, a bad name VERDICTD_ERR_INVALID_ARGUMENT, a record that fails
 *   authentication VERDICTD_ERR_STORE_CORRUPT (src/verdictd/codes.ts).
 */
import type { TeeType } from '../../attestation/claims.ts';
import type { ReferenceSet } from '../policy/reference.ts';

/** What one of verdictd's own keys is for: its RATS-TLS identity, or signing KBS attestation tokens. */
export type IdentityKeyUse = 'tls' | 'kbs-token';

/** How a key came to be. */
export type KeyOrigin = 'generated' | 'imported';

/** What the store says about a key without its value. */
export interface KeyInfo {
  /** A UUIDv4 (lowercase), as the original's CreateKey returned. */
  kid: string;
  /** Length of the key in bytes (generated keys: 32). */
  length: number;
  origin: KeyOrigin;
  /** ISO-8601 UTC. */
  createdAt: string;
}

/** What the store says about a resource without its content. */
export interface ResourceInfo {
  /** `repo/type/tag` (KBS resource path; the EAA `Get Resource` resource_path). */
  path: string;
  size: number;
  updatedAt: string;
}

/** A stored policy: its JSON source text as it was set (policy/policy.ts parses it). */
export interface StoredPolicy {
  name: string;
  text: string;
  updatedAt: string;
}

/**
 * What evidence is verified against, kept in the store so every replica agrees: the trusted `sim` platform
 * keys (PEM SPKI, inclavared's platform keys) and replacements for the built-in Intel/AMD roots (PEM). Intel
 * collateral and SNP VCEKs come from the broker's collateral source, not from here.
 */
export interface TrustConfig {
  simPlatformKeys: string[];
  intelTrustAnchors?: string[];
  amdTrustAnchors?: string[];
}

/** The outcome an audit record records. */
export type AuditDecision = 'allow' | 'deny' | 'error';

/** One failed rule as the audit log keeps it (claim values are measurements and flags, never secrets). */
export interface AuditFailedRule {
  rule: string;
  message: string;
  claims: Record<string, unknown>;
  error?: string;
}

/**
 * One line of the audit log. It never holds a key, a resource's content or evidence bytes: only who asked,
 * for what, the claims digest and the decision.
 */
export interface AuditRecord {
  /** ISO-8601 UTC, from the caller's clock. */
  time: string;
  /** Who: the peer's address, the front end it came through, its TEE once verified. */
  peer: { address?: string; frontEnd?: string; tee?: TeeType | null };
  /** What: `attest`, `release-key`, `release-resource`, or a management action (`key-create`, `policy-set`, ...). */
  action: string;
  kid?: string;
  path?: string;
  name?: string;
  /** SHA-256 of the canonical JSON of the verified claims (canonical-json.ts). */
  claimsDigest?: string;
  /** The policy that decided, and the rules that failed. */
  policy?: string;
  decision: AuditDecision;
  failedRules?: AuditFailedRule[];
  /** For `error` and verification failures: the error code and message. */
  error?: { code: string; message: string };
}

/** Which audit records to read back. */
export interface AuditQuery {
  /** Only the last `limit` records (default: all). */
  limit?: number;
}

/** verdictd's storage: one interface, interchangeable backends. */
export interface Store {
  /** Creates a random 32-byte key under a fresh UUIDv4 kid; resolves once it is durable. */
  createKey(): Promise<KeyInfo>;
  /** Imports `key` (16 to 64 bytes) under `kid` (a UUID) or a fresh UUIDv4; an existing kid is VERDICTD_ERR_ALREADY_EXISTS. */
  importKey(key: Uint8Array, options?: { kid?: string }): Promise<KeyInfo>;
  /** The key's value; VERDICTD_ERR_NOT_FOUND when absent. */
  getKey(kid: string): Promise<Uint8Array>;
  /** Every key's info (no values), sorted by kid. */
  listKeys(): Promise<KeyInfo[]>;
  /** Deletes the key durably; VERDICTD_ERR_NOT_FOUND when absent. */
  deleteKey(kid: string): Promise<void>;

  /** Creates or replaces the resource at `repo/type/tag`. */
  setResource(path: string, data: Uint8Array): Promise<ResourceInfo>;
  getResource(path: string): Promise<Uint8Array>;
  listResources(): Promise<ResourceInfo[]>;
  deleteResource(path: string): Promise<void>;

  /** Stores a policy after validating it (policy/policy.ts parsePolicy); the text is kept as given. */
  setPolicy(name: string, text: string): Promise<StoredPolicy>;
  getPolicy(name: string): Promise<StoredPolicy>;
  listPolicies(): Promise<string[]>;
  deletePolicy(name: string): Promise<void>;

  /** Stores a reference-value set after validating it (policy/reference.ts parseReferenceSet). */
  setReferenceSet(set: ReferenceSet): Promise<ReferenceSet>;
  getReferenceSet(name: string): Promise<ReferenceSet>;
  /** Every set by name: what a policy evaluation reads as `reference`. */
  referenceSets(): Promise<Record<string, ReferenceSet>>;
  deleteReferenceSet(name: string): Promise<void>;

  /**
   * One of verdictd's own private keys (PKCS#8 DER), by use: `tls` (default), the key of its RATS-TLS
   * certificate, which clients pin; `kbs-token`, the key that signs the KBS front end's attestation tokens.
   * Sealed like keys; VERDICTD_ERR_NOT_FOUND until created.
   */
  getIdentityKey(use?: IdentityKeyUse): Promise<Uint8Array>;
  /** Stores an identity key; never replaces one (VERDICTD_ERR_ALREADY_EXISTS): a new key breaks every pin and token. */
  createIdentityKey(pkcs8: Uint8Array, use?: IdentityKeyUse): Promise<void>;

  /** The trust configuration (empty lists until set). */
  getTrust(): Promise<TrustConfig>;
  setTrust(trust: TrustConfig): Promise<void>;

  /** Appends one record durably (fsync) before resolving; VERDICTD_ERR_AUDIT when it cannot. */
  appendAudit(record: AuditRecord): Promise<void>;
  readAudit(query?: AuditQuery): Promise<AuditRecord[]>;

  /** Releases what the store holds open. */
  close(): Promise<void>;
}
