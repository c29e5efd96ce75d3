/**
 * The `rats-tls` sample's main: `rats-tls server` and `rats-tls client` with the C samples' flags (logic in
 * src/rats-tls/sample.ts). Exit status: 0 success (client: the echo matched), 1 rejected or failed, 2 usage
 * (RATS_TLS_ERR_INVALID_ARGUMENT is a usage error in its table).
 */
import { Command, CommanderError, Option } from 'commander';
import { collect, runProgram } from './run-program.ts';
import { createSampleLog, LOG_LEVELS, runClient, runServer, type SampleOptions } from '../rats-tls/sample.ts';

declare const RUNE_VERSION: string | undefined;
const VERSION = typeof RUNE_VERSION === 'string' ? RUNE_VERSION : '0.0.0-dev';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CommanderError(2, 'rats-tls.port', `invalid port "${value}"`);
  return n;
}

/** The flags of both C RATS-TLS samples (docs/rats-tls.md, "Sample"), then ours. */
function withSampleFlags(cmd: Command): Command {
  return cmd
    .option('-a, --attester <name>', 'attester instance: sim, nullattester, tdx_ecdsa and sev_snp (configfs-tsm in a confidential VM), sgx_ecdsa (Gramine /dev/attestation); sgx_la, sev, csv are recognized but not in this build')
    .option('-v, --verifier <name>', 'verifier instance: auto, sim, sgx_ecdsa, sgx_ecdsa_qve, tdx_ecdsa, sev_snp, or nullverifier to accept an unattested peer')
    .option('-t, --tls <name>', 'tls instance: openssl', 'openssl')
    .option('-c, --crypto <name>', 'crypto instance: openssl, nullcrypto', 'openssl')
    .option('-m, --mutual', 'mutual attestation')
    .option('-e, --endorsements', 'attach endorsements (Intel collateral) to the certificate: sgx_ecdsa/tdx_ecdsa attesters, with --collateral or --pccs-url')
    .addOption(new Option('-l, --log-level <level>', 'log level').choices(LOG_LEVELS).default('warn'))
    .option('-i, --ip <address>', 'address', '127.0.0.1')
    .option('-p, --port <port>', 'port', port, 1234)
    .option('-D, --debug-enclave', 'debug enclave (sim: evidence says debug)')
    .option('--sim-platform-key <file>', 'sign sim evidence in-process with this Ed25519 private key (PEM); demos and tests only')
    .option('--trust-anchor <file>', 'trusted sim platform public key (PEM); repeatable', collect)
    .option('--expect-measurement <hex>', 'the peer must have this measurement')
    .option('--nonce', 'in-band nonce freshness (both ends must use it)')
    .option('--collateral <dir>', "Intel collateral directory: verifies the peer's quote; with -e, attached to ours")
    .option('--pccs-url <url>', 'with -e: fetch the collateral for our quote from this PCS/PCCS')
    .exitOverride();
}

function buildProgram(setResult: (r: Promise<number>) => void): Command {
  const program = new Command('rats-tls')
    .description('RATS-TLS sample server and client (attested TLS echo), compatible with the C RATS-TLS samples')
    .version(VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  withSampleFlags(program.command('server').description('serve the echo until SIGINT/SIGTERM')).action((flags: SampleOptions) => {
    setResult(
      (async () => {
        const log = createSampleLog(flags.logLevel);
        const server = await runServer(flags, log);
        // One line on stdout so that scripts (and tests using -p 0) learn the port.
        process.stdout.write(`listening on ${server.address.address}:${server.address.port}\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await server.close();
        return 0;
      })(),
    );
  });
  withSampleFlags(program.command('client').description('send the message, check the echo'))
    .option('-E, --verdictd', 'talk to Verdictd: send the message as an EAA echo request')
    .action((flags: SampleOptions) => {
      setResult(
        (async () => {
          const result = await runClient(flags, createSampleLog(flags.logLevel));
          process.stdout.write(`Server:\n${result.echo}`);
          if (!result.ok) process.stderr.write('rats-tls: the echo does not match the message\n');
          return result.ok ? 0 : 1;
        })(),
      );
    });
  return program;
}

/** Runs rats-tls with `argv` (without node and script); resolves to the exit status. */
export function main(argv: string[]): Promise<number> {
  return runProgram('rats-tls', argv, buildProgram);
}

process.exitCode = await main(process.argv.slice(2));
