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
import { loadConfig, type ShimConfig } from './config.ts';
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
  const config: ShimConfig = record?.config ?? loadConfig('', shimDir);
  const socket = record?.socket ?? shimSocketPath(flags.address, flags.namespace, flags.id);
  const threshold = flags.debug ? 0 : LEVELS[config.logLevel];
  const log = (msg: string, level: keyof typeof LEVELS = 'info'): void => {
    if (LEVELS[level] >= threshold) process.stderr.write(`${new Date().toISOString()} containerd-shim-rune-v2[${process.pid}] ${level}: ${msg}\n`);
  };
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
  const service = new TaskService({ namespace: flags.namespace, config, shimDir, events, log: (m) => log(m), onShutdown: shutdown });
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
