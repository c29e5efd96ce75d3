/**
 * The unwrapping enclave's workload (docs/encrypted-images.md): runs inside a `sim` enclave container that
 * inclavare-keyprovider starts through rune, so its evidence carries the measurement of this very code (the
 * file, node, the args with verdictd's pin). It reads `{"verdictd":"HOST:PORT","blobs":[...]}` on stdin,
 * attests to verdictd over mutual RATS-TLS (evidence from the container's attestation socket, verdictd's key
 * checked against the pin), asks EAA `Decrypt` (or, given `{"verdictd","jwe":{...}}`, `Unwrap JWE`: a layer
 * encrypted with skopeo `jwe:` to a verdictd image key), and writes `{"plaintexts":["<b64>",...]}` on stdout. A refusal
 * is `{"error":"...","code":"..."}` on stdout and exit 1: the host side reports verdictd's own words.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { describeError, isInclavareError } from '../errors/errors.ts';
import { ATTESTATION_SOCKET_ENV } from '../rats-tls/attesters/sim.ts';
import { describeEaaFailure, openVerdictdSession } from '../init/secrets.ts';
import { EaaRefusal } from '../verdictd/eaa/client.ts';
import type { DecryptBlob } from '../verdictd/key-provider/annotation.ts';

/** What the host sends the enclave. */
export interface EnclaveUnwrapRequest {
  verdictd: string;
  blobs?: DecryptBlob[];
  /** A JWE (JSON serialization) to one of verdictd's image keys: answered as one plaintext. */
  jwe?: object;
}

/** What the enclave answers. */
export type EnclaveUnwrapAnswer = { plaintexts: string[] } | { error: string; code: string };

function connectTcp(address: string, timeoutMs: number): Promise<Socket> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port: Number(address.slice(at + 1)), timeout: timeoutMs }, () => {
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once('timeout', () => socket.destroy(new Error(`no connection within ${timeoutMs / 1000} s`)));
    socket.once('error', (err) => reject(new Error(`Cannot reach verdictd at ${address}: ${describeError(err)}`, { cause: err })));
  });
}

/** Unwraps `request.blobs` as the enclave whose pin of verdictd is `verdictdKey`. */
export async function enclaveUnwrap(request: EnclaveUnwrapRequest, options: { verdictdKey: string; socketPath: string; timeoutMs: number }): Promise<EnclaveUnwrapAnswer> {
  try {
    const tunnel = await connectTcp(request.verdictd, options.timeoutMs);
    const session = await openVerdictdSession({ socketPath: options.socketPath, tee: 'sim', verdictd: request.verdictd, verdictdKey: options.verdictdKey, tunnel, timeoutMs: options.timeoutMs });
    try {
      const ask = request.jwe !== undefined ? session.eaa.unwrapJwe(request.jwe, options.timeoutMs).then((r) => [r.plaintext]) : session.eaa.decrypt(request.blobs ?? [], options.timeoutMs);
      const plain = await ask.catch((err: unknown) => {
        if (err instanceof EaaRefusal) throw err;
        throw new Error(describeEaaFailure(err, session.eaa, 'enclave'), { cause: err });
      });
      return { plaintexts: plain.map((p) => p.toString('base64')) };
    } finally {
      session.close();
    }
  } catch (err) {
    return { error: describeError(err), code: err instanceof EaaRefusal || isInclavareError(err) ? err.code : 'KEYPROVIDER_ERR_ENCLAVE' };
  }
}

/** The workload's main: `node unwrap.mjs --verdictd-key sha256:<hex>`, the request on stdin. */
export async function enclaveMain(argv: readonly string[]): Promise<number> {
  const at = argv.indexOf('--verdictd-key');
  const verdictdKey = at >= 0 ? argv[at + 1] : undefined;
  const socketPath = process.env[ATTESTATION_SOCKET_ENV];
  const reply = (answer: EnclaveUnwrapAnswer): void => void process.stdout.write(`${JSON.stringify(answer)}\n`);
  if (verdictdKey === undefined || socketPath === undefined) {
    reply({ error: `Cannot unwrap: ${verdictdKey === undefined ? 'no --verdictd-key' : `no ${ATTESTATION_SOCKET_ENV}: not an enclave container`}`, code: 'KEYPROVIDER_ERR_USAGE' });
    return 2;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  let request: EnclaveUnwrapRequest;
  try {
    request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as EnclaveUnwrapRequest;
    const hasJwe = typeof request.jwe === 'object' && request.jwe !== null;
    if (typeof request.verdictd !== 'string' || Array.isArray(request.blobs) === hasJwe) throw new Error('expected {verdictd, blobs} or {verdictd, jwe}');
  } catch (err) {
    reply({ error: `Cannot unwrap: the request is not {verdictd, blobs|jwe} JSON (${describeError(err)})`, code: 'KEYPROVIDER_ERR_REQUEST' });
    return 1;
  }
  const answer = await enclaveUnwrap(request, { verdictdKey, socketPath, timeoutMs: 30_000 });
  reply(answer);
  return 'error' in answer ? 1 : 0;
}
