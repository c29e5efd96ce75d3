/**
 * inclavared's main: `serve` runs the host attestation daemon until SIGTERM/SIGINT; `platform-cert` prints
 * the platform certificate. Errors are one line, `inclavared: <message>`, and the exit status of their class.
 */
import { Command } from 'commander';
import { describeError } from '../errors/errors.ts';
import { runProgram } from './run-program.ts';
import { startDaemon } from '../inclavared/daemon.ts';
import { createDaemonLog } from '../inclavared/log.ts';
import { DEFAULT_DATA_DIR, DEFAULT_ROOT, DEFAULT_TSM_PATH } from '../attestation-socket/paths.ts';
import { loadPlatformIdentity } from '../inclavared/platform-key.ts';
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
  pool: string;
  poolMemory: string;
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
  const pool = { sizes: parsePoolSizes(flags.pool), memoryCapBytes: parseMemory(flags.poolMemory) };
  const daemon = await startDaemon({ root: flags.root, dataDir: flags.dataDir, tsmPath: flags.tsmPath, log, pool });
  const signal = await stopRequest;
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
  return program;
}

/** Runs inclavared with `argv` (without node and script); resolves to the exit status. */
export function main(argv: string[]): Promise<number> {
  return runProgram('inclavared', argv, buildProgram);
}

process.exitCode = await main(process.argv.slice(2));
