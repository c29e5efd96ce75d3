/**
 * inclavared's main: `serve` runs the host attestation daemon until SIGTERM/SIGINT; `platform-cert` prints
 * the platform certificate; `cache list|prune` shows and trims rune's digest cache. Errors are one line, `inclavared: <message>`, and the exit status of their class.
 */
import { Command } from 'commander';
import { describeError } from '../errors/errors.ts';
import { runProgram } from './run-program.ts';
import { startDaemon } from '../inclavared/daemon.ts';
import { createDaemonLog } from '../inclavared/log.ts';
import { DEFAULT_DATA_DIR, DEFAULT_ROOT, DEFAULT_TSM_PATH } from '../attestation-socket/paths.ts';
import { loadPlatformIdentity } from '../inclavared/platform-key.ts';
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../attestation-socket/codes.ts';
import { cacheList, cachePrune, parseMaxMb, type CacheListFlags, type CachePruneFlags } from '../inclavared/cache-command.ts';
import { DEFAULT_CACHE_DIR } from '../rune/enclave/digest-cache.ts';
import { DEFAULT_POOL_MEMORY_BYTES, DEFAULT_POOL_SIZES, parseMemory, parsePoolSizes, type PoolStatus } from '../inclavared/pool/manager.ts';
import { poolRequest } from '../attestation-socket/client.ts';

declare const RUNE_VERSION: string | undefined;
const VERSION = typeof RUNE_VERSION === 'string' ? RUNE_VERSION : '0.0.0-dev';

interface ServeFlags {
  root: string;
  dataDir: string;
  tsmPath: string;
  log?: string;
  debug?: boolean;
  exitWhenIdle?: string;
  pool: string;
  poolMemory: string;
}

/**
 * Resolves once the daemon stopped after `idleMs` without a registered container. rune starts inclavared on
 * demand with this: the daemon is then a descendant of the engine's helper that ran rune (conmon, a shim), which
 * adopts it as a subreaper and, for conmon, waits for it before exiting; an idle daemon must not keep it.
 */
function exitWhenIdle(daemon: Awaited<ReturnType<typeof startDaemon>>, idleMs: number): Promise<'idle'> {
  return new Promise((resolvePromise) => {
    let busyAt = Date.now();
    const timer = setInterval(() => {
      if (daemon.containers().length > 0) busyAt = Date.now();
      else if (Date.now() - busyAt >= idleMs) {
        void daemon.closeIfIdle().then((stopped) => {
          if (!stopped) return;
          clearInterval(timer);
          resolvePromise('idle');
        });
      }
    }, Math.min(1000, idleMs));
    // A signal stops the daemon too: the check must not keep the process alive after that.
    timer.unref();
  });
}

/** `inclavared pool status`: the pool's keys and entries, as a table (or JSON). */
async function poolStatus(flags: { root: string; json?: boolean }): Promise<number> {
  const status = (await poolRequest(flags.root, 'GET', '/v1/pool')) as PoolStatus;
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return 0;
  }
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`;
  const lines = [`pool: ${status.enabled ? 'on' : 'off'}, memory ${mib(status.memoryUsedBytes)} of ${mib(status.memoryCapBytes)}`, 'KEY       SIZE  READY  STARTING  SERVED  FAILED'];
  for (const k of status.keys) lines.push(`${k.key.padEnd(8)}  ${String(k.size).padStart(4)}  ${String(k.ready).padStart(5)}  ${String(k.starting).padStart(8)}  ${String(k.served).padStart(6)}  ${String(k.failed).padStart(6)}`);
  if (status.entries.length > 0) {
    lines.push('', 'ENTRY         KEY       STATE     PID      RSS       CREATED');
    for (const e of status.entries) lines.push(`${e.id}  ${e.key.padEnd(8)}  ${e.state.padEnd(8)}  ${String(e.pid).padEnd(7)}  ${(e.rssBytes !== undefined ? mib(e.rssBytes) : '-').padEnd(8)}  ${e.created}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** Serves until SIGTERM or SIGINT, then closes every socket (the registry stays for the next start). */
async function serve(flags: ServeFlags): Promise<number> {
  const log = createDaemonLog({ path: flags.log, debug: flags.debug === true });
  // Handlers first: clients can connect as soon as the control socket is bound, before startDaemon()
  // returns, and a SIGTERM in that window must stop the daemon cleanly, not kill it with its pid file left.
  let signalled: (signal: NodeJS.Signals) => void = () => {};
  const stopRequest = new Promise<NodeJS.Signals>((resolve) => {
    signalled = resolve;
  });
  process.once('SIGTERM', signalled);
  process.once('SIGINT', signalled);
  // Started detached by rune: no terminal to hang up, but an operator's shell may go away.
  process.on('SIGHUP', () => {});
  const idleMs = flags.exitWhenIdle === undefined ? 0 : Number(flags.exitWhenIdle) * 1000;
  if (!(idleMs >= 0) || flags.exitWhenIdle === '') {
    throw inclavaredError(INCLAVARED_ERROR_CODES.BAD_REQUEST, `Invalid --exit-when-idle ${JSON.stringify(flags.exitWhenIdle)}: give a number of seconds (0: never)`);
  }
  const pool = { sizes: parsePoolSizes(flags.pool), memoryCapBytes: parseMemory(flags.poolMemory) };
  const daemon = await startDaemon({ root: flags.root, dataDir: flags.dataDir, tsmPath: flags.tsmPath, log, pool });
  const idle = idleMs > 0 ? exitWhenIdle(daemon, idleMs) : new Promise<never>(() => {});
  const signal = await Promise.race([stopRequest, idle]);
  if (signal === 'idle') {
    log.info(`no container registered for ${idleMs / 1000} s: stopped`);
    return 0;
  }
  log.info(`received ${signal}, stopping`);
  try {
    await daemon.close();
    return 0;
  } catch (err) {
    log.error(`cannot stop cleanly: ${describeError(err)}`);
    return 1;
  }
}

function buildProgram(setResult: (r: Promise<number>) => void): Command {
  const program = new Command('inclavared')
    .description('Host attestation daemon: per-container attestation sockets, sim evidence signed by the platform key, TDX/SNP reports through configfs-tsm.')
    .version(VERSION, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  program
    .command('serve')
    .description('serve the control socket ROOT/control.sock and every registered attestation socket')
    .option('--root <dir>', 'runtime state and sockets', DEFAULT_ROOT)
    .option('--data-dir <dir>', 'where the platform key lives', DEFAULT_DATA_DIR)
    .option('--tsm-path <dir>', 'configfs-tsm report directory (TDX/SNP nodes)', DEFAULT_TSM_PATH)
    .option('--log <file>', 'log file (JSON lines; default stderr)')
    .option('--debug', 'log debug lines')
    .option('--exit-when-idle <seconds>', 'stop after this long without a registered container (rune starts it on demand with 30)')
    .option('--pool <sizes>', 'enclave pool: warm rune workers per key (sim, wasm, native) as KEY=N,..., or off (docs/enclave-pool.md)', Object.entries(DEFAULT_POOL_SIZES).map(([k, n]) => `${k}=${n}`).join(','))
    .option('--pool-memory <size>', 'memory cap of the whole pool: MiB, or with M/G', String(DEFAULT_POOL_MEMORY_BYTES / 1024 / 1024))
    .exitOverride()
    .action((flags: ServeFlags) => {
      setResult(serve(flags));
    });
  program
    .command('pool')
    .description('the enclave pool of a running inclavared')
    .command('status')
    .description('print the pool: per key its size, ready and starting entries, how many it served; then each entry')
    .option('--root <dir>', 'runtime state and sockets', DEFAULT_ROOT)
    .option('--json', 'print the control API\'s answer as JSON')
    .exitOverride()
    .action((flags: { root: string; json?: boolean }) => {
      setResult(poolStatus(flags));
    });
  program
    .command('platform-cert')
    .description('print the PEM certificate of the platform key (created on first use): the trust anchor of sim evidence from this host')
    .option('--data-dir <dir>', 'where the platform key lives', DEFAULT_DATA_DIR)
    .exitOverride()
    .action((flags: { dataDir: string }) => {
      setResult(
        Promise.resolve().then(() => {
          process.stdout.write(loadPlatformIdentity({ dataDir: flags.dataDir }).certPem);
          return 0;
        }),
      );
    });
  addCacheCommand(program, setResult);
  return program;
}

/** `cache list|prune`: rune's digest cache (RUNE_CACHE_DIR when set, as rune uses it). */
function addCacheCommand(program: Command, setResult: (r: Promise<number>) => void): void {
  const cacheDir = process.env.RUNE_CACHE_DIR !== undefined && process.env.RUNE_CACHE_DIR !== '' ? process.env.RUNE_CACHE_DIR : DEFAULT_CACHE_DIR;
  const cache = program.command('cache').description("show or trim rune's digest cache of rootfs file contents").exitOverride();
  cache
    .command('list')
    .description('list the cache files: volume, entries, size, last use, state (ok, damaged, temporary)')
    .option('--cache-dir <dir>', 'the cache directory (default: $RUNE_CACHE_DIR or /var/lib/inclavare/cache)', cacheDir)
    .option('--json', 'print JSON')
    .exitOverride()
    .action((flags: CacheListFlags) => setResult(Promise.resolve().then(() => cacheList(flags))));
  cache
    .command('prune')
    .description('remove damaged files and stale temporary files, then the least recently used volumes beyond the limit')
    .option('--cache-dir <dir>', 'the cache directory (default: $RUNE_CACHE_DIR or /var/lib/inclavare/cache)', cacheDir)
    .option('--max-mb <n>', 'keep at most this many MiB (default 256)', parseMaxMb)
    .option('--all', 'remove everything')
    .exitOverride()
    .action((flags: CachePruneFlags) => setResult(Promise.resolve().then(() => cachePrune(flags))));
}

/** Runs inclavared with `argv` (without node and script); resolves to the exit status. */
export function main(argv: string[]): Promise<number> {
  return runProgram('inclavared', argv, buildProgram);
}

process.exitCode = await main(process.argv.slice(2));
