/**
 * inclavare-keyprovider, the decrypting side of encrypted images (docs/encrypted-images.md): an ocicrypt `cmd`
 * key provider. ocicrypt (skopeo, podman, containerd's imgcrypt) runs it with a `keyunwrap` request on stdin;
 * it reads the layer's wrapped-key annotation (either format), runs a short-lived `sim` enclave container
 * through rune whose workload asks verdictd to `Decrypt` it over mutual RATS-TLS (enclave-unwrap.ts), and
 * answers the layer's private options (optsdata) on stdout. verdictd's policy judges the enclave's measurement.
 *
 * Only the final optsdata (the layer key that ocicrypt needs) reaches the host side; verdictd's answer is
 * otherwise inside the RATS-TLS session that ends in the enclave.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, isInclavareError } from '../errors/errors.ts';
import { decryptBlobOf, parseAnnotation } from '../verdictd/key-provider/annotation.ts';
import { keyUnwrapResult, parseKeyProviderRequest } from '../verdictd/key-provider/protocol.ts';
import { writeEnclaveBundle } from './bundle.ts';
import { keyProviderError } from './codes.ts';
import type { EnclaveUnwrapAnswer } from './enclave-unwrap.ts';

/** Settings of the provider (its flags). */
export interface KeyProviderOptions {
  /** verdictd's EAA address as the host reaches it. */
  verdictd: string;
  /** The pin of verdictd's key (`sha256:<hex>`). */
  verdictdKey: string;
  /** Bundles, the enclave's rootfs and rune's state. */
  stateDir: string;
  /** dist/rune. */
  rune: string;
  /** dist/keyprovider-enclave.mjs. */
  enclaveFile: string;
  timeoutMs: number;
}

/** What running a command gave. */
interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runWithInput(cmd: string, args: string[], input: string, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/**
 * Runs the unwrapping enclave for `blobs` and returns their plaintexts. A refusal by verdictd is
 * KEYPROVIDER_ERR_REFUSED with verdictd's message (the failing rule); an enclave that does not run is
 * KEYPROVIDER_ERR_ENCLAVE with rune's.
 */
export async function unwrapInEnclave(what: ReturnType<typeof decryptBlobOf>[] | { jwe: object }, options: KeyProviderOptions): Promise<Buffer[]> {
  const count = Array.isArray(what) ? what.length : 1;
  const request = Array.isArray(what) ? { verdictd: options.verdictd, blobs: what } : { verdictd: options.verdictd, jwe: what.jwe };
  const id = `keyprovider-${process.pid}-${randomBytes(4).toString('hex')}`;
  const bundle = writeEnclaveBundle(join(options.stateDir, 'bundles', id), options);
  const root = join(options.stateDir, 'rune');
  let ran: Ran;
  try {
    ran = await runWithInput(options.rune, ['--root', root, 'run', '--bundle', bundle, id], JSON.stringify(request), options.timeoutMs);
  } catch (err) {
    throw keyProviderError('KEYPROVIDER_ERR_ENCLAVE', `Cannot run the unwrapping enclave with ${options.rune}: ${describeError(err)}`, { cause: err });
  } finally {
    await runWithInput(options.rune, ['--root', root, 'delete', '--force', id], '', 10_000).catch(() => undefined);
    rmSync(bundle, { recursive: true, force: true });
  }
  let answer: EnclaveUnwrapAnswer | undefined;
  try {
    answer = JSON.parse(ran.stdout.trim().split('\n').pop() ?? '') as EnclaveUnwrapAnswer;
  } catch {
    answer = undefined;
  }
  if (answer !== undefined && 'plaintexts' in answer && Array.isArray(answer.plaintexts) && answer.plaintexts.length === count) {
    return answer.plaintexts.map((p) => Buffer.from(p, 'base64'));
  }
  if (answer !== undefined && 'error' in answer && typeof answer.error === 'string') {
    const refused = answer.code.startsWith('VERDICTD_ERR_');
    throw keyProviderError(refused ? 'KEYPROVIDER_ERR_REFUSED' : 'KEYPROVIDER_ERR_ENCLAVE', `Cannot unwrap the layer key in the enclave: ${answer.error}${refused ? ` (${answer.code})` : ''}`);
  }
  const why = ran.code === null ? `it did not finish within ${options.timeoutMs / 1000} s` : `rune exited ${ran.code}: ${ran.stderr.trim().split('\n').slice(-3).join(' ') || 'no message'}`;
  throw keyProviderError('KEYPROVIDER_ERR_ENCLAVE', `Cannot unwrap the layer key: the unwrapping enclave gave no answer (${why})`);
}

/** Serves one ocicrypt request (stdin bytes) → the answer (stdout bytes). */
export async function serveKeyProviderRequest(input: Uint8Array, options: KeyProviderOptions): Promise<Buffer> {
  let annotation;
  try {
    const request = parseKeyProviderRequest(input);
    if (request.op === 'keywrap') {
      throw keyProviderError('KEYPROVIDER_ERR_REQUEST', 'Cannot wrap: inclavare-keyprovider only unwraps; encrypt through verdictd\'s key provider (gRPC on its --client-api: provider:verdictd:<kid>)');
    }
    annotation = parseAnnotation(request.annotation);
  } catch (err) {
    if (isInclavareError(err, 'KEYPROVIDER_ERR_REQUEST')) throw err;
    throw keyProviderError('KEYPROVIDER_ERR_REQUEST', describeError(err), { cause: err });
  }
  const [optsdata] = await unwrapInEnclave([decryptBlobOf(annotation)], options);
  return keyUnwrapResult(optsdata!);
}
