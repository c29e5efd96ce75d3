/**
 * The verdictd daemon (docs/verdictd.md, "The daemon"): one process per data directory (a lock file), the
 * store (embedded in the data directory, or a PostgreSQL database that replicas on other data directories
 * share), one broker, verdictd's identity (identity.ts), and the servers it starts and stops: the EAA front end over RATS-TLS today; the
 * management API and other front ends join the same list ({@link DaemonOptions.servers}).
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describeError } from '../errors/errors.ts';
import type { Attester } from '../rats-tls/attesters/attester.ts';
import type { ExpectedClaims } from '../rats-tls/options.ts';
import { makeDirectory } from '../sys/fs.ts';
import { Broker, type CollateralSource } from './broker.ts';
import { verdictdError } from './codes.ts';
import { silentVerdictdLog, type VerdictdLog } from './log.ts';
import { createEaaServer, type EaaServer, type ManagedServer } from './eaa/server.ts';
import { startVerdictdIdentity, type VerdictdIdentity } from './identity.ts';
import { openEmbeddedStore } from './store/embedded.ts';
import { lockDataDir } from './store/lock.ts';
import type { Store } from './store/store.ts';

/** What the servers of the daemon share: given to {@link DaemonOptions.servers}. */
export interface DaemonContext {
  store: Store;
  broker: Broker;
  log: VerdictdLog;
  /** The EAA front end (e.g. to apply a trust change at once: `eaa.refreshTrust()`). */
  eaa: EaaServer;
  /** verdictd's identity: the certificate the EAA front end presents and the pin of its key. */
  identity: VerdictdIdentity;
}

/** Inputs of {@link startVerdictd}. */
export interface DaemonOptions {
  dataDir: string;
  /**
   * Where the store is: absent or `embedded`, the data directory; a `postgres://` URL, that database (the data
   * directory then holds the master key file unless `masterKeyFile` says otherwise, the admin token and the lock).
   */
  store?: string;
  /** Create the store (and its master key) if the data directory (or the database) has none. */
  init?: boolean;
  /** Where the master key file is (default `<dataDir>/master.key`). */
  masterKeyFile?: string;
  /** The EAA listener; `attester` makes its certificate under the store's identity key. */
  eaa: { host: string; port: number; attester: Attester; expected?: ExpectedClaims; frameTimeoutMs?: number };
  /** The policy that decides releases (default `default`). */
  policy?: string;
  collateral?: CollateralSource;
  log?: VerdictdLog;
  /** More servers, started after the EAA front end and stopped before it (the management API). */
  servers?: (ctx: DaemonContext) => ManagedServer[];
}

/** A running verdictd. */
export interface Verdictd {
  readonly store: Store;
  readonly broker: Broker;
  /** verdictd's identity (the pin clients check). */
  readonly identity: VerdictdIdentity;
  /** Where each server listens, by name (`eaa`, ...). */
  readonly addresses: ReadonlyMap<string, AddressInfo>;
  /** Stops every server (last started first), closes the store, releases the lock. */
  close(): Promise<void>;
}

/** Opens the store `options.store` names (PostgreSQL's code is loaded only when it is used). */
async function openStore(options: DaemonOptions): Promise<Store> {
  const init = options.init === true ? { init: true } : {};
  if (options.store !== undefined && options.store !== 'embedded') {
    const { isPostgresUrl, openPostgresStore } = await import('./store/postgres.ts');
    if (!isPostgresUrl(options.store)) {
      throw verdictdError('VERDICTD_ERR_USAGE', `Cannot use the store ${JSON.stringify(options.store)}: give embedded (the data directory) or a postgres://USER@HOST:PORT/DATABASE URL`);
    }
    return openPostgresStore(options.store, { ...init, masterKeyFile: options.masterKeyFile ?? join(options.dataDir, 'master.key') });
  }
  return openEmbeddedStore(options.dataDir, { ...init, ...(options.masterKeyFile !== undefined ? { masterKeyFile: options.masterKeyFile } : {}) });
}

export { lockDataDir } from './store/lock.ts';

/** Opens the store, takes the lock and starts every server; a failure undoes what was started. */
export async function startVerdictd(options: DaemonOptions): Promise<Verdictd> {
  const log = options.log ?? silentVerdictdLog;
  // Without --init a missing directory is reported by the store (VERDICTD_ERR_STORE_NOT_INITIALIZED).
  if (options.init === true) makeDirectory(options.dataDir, 0o700);
  const unlock = existsSync(options.dataDir) ? lockDataDir(options.dataDir) : () => undefined;
  const started: ManagedServer[] = [];
  let store: Store | undefined;
  let identity: VerdictdIdentity | undefined;
  try {
    store = await openStore(options);
    const broker = new Broker({ store, ...(options.policy ? { policy: options.policy } : {}), ...(options.collateral ? { collateral: options.collateral } : {}) });
    // The policy must load now, not at the first request.
    await broker.policy(options.policy ?? 'default');
    const { attester, ...eaaOptions } = options.eaa;
    const id = (identity = await startVerdictdIdentity(store, attester));
    if (id.created) log.info(`created verdictd's identity key (${id.pin}), sealed in the store`);
    const eaa = createEaaServer({ broker, log, identity: id.tls, ...eaaOptions });
    const servers: ManagedServer[] = [eaa, ...(options.servers?.({ store, broker, log, eaa, identity: id }) ?? [])];
    const addresses = new Map<string, AddressInfo>();
    for (const server of servers) {
      addresses.set(server.name, await server.start());
      started.push(server);
    }
    const opened = store;
    return {
      store: opened,
      broker,
      identity: id,
      addresses,
      async close() {
        for (const server of [...started].reverse()) {
          await server.close().catch((err: unknown) => log.error(`cannot stop ${server.name}: ${describeError(err)}`));
        }
        id.tls.close();
        await opened.close();
        unlock();
      },
    };
  } catch (err) {
    for (const server of started.reverse()) await server.close().catch(() => undefined);
    identity?.tls.close();
    await store?.close().catch(() => undefined);
    unlock();
    throw err;
  }
}
