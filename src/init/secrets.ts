/**
 * Fetches a container's secrets inside the enclave runtime (docs/secrets.md), during `rune create`, before
 * init-runelet reports ready:
 *
 *   1. a tunnel to verdictd through inclavared's relay on the attestation socket (`CONNECT HOST:PORT`, the
 *      address rune registered; the container's own network is not used, so `--network none` works);
 *   2. mutual RATS-TLS over it, ending here: our certificate carries evidence for this container's
 *      measurement over our fresh key; verdictd's key must match the pin (ENCLAVE_VERDICTD_KEY), so neither
 *      the host nor anything on the way can read the secrets or answer in verdictd's name;
 *   3. EAA `Get Resource` for each path; each lands in /run/secrets/<repo>/<type>/<tag>, mode 0400, on the
 *      tmpfs rune mounted there. All or nothing: on any failure what was written is removed.
 */
import { request } from 'node:http';
import { mkdir, open, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { describeError, isInclavareError } from '../errors/errors.ts';
import { createSocketAttester } from '../rats-tls/attesters/sim.ts';
import { connect } from '../rats-tls/client.ts';
import { createRatsTlsIdentity } from '../rats-tls/identity.ts';
import { pinOfSpki } from '../rats-tls/pin.ts';
import { EaaClient, EaaRefusal } from '../verdictd/eaa/client.ts';
import type { SecretsToFetch } from '../runelet/description.ts';

/** Where and how to fetch. */
export interface FetchSecretsOptions {
  /** The container's attestation socket (evidence, and the relay). */
  socketPath: string;
  /** The evidence format inclavared serves this container. */
  tee: 'sim' | 'tdx' | 'snp';
  /** Where the secrets go (the tmpfs); default /run/secrets. */
  dir: string;
  /** Limit of the whole fetch (ms). */
  timeoutMs?: number;
}

/** A failure, phrased for `rune create`'s error. */
export class SecretsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretsError';
  }
}

/** Opens the relay: a socket to verdictd, or the relay's refusal (unreachable address, not registered). */
function openRelay(socketPath: string, address: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'CONNECT', path: address, headers: { host: address }, timeout: timeoutMs });
    req.once('timeout', () => req.destroy(new Error(`inclavared's relay did not answer within ${timeoutMs / 1000} s`)));
    req.once('error', (err) => reject(new SecretsError(`Cannot reach verdictd at ${address} through inclavared's relay (${socketPath}): ${describeError(err)}`, { cause: err })));
    req.once('connect', (res, socket, head) => {
      if (res.statusCode === 200) {
        req.setTimeout(0);
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
        return;
      }
      const chunks: Buffer[] = [head];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.once('close', () => {
        let message = `status ${res.statusCode}`;
        try {
          message = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error: { message: string } }).error.message;
        } catch {
          // keep the status
        }
        reject(new SecretsError(message));
      });
    });
    req.end();
  });
}

/** Where and whom to attest to: what {@link openVerdictdSession} needs. */
export interface VerdictdSessionOptions {
  /** The attestation socket: evidence for this container's measurement. */
  socketPath: string;
  tee: 'sim' | 'tdx' | 'snp';
  /** verdictd's address as the host reaches it (for messages, and the relay's CONNECT). */
  verdictd: string;
  /** The pin of verdictd's key (`sha256:<hex>`). */
  verdictdKey: string;
  /** The connection under RATS-TLS; default: a tunnel through inclavared's relay on the attestation socket. */
  tunnel?: Socket;
  timeoutMs: number;
}

/** An attested EAA conversation with verdictd; `close()` ends it. */
export interface VerdictdSession {
  eaa: EaaClient;
  close(): void;
}

/**
 * Mutual RATS-TLS with verdictd over `tunnel` (default: inclavared's relay), our certificate carrying
 * evidence for this container's measurement over a fresh key, verdictd's key checked against the pin:
 * resolves once the handshake is done. Used for secrets (below) and for layer keys (src/keyprovider/).
 */
export async function openVerdictdSession(options: VerdictdSessionOptions): Promise<VerdictdSession> {
  const { verdictd, verdictdKey, timeoutMs } = options;
  const tunnel = options.tunnel ?? (await openRelay(options.socketPath, verdictd, timeoutMs));
  const identity = await createRatsTlsIdentity({ attester: createSocketAttester({ socketPath: options.socketPath, tee: options.tee }) });
  let seenPin: string | undefined;
  const tls = connect({
    socket: tunnel,
    identity,
    verify: {
      // verdictd usually has no evidence of its own (it runs outside a TEE): the pin authenticates it. When it
      // does present evidence, that must verify as well.
      allowUnattested: true,
      callback: (_claims, verification) => {
        seenPin = verification.certificate !== undefined ? pinOfSpki(verification.certificate.spki) : undefined;
        return seenPin === verdictdKey || `its key is ${seenPin ?? 'unreadable'}, not the pinned ${verdictdKey} (ENCLAVE_VERDICTD_KEY)`;
      },
    },
  });
  const timer = setTimeout(() => tls.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  const close = (): void => {
    clearTimeout(timer);
    identity.close();
    tls.destroy();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
  } catch (err) {
    close();
    throw new SecretsError(`Cannot get secrets from verdictd at ${verdictd}: ${seenPin !== undefined && seenPin !== verdictdKey ? 'refused the server: ' : ''}${describeError(err)}`, { cause: err });
  }
  return { eaa: new EaaClient(tls), close };
}

/** Why an EAA request failed, for the user: verdictd's refusal, or its silence after a handshake that refused our evidence. */
export function describeEaaFailure(err: unknown, eaa: EaaClient, what = 'container'): string {
  if (err instanceof EaaRefusal) return `${err.message} (${err.code})`;
  if (!eaa.answered) {
    return `verdictd closed the connection without an answer: it refused this ${what}'s evidence in the handshake (verdictd's log and audit log say why: e.g. an untrusted platform key) [${describeError(err)}]`;
  }
  return describeError(err);
}

/** Fetches every secret, or none: throws SecretsError naming the resource, the rule or the address. */
export async function fetchSecrets(spec: SecretsToFetch, options: FetchSecretsOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const session = await openVerdictdSession({ socketPath: options.socketPath, tee: options.tee, verdictd: spec.verdictd, verdictdKey: spec.verdictdKey, timeoutMs });
  const written: string[] = [];
  try {
    const { eaa } = session;
    for (const resource of spec.resources) {
      let value: Buffer;
      try {
        value = await eaa.getResource(resource, timeoutMs);
      } catch (err) {
        throw new SecretsError(`Cannot get secret ${resource} from verdictd at ${spec.verdictd}: ${describeEaaFailure(err, eaa)}`, { cause: err });
      }
      try {
        written.push(await writeSecret(options.dir, resource, value));
      } finally {
        value.fill(0);
      }
    }
  } catch (err) {
    await Promise.all(written.map((file) => rm(file, { force: true })));
    throw err instanceof SecretsError || isInclavareError(err) ? err : new SecretsError(`Cannot get secrets from verdictd at ${spec.verdictd}: ${describeError(err)}`, { cause: err });
  } finally {
    session.close();
  }
}

/** Writes one secret, mode 0400, created new (never through an existing file or link). */
async function writeSecret(dir: string, resource: string, value: Uint8Array): Promise<string> {
  const [repo, type, tag] = resource.split('/') as [string, string, string];
  const parent = join(dir, repo, type);
  await mkdir(parent, { recursive: true, mode: 0o700 });
  const file = join(parent, tag);
  const handle = await open(file, 'wx', 0o400).catch((err: unknown) => {
    throw new SecretsError(`Cannot write secret ${resource} to ${file}: ${describeError(err)}`, { cause: err });
  });
  try {
    await handle.writeFile(value);
  } finally {
    await handle.close();
  }
  return file;
}
