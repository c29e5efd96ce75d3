/**
 * inclavare-decoder's main (docs/encrypted-images.md, "containerd"): a containerd stream processor that
 * decrypts ocicrypt-encrypted layers with a layer key unwrapped inside an attested sim enclave
 * (src/decoder/decoder.ts). containerd keeps the processor's stderr as the error of a failed unpack, which the
 * CRI client (crictl, kubelet) sees: the one error line goes there, and to --log.
 */
import { Command } from 'commander';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { decodeLayer, enclaveUnwrapper } from '../decoder/decoder.ts';
import { decoderError } from '../decoder/codes.ts';
import { parsePayload } from '../decoder/payload.ts';
import type { KeyProviderOptions } from '../keyprovider/provider.ts';
import { enclaveUnwrapOptions, withEnclaveUnwrapFlags, type EnclaveUnwrapFlags } from '../keyprovider/cli-options.ts';
import { runProgram, type SetResult } from './run-program.ts';

declare const RUNE_VERSION: string | undefined;
const VERSION = typeof RUNE_VERSION === 'string' ? RUNE_VERSION : '0.0.0-dev';

type Flags = EnclaveUnwrapFlags;

const here = dirname(resolve(process.argv[1] ?? '.'));

function optionsOf(flags: Flags): KeyProviderOptions {
  return enclaveUnwrapOptions(flags, here, (message) => decoderError('DECODER_ERR_USAGE', message));
}

/** fd 3's content (containerd's payload), or empty when fd 3 is not open. */
function readPayload(): Buffer {
  try {
    return readFileSync(3);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBADF') return Buffer.alloc(0);
    throw decoderError('DECODER_ERR_PAYLOAD', `Cannot read the processor payload on fd 3: ${(err as Error).message}`);
  }
}

function buildProgram(setResult: SetResult): Command {
  return withEnclaveUnwrapFlags(
    new Command('inclavare-decoder')
      .description(
        [
          'containerd stream processor for ocicrypt-encrypted image layers (in place of imgcrypt\'s ctd-decoder).',
          '',
          'containerd runs it per layer: the encrypted layer on stdin, its media type in STREAM_PROCESSOR_MEDIATYPE, the layer',
          'descriptor (imgcrypt\'s Payload; CRI image_decryption key_model = "node") on fd 3; the plain layer goes to stdout.',
          'The layer key (the org.opencontainers.image.enc.keys.jwe annotation: skopeo --encryption-key jwe:<verdictd image key>,',
          'or a verdictd provider annotation) is unwrapped in a short-lived sim enclave that attests to verdictd (as',
          'inclavare-keyprovider does; `inclavare-keyprovider measure` prints its measurement). The layer\'s HMAC is checked',
          'before any plaintext is written. See docs/encrypted-images.md.',
        ].join('\n'),
      )
      .version(VERSION, '-V, --version', 'print the version')
      .helpOption('-h, --help', 'show help'),
      { stateDir: '/var/lib/inclavare-decoder', stateDirHelp: 'bundles, the enclave rootfs, rune state and the spooled ciphertext', logHelp: 'append error lines here too' },
  )
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .action(async (flags: Flags) => {
      setResult(
        (async () => {
          const options = optionsOf(flags);
          const descriptor = parsePayload(readPayload());
          await decodeLayer({ mediaType: process.env.STREAM_PROCESSOR_MEDIATYPE, descriptor, input: process.stdin, output: process.stdout, unwrap: enclaveUnwrapper(options), stateDir: options.stateDir });
          await new Promise<void>((done) => process.stdout.end(done));
          return 0;
        })(),
      );
    });
}

/** Runs inclavare-decoder with `argv`; resolves to the exit status. */
export function main(argv: string[]): Promise<number> {
  const at = argv.indexOf('--log');
  const logFile = at >= 0 ? argv[at + 1] : undefined;
  return runProgram('inclavare-decoder', argv, buildProgram, {
    report: (line) => {
      const text = `inclavare-decoder: ${line}\n`;
      process.stderr.write(text);
      if (logFile !== undefined) {
        try {
          appendFileSync(logFile, `${new Date().toISOString()} ${text}`);
        } catch {
          // stderr (containerd's error) still has it.
        }
      }
    },
  });
}

process.exitCode = await main(process.argv.slice(2));
if (process.exitCode !== 0) holdStdoutPastExit();

/**
 * A failed decode must reach containerd as our error (stderr), not as its own "wrong diff id": containerd 1.6's
 * stream processor reads our stdout to its end and then asks for our error, which it records only once it has
 * seen us exit; our exit also ends stdout, and when containerd reads that end first, the error is not there
 * yet (later containerd versions wait for it). A short-lived child that inherits stdout and nothing else keeps
 * the end of stdout a second past our exit.
 */
function holdStdoutPastExit(): void {
  try {
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 1000)'], { stdio: ['ignore', 1, 'ignore'], detached: true });
    holder.on('error', () => undefined);
    holder.unref();
  } catch {
    // Only the message containerd shows is at stake; the pull fails either way.
  }
}
