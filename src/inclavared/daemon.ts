/**
 * The inclavared daemon: the control socket, one attestation socket per registered container, the
 * platform key, and the registry that lets a restarted daemon re-open every socket. One daemon per ROOT
 * (ROOT/inclavared.pid). The sockets' contract: docs/attestation-socket.md.
 */
import type { Server } from 'node:http';
import { lstatSync, readdirSync } from 'node:fs';
import { faultPoint } from '../util/fault.ts';
import { acquirePidLock } from '../sys/pid-lock.ts';
import { rm } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { describeError } from '../errors/errors.ts';
import { attestHandler } from './attest-server.ts';
import { attachRelay } from './relay.ts';
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../attestation-socket/codes.ts';
import { controlHandler } from './control-server.ts';
import { makeDirectory } from '../sys/fs.ts';
import type { ContainerRecord, EvidenceContext } from './evidence.ts';
import { closeServer, createJsonServer, DEFAULT_LIMITS, listenUnix, type ServerLimits } from '../sys/json-http-server.ts';
import { silentLog, type DaemonLog } from './log.ts';
import { checkSocketPath, containerSocketPaths, daemonPaths, DEFAULT_TSM_PATH, validateContainerId, type ContainerSocketPaths, type DaemonPaths } from '../attestation-socket/paths.ts';
import { loadPlatformIdentity, type PlatformIdentity } from './platform-key.ts';
import { loadRegistry, saveRegistry } from './registry.ts';
import type { RegisterRequest } from '../attestation-socket/requests.ts';
import type { TsmFs } from '../attestation-socket/tsm.ts';
import { DEFAULT_POOL_MEMORY_BYTES, PoolManager, type PoolConfig } from './pool/manager.ts';
import { distDir } from '../util/dist-dir.ts';
import { join } from 'node:path';

/** The error codes both sockets answer with for what the HTTP layer itself rejects (docs/attestation-socket.md). */
const SERVER_ERRORS = {
  error: inclavaredError,
  codes: { badRequest: INCLAVARED_ERROR_CODES.BAD_REQUEST, tooLarge: INCLAVARED_ERROR_CODES.TOO_LARGE, internal: INCLAVARED_ERROR_CODES.INTERNAL },
  logName: 'the inclavared log',
} as const;

/** Inputs of startDaemon(). */
export interface DaemonOptions {
  /** Runtime state and sockets (default /run/inclavared in the CLI). */
  root: string;
  /** Where the platform key lives (default /var/lib/inclavared in the CLI). */
  dataDir: string;
  /** configfs-tsm's report root. Default /sys/kernel/config/tsm/report. */
  tsmPath?: string;
  /** configfs-tsm's file operations (tests: a fake configfs). */
  tsmFs?: TsmFs;
  /** Default: no logging. */
  log?: DaemonLog;
  /** The time written into sim evidence. Default: the system clock. */
  clock?: () => Date;
  /** Limits of both sockets. */
  limits?: ServerLimits;
  /** Limit for producing one piece of evidence (ms). */
  evidenceTimeoutMs?: number;
  /**
   * The enclave pool (docs/enclave-pool.md). Default here: off (no sizes), so that programs and tests that
   * embed the daemon start no workers; the `inclavared serve` command defaults to DEFAULT_POOL_SIZES.
   */
  pool?: Partial<PoolConfig> & {
    /** How to start a worker, before its socket path. Default: defaultWorkerCommand(). */
    workerCommand?: string[];
  };
}

/** A running daemon. */
export interface Daemon {
  readonly paths: DaemonPaths;
  readonly platform: PlatformIdentity;
  /** The registered containers. */
  containers(): ContainerRecord[];
  /** The enclave pool. */
  readonly pool: PoolManager;
  /** Stops serving: closes every socket (the registry stays, so the next daemon re-opens them). */
  close(): Promise<void>;
  /**
   * Stops serving when no container is registered, atomically with respect to register (a register that
   * arrives meanwhile is answered INCLAVARED_ERR_UNAVAILABLE, and rune starts a new daemon). Resolves to
   * whether the daemon stopped.
   */
  closeIfIdle(): Promise<boolean>;
}

/**
 * How inclavared starts a pool worker: this node, with V8's eager compilation (`--no-lazy`), running
 * dist/rune-worker.mjs. A worker serves one create; without the flag, every function that create calls for
 * the first time (argument parsing, the config checks, the registration's HTTP client, the derived bundle)
 * is parsed and compiled then, on the container's path. With it, V8 compiles the whole program while the
 * worker starts, off any container's path (figures: docs/benchmarks.md, "Eager compilation in the pool's
 * workers").
 */
export function defaultWorkerCommand(): string[] {
  return [process.execPath, '--no-lazy', join(distDir(), 'rune-worker.mjs')];
}

function alreadyRunning(pidFile: string, pid: number): Error {
  return inclavaredError(
    INCLAVARED_ERROR_CODES.ALREADY_RUNNING,
    `Cannot start inclavared: process ${pid} already serves this root (${pidFile})`,
    { details: { pid } },
  );
}

/** Takes ROOT's pid file; replaces a stale one; throws INCLAVARED_ERR_ALREADY_RUNNING. Returns the release. */
function acquirePidFile(pidFile: string): () => void {
  return acquirePidLock(pidFile, {
    program: 'inclavared',
    mode: 0o644,
    busy: (pid) => alreadyRunning(pidFile, pid),
    failed: (cause) =>
      cause === undefined
        ? inclavaredError(INCLAVARED_ERROR_CODES.STATE, `Cannot take ${pidFile}: it keeps changing`)
        : inclavaredError(INCLAVARED_ERROR_CODES.STATE, `Cannot create ${pidFile}`, { cause }),
  });
}

/** Serializes the mutations of the control API (each one touches sockets, directories and the registry). */
class Queue {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

/** Starts inclavared: takes ROOT, loads the platform key, re-opens registered sockets, serves the control socket. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const root = resolve(options.root);
  const paths = daemonPaths(root);
  const log = options.log ?? silentLog;
  const limits = options.limits ?? DEFAULT_LIMITS;
  checkSocketPath(paths.controlSocket, 'the control socket');
  const dataDir = resolve(options.dataDir);
  if ((dataDir + sep).startsWith(paths.containersDir + sep)) {
    // Containers see ROOT/containers/ID: the platform key must never be where a container can look.
    throw inclavaredError(INCLAVARED_ERROR_CODES.PLATFORM_KEY, `Cannot use ${dataDir} as data directory: it is inside ${paths.containersDir}`);
  }
  try {
    makeDirectory(root, 0o700);
    makeDirectory(paths.containersDir, 0o755);
  } catch (err) {
    throw inclavaredError(INCLAVARED_ERROR_CODES.STATE, `Cannot create ${paths.containersDir}`, { cause: err });
  }
  const releasePidFile = acquirePidFile(paths.pidFile);

  const servers = new Map<string, Server>();
  const records = new Map<string, ContainerRecord>();
  const queue = new Queue();
  let control: Server | undefined;
  const pool = new PoolManager(
    { sizes: { ...(options.pool?.sizes ?? {}) }, memoryCapBytes: options.pool?.memoryCapBytes ?? DEFAULT_POOL_MEMORY_BYTES },
    { root, workerCommand: options.pool?.workerCommand ?? defaultWorkerCommand(), log },
  );
  const closeAll = async (): Promise<void> => {
    await pool.close();
    await Promise.all([...servers.values(), ...(control ? [control] : [])].map((s) => closeServer(s)));
    servers.clear();
  };

  try {
    const platform = loadPlatformIdentity({ dataDir });
    const ctx: EvidenceContext & { timeoutMs?: number } = {
      platformKey: platform.privateKey,
      clock: options.clock ?? (() => new Date()),
      tsmPath: options.tsmPath ?? DEFAULT_TSM_PATH,
      tsmFs: options.tsmFs,
      timeoutMs: options.evidenceTimeoutMs,
    };

    /** Creates (or re-creates) the container's socket; its directory is kept if it exists (rune bind-mounted it). */
    const openSocket = async (record: ContainerRecord): Promise<ContainerSocketPaths> => {
      const socketPaths = containerSocketPaths(root, record.id);
      makeDirectory(socketPaths.socketDir, 0o755);
      if (!lstatSync(socketPaths.socketDir).isDirectory()) {
        throw inclavaredError(INCLAVARED_ERROR_CODES.STATE, `Cannot create ${socketPaths.socketDir}: it is not a directory`);
      }
      // A stale socket from a crashed daemon, or anything a container left in its directory.
      await rm(socketPaths.socket, { recursive: true, force: true });
      const server = createJsonServer(attestHandler(record, ctx), { log, limits, ...SERVER_ERRORS });
      attachRelay(server, record, log);
      await listenUnix(server, socketPaths.socket, 0o666);
      servers.set(record.id, server);
      return socketPaths;
    };

    const registered = loadRegistry(paths.stateFile);
    // A socket directory the registry does not name is a crashed daemon's half-done register or unregister
    // (the socket was opened before the registry was saved, or the registry saved before it was removed):
    // no container was handed it, so it goes.
    const known = new Set(registered.map((r) => r.id));
    for (const entry of readdirSync(paths.containersDir, { withFileTypes: true })) {
      if (known.has(entry.name)) continue;
      await rm(`${paths.containersDir}/${entry.name}`, { recursive: true, force: true });
      log.info(`removed ${entry.name} from ${paths.containersDir}: no registered container has it`);
    }
    for (const record of registered) {
      records.set(record.id, record);
      try {
        await openSocket(record);
        log.info(`re-opened the attestation socket of container ${record.id}`);
      } catch (err) {
        // Kept in the registry: DELETE still works and the next start tries again.
        log.error(`cannot re-open the attestation socket of container ${record.id}: ${describeError(err)}`);
      }
    }

    let stopped = false;
    const refuseWhenStopped = (): void => {
      if (stopped) throw inclavaredError(INCLAVARED_ERROR_CODES.UNAVAILABLE, 'inclavared is stopping; start it again');
    };
    const api = {
      register: (request: RegisterRequest): Promise<ContainerSocketPaths> =>
        queue.run(async () => {
          refuseWhenStopped();
          containerSocketPaths(root, request.id); // id and path length, before anything is created
          if (records.has(request.id)) {
            throw inclavaredError(INCLAVARED_ERROR_CODES.ALREADY_REGISTERED, `Cannot register container ${request.id}: it is already registered`);
          }
          const record: ContainerRecord = {
            id: request.id,
            tee: request.tee,
            ...(request.measurement !== undefined ? { measurement: request.measurement } : {}),
            ...(request.relay !== undefined ? { relay: request.relay } : {}),
          };
          const socketPaths = await openSocket(record);
          faultPoint(process.env.RUNE_FAULT, 'inclavared:register:after-socket');
          records.set(record.id, record);
          try {
            saveRegistry(paths.stateFile, records.values());
            faultPoint(process.env.RUNE_FAULT, 'inclavared:register:after-save');
          } catch (err) {
            records.delete(record.id);
            const server = servers.get(record.id);
            servers.delete(record.id);
            if (server) await closeServer(server);
            await rm(socketPaths.socketDir, { recursive: true, force: true });
            throw err;
          }
          const bound = record.measurement !== undefined ? `measurement ${Buffer.from(record.measurement).toString('hex')}` : 'measurement pending';
          log.info(`registered container ${record.id} (${record.tee}, ${bound}${record.relay !== undefined ? `, relay to ${record.relay}` : ''})`);
          return socketPaths;
        }),
      bindMeasurement: (id: string, measurement: Uint8Array): Promise<void> =>
        queue.run(async () => {
          refuseWhenStopped();
          validateContainerId(id);
          const record = records.get(id);
          if (record === undefined) {
            throw inclavaredError(INCLAVARED_ERROR_CODES.NOT_REGISTERED, `Cannot bind a measurement to container ${id}: it is not registered`);
          }
          const hex = Buffer.from(measurement).toString('hex');
          if (record.measurement !== undefined) {
            if (Buffer.from(record.measurement).equals(Buffer.from(measurement))) return;
            throw inclavaredError(
              INCLAVARED_ERROR_CODES.MEASUREMENT_BOUND,
              `Cannot bind measurement ${hex} to container ${id}: it is bound to ${Buffer.from(record.measurement).toString('hex')}, which never changes`,
            );
          }
          // The record itself: the container's socket server holds it.
          record.measurement = Uint8Array.from(measurement);
          try {
            saveRegistry(paths.stateFile, records.values());
          } catch (err) {
            delete record.measurement;
            throw err;
          }
          log.info(`bound measurement ${hex} to container ${id}`);
        }),
      unregister: (id: string): Promise<void> =>
        queue.run(async () => {
          refuseWhenStopped();
          validateContainerId(id);
          const record = records.get(id);
          if (record === undefined) {
            throw inclavaredError(INCLAVARED_ERROR_CODES.NOT_REGISTERED, `Cannot unregister container ${id}: it is not registered`);
          }
          records.delete(id);
          try {
            saveRegistry(paths.stateFile, records.values());
          } catch (err) {
            records.set(id, record);
            throw err;
          }
          faultPoint(process.env.RUNE_FAULT, 'inclavared:unregister:after-save');
          const server = servers.get(id);
          servers.delete(id);
          if (server) await closeServer(server);
          await rm(containerSocketPaths(root, id).socketDir, { recursive: true, force: true });
          log.info(`unregistered container ${id}`);
        }),
      platformCertPem: (): string => platform.certPem,
      pool,
    };

    // We hold the pid file, so a control socket that exists is a crashed daemon's.
    await rm(paths.controlSocket, { force: true });
    control = createJsonServer(controlHandler(api), { log, limits, ...SERVER_ERRORS });
    await listenUnix(control, paths.controlSocket, 0o600);
    log.info(`serving ${paths.controlSocket} with ${records.size} registered container(s)`);
    pool.start();

    let closed: Promise<void> | undefined;
    const stop = async (): Promise<void> => {
      stopped = true;
      await closeAll();
      releasePidFile();
      log.info('stopped');
    };
    return {
      paths,
      platform,
      containers: () => [...records.values()],
      pool,
      close: () => (closed ??= queue.run(stop)),
      closeIfIdle: () =>
        queue.run(async () => {
          if (stopped) return true;
          if (records.size > 0) return false;
          closed ??= stop();
          await closed;
          return true;
        }),
    };
  } catch (err) {
    await closeAll();
    releasePidFile();
    throw err;
  }
}
