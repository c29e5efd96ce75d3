/**
 * `verdict store migrate --from A --to B` (docs/verdictd.md, "Moving a store"): copies everything a store holds
 * (keys, resources, the identity key, policies, reference-value sets, trust, the audit log) into a new, empty
 * store, embedded → PostgreSQL or back. Offline: it opens both stores itself and refuses while a verdictd
 * uses either (the data directory's lock; verdictd's connections to the database). Keys, resources and the
 * identity key move still sealed: both stores use the same master key (the target is created with it, and a
 * target that has another is refused), so no secret is decrypted to move it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { makeDirectory, writeFileExclusive } from '../../sys/fs.ts';
import { verdictdError } from '../codes.ts';
import { openEmbeddedStore } from './embedded.ts';
import { lockDataDir } from './lock.ts';
import { masterKeyFileText, readMasterKeyFile } from './master-key.ts';
import { APPLICATION_NAME, isPostgresUrl, openPostgresStore, redactUrl } from './postgres.ts';
import type { IdentityKeyUse, MigratableStore } from './store.ts';

/** Inputs of {@link migrateStore}. */
export interface MigrateOptions {
  /** An embedded store's data directory, or a `postgres://` URL. */
  from: string;
  to: string;
  /** The master key file (default: `<from>/master.key` for an embedded source; required for a PostgreSQL one). */
  masterKeyFile?: string;
}

/** What was moved. */
export interface MigrateSummary {
  from: string;
  to: string;
  keys: number;
  resources: number;
  identity: boolean;
  /** Whether the KBS token signing key moved. */
  kbsTokenKey: boolean;
  policies: number;
  references: number;
  simPlatformKeys: number;
  auditRecords: number;
}

/** Refuses while a verdictd is connected to the database at `url` (its connections say application_name verdictd). */
async function refuseIfServed(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'verdict-store-migrate' });
  try {
    await client.connect();
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1', [APPLICATION_NAME]);
    if (rows[0]!.n > 0) {
      throw verdictdError('VERDICTD_ERR_ALREADY_RUNNING', `Cannot migrate ${redactUrl(url)}: ${rows[0]!.n} verdictd connections are open to it; stop every verdictd replica first (the migration runs offline)`);
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'VERDICTD_ERR_ALREADY_RUNNING') throw err;
    throw verdictdError('VERDICTD_ERR_STORE_IO', `Cannot reach ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Copies the store `from` into the new store `to`; see the file comment. */
export async function migrateStore(options: MigrateOptions): Promise<MigrateSummary> {
  const { from, to } = options;
  if (from === to) throw verdictdError('VERDICTD_ERR_USAGE', 'Cannot migrate a store onto itself: --from and --to are the same');
  const masterKeyFile = options.masterKeyFile ?? (isPostgresUrl(from) ? undefined : join(from, 'master.key'));
  if (masterKeyFile === undefined) throw verdictdError('VERDICTD_ERR_USAGE', 'Cannot migrate from PostgreSQL without --master-key-file: the master key the database is sealed under');
  const masterKey = readMasterKeyFile(masterKeyFile);
  const releases: (() => void)[] = [];
  const opened: MigratableStore[] = [];
  try {
    if (isPostgresUrl(from)) await refuseIfServed(from);
    else if (!existsSync(join(from, 'store.json'))) throw verdictdError('VERDICTD_ERR_STORE_NOT_INITIALIZED', `Cannot migrate ${from}: it holds no verdictd store (no store.json)`);
    else releases.push(lockDataDir(from, `migrate ${from} (a running verdictd uses it: stop it first)`));
    if (isPostgresUrl(to)) await refuseIfServed(to);
    else {
      makeDirectory(to, 0o700);
      releases.push(lockDataDir(to, `migrate into ${to} (a running verdictd uses it)`));
      // The embedded target keeps its own copy of the one master key, where verdictd looks by default.
      if (!existsSync(join(to, 'master.key'))) writeFileExclusive(join(to, 'master.key'), masterKeyFileText(masterKey), { mode: 0o600 });
    }
    const source = isPostgresUrl(from) ? await openPostgresStore(from, { masterKeyFile }) : await openEmbeddedStore(from, { masterKeyFile });
    opened.push(source);
    const target = isPostgresUrl(to) ? await openPostgresStore(to, { masterKeyFile, init: true }) : await openEmbeddedStore(to, { init: true });
    opened.push(target);
    const snapshot = await source.exportSnapshot();
    await target.importSnapshot(snapshot);
    // Every sealed record must open in its new home (it does unless a byte changed on the way).
    for (const { kid } of snapshot.keys) await target.getKey(kid);
    for (const { path } of snapshot.resources) await target.getResource(path);
    for (const use of Object.keys(snapshot.identities) as IdentityKeyUse[]) await target.getIdentityKey(use);
    return {
      from: isPostgresUrl(from) ? redactUrl(from) : from,
      to: isPostgresUrl(to) ? redactUrl(to) : to,
      keys: snapshot.keys.length,
      resources: snapshot.resources.length,
      identity: snapshot.identities.tls !== undefined,
      kbsTokenKey: snapshot.identities['kbs-token'] !== undefined,
      policies: snapshot.policies.length,
      references: snapshot.references.length,
      simPlatformKeys: snapshot.trust.simPlatformKeys.length,
      auditRecords: snapshot.audit.length,
    };
  } finally {
    for (const s of opened) await s.close().catch(() => undefined);
    for (const release of releases.reverse()) release();
  }
}
