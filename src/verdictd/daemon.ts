/**
 * The verdictd daemon (docs/verdictd.md, "The daemon"): one process per data directory (a lock file), the
 * embedded store, one broker, and the servers it starts and stops: the EAA front end over RATS-TLS today; the
 * management API and other front ends join the same list ({@link DaemonOptions.servers}).
 */
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
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
import { openEmbeddedStore, type EmbeddedStore } from './store/embedded.ts';

/** What the servers of the daemon share: given to {@link DaemonOptions.servers}. */
export interface DaemonContext {
  store: EmbeddedStore;
  broker: Broker;
  log: VerdictdLog;
  /** The EAA front end (e.g. to apply a trust change at once: `eaa.refreshTrust()`). */
  eaa: EaaServer;
}

/** Inputs of {@link startVerdictd}. */
export interface DaemonOptions {
  dataDir: string;
  /** Create the store (and its master key) if the data directory has none. */
  init?: boolean;
  /** Where the master key file is (default `<dataDir>/master.key`). */
  masterKeyFile?: string;
  /** The EAA listener. */
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
  readonly store: EmbeddedStore;
  readonly broker: Broker;
  /** Where each server listens, by name (`eaa`, ...). */
  readonly addresses: ReadonlyMap<string, AddressInfo>;
  /** Stops every server (last started first), closes the store, releases the lock. */
  close(): Promise<void>;
}

const LOCK_FILE = 'verdictd.pid';

/** True when `pid` is a live verdictd (its command line names verdictd) or this very process. */
function isLiveVerdictd(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // A lock left by a crash may name a pid the kernel has since given to another program.
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('verdictd');
  } catch {
    return true;
  }
}

/**
 * Takes `<dataDir>/verdictd.pid` (O_EXCL; a lock left by a dead process is replaced): the embedded store
 * assumes one writer. Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // gone already
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw verdictdError('VERDICTD_ERR_STORE_IO', `Cannot lock the data directory: cannot create ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    let content = '';
    try {
      content = readFileSync(file, 'utf8').trim();
    } catch {
      continue;
    }
    if (/^\d+$/.test(content) && isLiveVerdictd(Number(content))) {
      throw verdictdError('VERDICTD_ERR_ALREADY_RUNNING', `Cannot start verdictd: process ${content} already owns ${dataDir} (${file}); one verdictd per data directory`, {
        details: { pid: Number(content) },
      });
    }
    if (!/^\d+$/.test(content) && attempt < 10) {
      // Another starter created it and has not written its pid yet.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      continue;
    }
    try {
      unlinkSync(file);
    } catch {
      // removed meanwhile
    }
  }
  throw verdictdError('VERDICTD_ERR_ALREADY_RUNNING', `Cannot start verdictd: cannot take ${file}`);
}

/** Opens the store, takes the lock and starts every server; a failure undoes what was started. */
export async function startVerdictd(options: DaemonOptions): Promise<Verdictd> {
  const log = options.log ?? silentVerdictdLog;
  // Without --init a missing directory is reported by the store (VERDICTD_ERR_STORE_NOT_INITIALIZED).
  if (options.init === true) makeDirectory(options.dataDir, 0o700);
  const unlock = existsSync(options.dataDir) ? lockDataDir(options.dataDir) : () => undefined;
  const started: ManagedServer[] = [];
  let store: EmbeddedStore | undefined;
  try {
    store = await openEmbeddedStore(options.dataDir, {
      ...(options.init === true ? { init: true } : {}),
      ...(options.masterKeyFile !== undefined ? { masterKeyFile: options.masterKeyFile } : {}),
    });
    const broker = new Broker({ store, ...(options.policy ? { policy: options.policy } : {}), ...(options.collateral ? { collateral: options.collateral } : {}) });
    // The policy must load now, not at the first request.
    await broker.policy(options.policy ?? 'default');
    const eaa = createEaaServer({ broker, log, ...options.eaa });
    const servers: ManagedServer[] = [eaa, ...(options.servers?.({ store, broker, log, eaa }) ?? [])];
    const addresses = new Map<string, AddressInfo>();
    for (const server of servers) {
      addresses.set(server.name, await server.start());
      started.push(server);
    }
    const opened = store;
    return {
      store: opened,
      broker,
      addresses,
      async close() {
        for (const server of [...started].reverse()) {
          await server.close().catch((err: unknown) => log.error(`cannot stop ${server.name}: ${describeError(err)}`));
        }
        await opened.close();
        unlock();
      },
    };
  } catch (err) {
    for (const server of started.reverse()) await server.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    unlock();
    throw err;
  }
}
