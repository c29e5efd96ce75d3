/**
 * inclavare-keyprovider's main (docs/encrypted-images.md): the ocicrypt `cmd` key provider that unwraps layer
 * keys inside an attested `sim` enclave (src/keyprovider/provider.ts), and `measure`, which prints that
 * enclave's measurement for verdictd's reference values.
 *
 * ocicrypt runs a cmd provider with its stderr on /dev/null, so a refusal would surface only as "exit status 1".
 * The error line therefore also goes to the parent's stderr (skopeo's, podman's) when ours is /dev/null.
 */
import { Command } from 'commander';
import { appendFileSync, closeSync, fstatSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { enclaveUnwrapOptions, withEnclaveUnwrapFlags, type EnclaveUnwrapFlags } from '../keyprovider/cli-options.ts';
import { keyProviderError } from '../keyprovider/codes.ts';
import { writeEnclaveBundle } from '../keyprovider/bundle.ts';
import { serveKeyProviderRequest, type KeyProviderOptions } from '../keyprovider/provider.ts';
import { measureSource } from '../tee-tools/measure.ts';
import { runProgram, type SetResult } from './run-program.ts';

declare const RUNE_VERSION: string | undefined;
const VERSION = typeof RUNE_VERSION === 'string' ? RUNE_VERSION : '0.0.0-dev';

type Flags = EnclaveUnwrapFlags;

const here = dirname(resolve(process.argv[1] ?? '.'));

function optionsOf(flags: Flags): KeyProviderOptions {
  return enclaveUnwrapOptions(flags, here, (message) => keyProviderError('KEYPROVIDER_ERR_USAGE', message));
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** True when fd 2 is /dev/null (as ocicrypt runs cmd providers). */
function stderrDiscarded(): boolean {
  try {
    const [ours, devNull] = [fstatSync(2), statSync('/dev/null')];
    return ours.rdev === devNull.rdev && ours.ino === devNull.ino;
  } catch {
    return false;
  }
}

function report(line: string, logFile: string | undefined): void {
  const text = `inclavare-keyprovider: ${line}\n`;
  process.stderr.write(text);
  if (logFile !== undefined) appendFileSync(logFile, `${new Date().toISOString()} ${text}`);
  if (!stderrDiscarded()) return;
  try {
    const fd = openSync(`/proc/${process.ppid}/fd/2`, 'a');
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
  } catch {
    // The parent's stderr is not reachable: the log file (--log) keeps the line.
  }
}

function buildProgram(setResult: SetResult): Command {
  const program = withEnclaveUnwrapFlags(
    new Command('inclavare-keyprovider')
      .description(
        [
          'ocicrypt key provider (cmd) that unwraps layer keys of encrypted images inside an attested sim enclave.',
          '',
          'ocicrypt (skopeo, podman, containerd imgcrypt) runs it with a keyunwrap request on stdin. It starts a short-lived',
          'sim enclave container through rune; the enclave attests to verdictd over mutual RATS-TLS (verdictd checked against',
          '--verdictd-key) and asks EAA "Decrypt" for the layer key; verdictd\'s policy judges the enclave\'s measurement',
          '(`inclavare-keyprovider measure` prints it). The layer key is answered on stdout. Wrapping is verdictd\'s job',
          '(provider:verdictd:<kid>, gRPC on its --client-api). Register it in OCICRYPT_KEYPROVIDER_CONFIG, e.g.',
          '  {"key-providers":{"attestation-agent":{"cmd":{"path":"/usr/local/bin/inclavare-keyprovider","args":["--verdictd-key","sha256:…"]}}}}',
          'under the provider name the image was encrypted with. See docs/encrypted-images.md.',
        ].join('\n'),
      )
      .version(VERSION, '-V, --version', 'print the version')
      .helpOption('-h, --help', 'show help'),
      { stateDir: '/var/lib/inclavare-keyprovider', stateDirHelp: 'bundles, the enclave rootfs and rune state', logHelp: "append error lines here too (ocicrypt discards a provider's stderr)" },
  )
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .action(async (flags: Flags) => {
      setResult(
        (async () => {
          const options = optionsOf(flags);
          process.stdout.write(await serveKeyProviderRequest(await readStdin(), options));
          return 0;
        })(),
      );
    });
  program
    .command('measure')
    .description("print the unwrapping enclave's measurement (for verdictd's reference set), for the same --verdictd-key and files")
    .option('--json', 'print {measurement, ...} as JSON')
    .action(async (sub: { json?: boolean }) => {
      setResult(
        (async () => {
          const options = optionsOf(program.opts<Flags>());
          const bundle = writeEnclaveBundle(join(options.stateDir, 'bundles', `measure-${process.pid}`), options);
          const report = await measureSource({ source: bundle }).finally(() => rmSync(bundle, { recursive: true, force: true }));
          process.stdout.write(sub.json === true ? `${JSON.stringify(report)}\n` : `${report.measurement}\n`);
          return 0;
        })(),
      );
    });
  return program;
}

/** Runs inclavare-keyprovider with `argv`; resolves to the exit status. */
export function main(argv: string[]): Promise<number> {
  let logFile: string | undefined;
  const at = argv.indexOf('--log');
  if (at >= 0) logFile = argv[at + 1];
  return runProgram('inclavare-keyprovider', argv, buildProgram, { report: (line) => report(line, logFile) });
}

process.exitCode = await main(process.argv.slice(2));
