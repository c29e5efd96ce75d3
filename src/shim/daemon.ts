/**
 * The shim daemon: started detached by `start` with the listening socket as fd 3 and the resolved config in
 * $RUNE_SHIM_RECORD; serves the task service over ttrpc until containerd calls Shutdown with no container
 * left (or SIGTERM), then removes its socket and exits.
 */
import { rmSync } from 'node:fs';
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

const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;

/** Runs the daemon until Shutdown. */
export async function runDaemon(flags: ShimFlags, shimScript: string): Promise<void> {
  const shimDir = path.dirname(shimScript);
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
  const log = (msg: string, level: keyof typeof LEVELS = 'info'): void => {
    if (LEVELS[level] >= threshold) process.stderr.write(`${new Date().toISOString()} containerd-shim-rune-v2[${process.pid}] ${level}: ${msg}\n`);
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
  const service = new TaskService({ namespace: flags.namespace, config, ...(configError ? { configError } : {}), shimDir, events, log: (m) => log(m), onShutdown: shutdown });
  serveTtrpc(server, service.handlers(), (m) => log(m, 'warn'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(shimError('SHIM_ERR_UNAVAILABLE', `Cannot serve on the socket handed over by start (fd 3): ${describeError(e)}`, { cause: e })));
    server.listen({ fd: 3 }, () => resolve());
  });
  log(`serving ${socket} for ${flags.namespace}/${flags.id} (rune ${config.runtime}, root ${config.root})`, 'debug');
  process.on('SIGTERM', () => {
    void service.killAll().finally(shutdown);
  });
  process.on('SIGPIPE', () => undefined);
  await finished;
  process.exit(0);
}
