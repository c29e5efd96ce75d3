/**
 * The one storage interface of verdictd (docs/verdictd.md, "Store"): keys, resources, policies,
 * reference-value sets, verdictd's identity key, the trust configuration and the audit log. The broker and every front end use only
 * this; the embedded implementation (embedded.ts) keeps it in a data directory, the PostgreSQL one
 * (postgres.ts) in a database that several verdictd replicas share. Every method is async for that reason.
 *
 * Contract for every implementation:
 * - a method resolves only once its change is durable (a crash after it resolves loses nothing);
 * - keys and resources are secrets: encrypted at rest, bound to their name (a record moved to another name
 *   fails), never written to the audit log or to any message;
 * - read-modify-write changes (updateTrust, updateReferenceSet) are atomic across every process using the
 *   store: two concurrent updates both take effect, neither is lost;
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

/** Which audit records to read back: every given filter must match. */
export interface AuditQuery {
  /** Records at or after this time (ISO-8601). */
  since?: string;
  /** Records before this time (ISO-8601). */
  until?: string;
  decision?: AuditDecision;
  kid?: string;
  path?: string;
  /** Only the last `limit` matching records (default: all), oldest first. */
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
   * Reads the set `name` (null when absent), and stores what `change` returns, atomically: a concurrent update
   * of the same set waits (a merge from two replicas keeps both values). `change` may throw to abort.
   */
  updateReferenceSet(name: string, change: (current: ReferenceSet | null) => ReferenceSet): Promise<ReferenceSet>;

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
  /**
   * Reads the trust configuration and stores what `change` returns (null: no change), atomically across
   * processes; resolves to whether it changed. `change` may throw to abort.
   */
  updateTrust(change: (current: TrustConfig) => TrustConfig | null): Promise<boolean>;

  /** Appends one record durably (fsync) before resolving; VERDICTD_ERR_AUDIT when it cannot. */
  appendAudit(record: AuditRecord): Promise<void>;
  readAudit(query?: AuditQuery): Promise<AuditRecord[]>;

  /** Releases what the store holds open. */
  close(): Promise<void>;
}

/**
 * Everything a store holds, as `verdict store migrate` moves it: keys, resources and the identity key still
 * sealed (the record texts of seal.ts, valid only under the master key `masterKeyId` names), the rest as is.
 */
export interface StoreSnapshot {
  masterKeyId: string;
  keys: { kid: string; record: string }[];
  resources: { path: string; record: string }[];
  /** verdictd's own keys (sealed records as stored), by use; a use the store has no key for is absent. */
  identities: Partial<Record<IdentityKeyUse, string>>;
  policies: StoredPolicy[];
  references: ReferenceSet[];
  trust: TrustConfig;
  audit: AuditRecord[];
}

/** A store that can be copied whole, offline (store/migrate.ts). */
export interface MigratableStore extends Store {
  /** The identifier of the master key its records are sealed under (seal.ts deriveKeys). */
  readonly masterKeyId: string;
  /** Reads everything; records stay sealed. */
  exportSnapshot(): Promise<StoreSnapshot>;
  /** Writes a snapshot into this store, which must hold nothing yet (VERDICTD_ERR_ALREADY_EXISTS otherwise). */
  importSnapshot(snapshot: StoreSnapshot): Promise<void>;
}
