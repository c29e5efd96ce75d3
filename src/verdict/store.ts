/**
 * `verdict store migrate --from A --to B`: moves a verdictd store, offline, between a data directory and a
 * PostgreSQL database (src/verdictd/store/migrate.ts). Talks to the stores, not to verdictd, which must be stopped.
 */
import { migrateStore } from '../verdictd/store/migrate.ts';
import { json, ok, type CommandResult } from './connection.ts';

/** The flags of `store migrate`. */
export interface StoreMigrateOptions {
  from: string;
  to: string;
  masterKeyFile?: string;
  json?: boolean;
}

/** `store migrate`: prints what was moved. */
export async function storeMigrate(options: StoreMigrateOptions): Promise<CommandResult> {
  const s = await migrateStore({ from: options.from, to: options.to, ...(options.masterKeyFile !== undefined ? { masterKeyFile: options.masterKeyFile } : {}) });
  if (options.json) return ok(json(s));
  return ok(
    `moved ${s.from} to ${s.to}: ${s.keys} keys, ${s.resources} resources, ${s.identity ? 'the identity key' : 'no identity key'}, ${s.policies} policies, ` +
      `${s.references} reference-value sets, ${s.simPlatformKeys} trusted sim platform keys, ${s.auditRecords} audit records\n`,
  );
}
