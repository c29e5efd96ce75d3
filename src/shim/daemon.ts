/**
 * The shim daemon: started detached by `start` with the listening socket as fd 3 and the resolved config in
 * $RUNE_SHIM_RECORD (or the options in $RUNE_SHIM_OPTIONS), or a spare daemon handed the shim by the
 * launcher's `start`, which listens on the socket's path itself (src/shim/spare.ts); serves the task service
 * over ttrpc until containerd calls Shutdown with no container left (or SIGTERM), then removes its socket
 * and exits. With $RUNE_SHIM_SPARE (the launcher names it) and the config's `spare`, it starts the next
 * spare once its first container started.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { describeError } from '../errors/errors.ts';
import { shimError } from './codes.ts';
import { defaultConfig, loadConfig, type ShimConfig } from './config.ts';
import { decodeRuntimeOptions } from './options.ts';
import { EventPublisher } from './events.ts';
import { shimSocketPath, type BundleRecord, type ShimFlags } from './manager.ts';
import { TaskService } from './task-service.ts';
import { serveTtrpc } from './ttrpc/server.ts';
import { isSparePath, startSpare } from './spare.ts';

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;

/** How the daemon gets its socket and where its log goes. */
export interface DaemonOptions {
  /** fd 3 (from the launcher or the Node.js start), or the socket's path to listen on (a spare). */
  listen: { fd: number } | { path: string };
  /** Where log lines go (default: stderr). */
  write?: (text: string) => void;
  /** Called once the socket listens. */
  onServing?: () => void;
}

/** How long after serving the daemon starts a spare if no container started meanwhile. */
const SPARE_DELAY_MS = 1000;

function identity(file: string): string {
  try {
    const st = statSync(file);
    return `${st.dev}:${st.ino}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}

/** Runs the daemon until Shutdown. */
export async function runDaemon(flags: ShimFlags, shimScript: string, opts: DaemonOptions = { listen: { fd: 3 } }): Promise<void> {
  const shimDir = path.dirname(shimScript);
  const scriptIdentity = identity(shimScript);
  const sparePath = process.env.RUNE_SHIM_SPARE;
  delete process.env.RUNE_SHIM_SPARE;
  let record: BundleRecord | undefined;
  try {
    record = process.env.RUNE_SHIM_RECORD ? (JSON.parse(process.env.RUNE_SHIM_RECORD) as BundleRecord) : undefined;
  } catch {
    record = undefined;
  }
  // From the Node.js start: the resolved config. From the launcher's start: the options (hex); a config that
  // does not load is reported by every Create (start could not, it does not read TOML).
  let config: ShimConfig = defaultConfig(shimDir);
  let configError: Error | undefined;
  if (record) config = record.config;
  else {
    try {
      config = loadConfig(decodeRuntimeOptions(Buffer.from(process.env.RUNE_SHIM_OPTIONS ?? '', 'hex')).configPath, shimDir);
    } catch (e) {
      configError = e as Error;
    }
  }
  delete process.env.RUNE_SHIM_OPTIONS;
  delete process.env.RUNE_SHIM_RECORD;
  const socket = process.env.RUNE_SHIM_SOCKET ?? record?.socket ?? shimSocketPath(flags.address, flags.namespace, flags.id);
  delete process.env.RUNE_SHIM_SOCKET;
  const threshold = flags.debug ? 0 : LEVELS[config.logLevel];
  const write = opts.write ?? ((text: string): void => void process.stderr.write(text));
  const log = (msg: string, level: keyof typeof LEVELS = 'info'): void => {
    if (LEVELS[level] >= threshold) write(`${new Date().toISOString()} containerd-shim-rune-v2[${process.pid}] ${level}: ${msg}\n`);
  };
  if (configError) log(describeError(configError), 'error');
  for (const key of config.ignored) log(`config ${config.source}: ${key} is ignored (no such part in this shim)`, 'warn');
  process.stderr.on('error', () => undefined);

  const events = new EventPublisher({
    namespace: flags.namespace,
    ttrpcAddress: process.env.TTRPC_ADDRESS ?? '',
    address: flags.address,
    publishBinary: flags.publishBinary,
    log: (m) => log(m, 'warn'),
  });
  const server = createServer();
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const shutdown = (): void => {
    log('shutting down', 'debug');
    server.close();
    rmSync(socket, { force: true });
    // Events still queued get a moment; then the shim exits whatever containerd does with them.
    void Promise.race([events.flush(), new Promise((r) => setTimeout(r, 2000))]).then(() => {
      log('events flushed', 'debug');
      events.close();
      done();
    });
  };
  // The next spare: once the first container started (or a moment after serving), niced, if the config
  // allows it, the launcher named one, containerd still runs and the .mjs is the one this daemon runs.
  let spareTimer: NodeJS.Timeout | undefined = undefined;
  let spareStarted = false;
  const spawnSpare = (): void => {
    if (spareStarted) return;
    spareStarted = true;
    if (spareTimer) clearTimeout(spareTimer);
    if (!config.spare || configError || !isSparePath(sparePath) || !existsSync(flags.address) || identity(shimScript) !== scriptIdentity) return;
    const pid = startSpare(shimScript, flags.address, sparePath);
    log(`started spare daemon ${pid ?? '?'} on ${sparePath}`, 'debug');
  };
  const afterStart = (): void => {
    if (!spareStarted) setImmediate(spawnSpare);
  };
  const service = new TaskService({ namespace: flags.namespace, config, ...(configError ? { configError } : {}), shimDir, events, log: (m) => log(m), onShutdown: shutdown, afterStart });
  serveTtrpc(server, service.handlers(), (m) => log(m, 'warn'));
  const where = 'fd' in opts.listen ? `the socket handed over by start (fd ${opts.listen.fd})` : opts.listen.path;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(shimError('SHIM_ERR_UNAVAILABLE', `Cannot serve on ${where}: ${describeError(e)}`, { cause: e })));
    server.listen('fd' in opts.listen ? { fd: opts.listen.fd } : { path: opts.listen.path, backlog: 128 }, () => resolve());
  });
  opts.onServing?.();
  spareTimer = setTimeout(spawnSpare, SPARE_DELAY_MS);
  spareTimer.unref();
  log(`serving ${socket} for ${flags.namespace}/${flags.id} (rune ${config.runtime}, root ${config.root})`, 'debug');
  process.on('SIGTERM', () => {
    void service.killAll().finally(shutdown);
  });
  process.on('SIGPIPE', () => undefined);
  await finished;
  process.exit(0);
}
