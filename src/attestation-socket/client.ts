/**
 * The client side of inclavared, for rune (register at create, unregister at delete, `rune attest`) and
 * for tests: HTTP/JSON over the daemon's unix sockets (docs/attestation-socket.md).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { unixRequest, type RawResponse } from './wire.ts';
import { distDir } from '../util/dist-dir.ts';
import { join, resolve } from 'node:path';
import { errorFromHttpAnswer, type InclavareError } from '../errors/errors.ts';
import { INCLAVARED_ERROR_CODES, inclavaredError } from './codes.ts';
import { makeDirectory } from '../sys/fs.ts';
import { daemonPaths, DEFAULT_DATA_DIR, DEFAULT_ROOT, type ContainerSocketPaths } from './paths.ts';
import type { EnclaveTee } from './requests.ts';

/**
 * How long to wait for a daemon that ensureDaemon() started. Starting Node.js takes well under a second on an
 * idle host, but 50 concurrent `podman run` of enclave containers on 2 cores made it take more than 5 s (the
 * old limit), failing the first creates of a burst (issue #16, docs/security.md "Load").
 */
export const DAEMON_START_TIMEOUT_MS = 30_000;
/** Default limit for one request (evidence from configfs-tsm can take seconds). */
export const REQUEST_TIMEOUT_MS = 35_000;
const MAX_RESPONSE_BYTES = 4 << 20;

function unavailable(message: string, cause?: unknown): InclavareError {
  return inclavaredError(INCLAVARED_ERROR_CODES.UNAVAILABLE, message, { cause });
}

/** Sends one request over a unix socket (see wire.ts). Connection failures are INCLAVARED_ERR_UNAVAILABLE. */
function call(socketPath: string, method: string, path: string, body?: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<RawResponse> {
  return unixRequest(socketPath, { method, path, body, timeoutMs, maxBytes: MAX_RESPONSE_BYTES });
}

/** The JSON of a 2xx answer; an error answer becomes the InclavareError it describes. */
function jsonOf(res: RawResponse, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(res.text);
  } catch {
    value = undefined;
  }
  if (res.status >= 200 && res.status < 300) {
    if (value === undefined) throw unavailable(`Cannot ${what}: inclavared answered with something that is not JSON`);
    return value;
  }
  const error = (value as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : INCLAVARED_ERROR_CODES.UNAVAILABLE;
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`;
  // The daemon's code reaches the caller unchanged; its class is read back from the HTTP status.
  throw errorFromHttpAnswer(code, `Cannot ${what}: ${message}`, res.status, { details: { status: res.status } });
}

/** True when something accepts connections on `socketPath`. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect(socketPath);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    // EAGAIN: it listens, its accept queue is full (busy): it is there; spawning another would only add load.
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EAGAIN'));
  });
}

/** The command that runs the inclavared CLI by default: this node and dist/inclavared.mjs. */
export function defaultInclavaredCommand(): string[] {
  return [process.execPath, join(distDir(), 'inclavared.mjs')];
}

/** Where the daemon lives (defaults: /run/inclavared, /var/lib/inclavared). */
export interface DaemonLocation {
  root?: string;
  dataDir?: string;
}

/** Inputs of ensureDaemon(). */
export interface EnsureDaemonOptions extends DaemonLocation {
  /**
   * The command that runs the inclavared CLI, without its subcommand (default {@link defaultInclavaredCommand});
   * ensureDaemon() appends `serve --root ROOT --data-dir DATA_DIR [--tsm-path P]`.
   */
  inclavaredCommand?: readonly string[];
  /** Passed as --tsm-path. */
  tsmPath?: string;
  /** How long to wait for the socket (default 30 s). */
  timeoutMs?: number;
  /** Passed as --exit-when-idle (0 or undefined: the daemon stays). */
  exitWhenIdleSeconds?: number;
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join(' | ');
  } catch {
    return '';
  }
}

/** The descriptors this process would pass on to a child: those without close-on-exec, from 3 up (Linux /proc/self/fdinfo). */
export function inheritableFds(): number[] {
  let fds: number[];
  try {
    fds = readdirSync('/proc/self/fd').map(Number).filter((fd) => fd > 2);
  } catch {
    return [];
  }
  return fds.filter((fd) => {
    try {
      const flags = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      return flags !== undefined && (parseInt(flags, 8) & 0o2000000) === 0; // O_CLOEXEC
    } catch {
      return false; // closed meanwhile (the directory's own descriptor)
    }
  });
}

/**
 * The daemon's stdio: the log on 1 and 2, and /dev/null over every descriptor the caller would otherwise
 * pass on. rune is run by engines that hand it pipes of their own (conmon's sync and log pipes, a shim's
 * fds): a daemon holding one keeps the engine's helper waiting for EOF long after the container is gone.
 */
function daemonStdio(logFd: number, nullFd: number): ('ignore' | number)[] {
  const stdio: ('ignore' | number)[] = ['ignore', logFd, logFd];
  for (const fd of inheritableFds()) stdio[fd] = nullFd;
  for (let i = 0; i < stdio.length; i++) stdio[i] ??= 'ignore';
  return stdio;
}

/**
 * Makes sure a daemon serves ROOT: returns at once when the control socket answers; otherwise starts
 * inclavared detached (its own session, stdio to ROOT/inclavared.log, not waited for: it outlives the
 * caller) and waits until the socket answers. Two callers racing both succeed: the second daemon finds
 * the first one's pid file and exits. Throws INCLAVARED_ERR_UNAVAILABLE when no daemon answers in time.
 */
export async function ensureDaemon(options: EnsureDaemonOptions = {}): Promise<void> {
  // A second attempt: the daemon that held the pid file was stopping (idle) when ours started.
  if ((await startDaemonOnce(options)) === 'retry') await startDaemonOnce(options, true);
}

async function startDaemonOnce(options: EnsureDaemonOptions, last = false): Promise<'ok' | 'retry'> {
  const root = resolve(options.root ?? DEFAULT_ROOT);
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const paths = daemonPaths(root);
  if (await answers(paths.controlSocket)) return 'ok';

  makeDirectory(root, 0o700);
  const command = [
    ...(options.inclavaredCommand ?? defaultInclavaredCommand()),
    'serve', '--root', root, '--data-dir', dataDir,
    ...(options.tsmPath === undefined ? [] : ['--tsm-path', options.tsmPath]),
    ...(options.exitWhenIdleSeconds === undefined || options.exitWhenIdleSeconds === 0 ? [] : ['--exit-when-idle', String(options.exitWhenIdleSeconds)]),
  ];
  const logFd = openSync(paths.logFile, 'a', 0o600);
  const nullFd = openSync('/dev/null', 'r');
  let spawnError: Error | undefined;
  let exitCode: number | null | undefined;
  let childPid: number | undefined;
  try {
    const child = spawn(command[0]!, command.slice(1), { detached: true, stdio: daemonStdio(logFd, nullFd), cwd: '/' });
    childPid = child.pid;
    child.once('error', (err) => {
      spawnError = err;
    });
    child.once('exit', (code) => {
      exitCode = code;
    });
    child.unref();
  } finally {
    closeSync(logFd);
    closeSync(nullFd);
  }

  const timeoutMs = options.timeoutMs ?? DAEMON_START_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  // Settled: our child serves (it holds the pid file) or has exited (another daemon won the race). Returning
  // earlier would leave a daemon still starting that takes over later, e.g. right after the first one stops.
  const settled = (): boolean => {
    if (exitCode !== undefined) return true;
    try {
      return readFileSync(paths.pidFile, 'utf8').trim() === String(childPid);
    } catch {
      return false;
    }
  };
  while (Date.now() < deadline) {
    if ((await answers(paths.controlSocket)) && settled()) return 'ok';
    if (spawnError !== undefined) throw unavailable(`Cannot start inclavared (${command[0]})`, spawnError);
    // Ours failed and no other daemon is starting (its pid file would exist): no point waiting; when ours
    // found another one's pid file that is gone now, that one stopped meanwhile: start one more.
    if (exitCode !== undefined && exitCode !== 0 && !existsSync(paths.pidFile) && !(await answers(paths.controlSocket))) {
      if (!last) return 'retry';
      break;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const exited = exitCode === undefined ? '' : ` (it exited with status ${exitCode})`;
  const log = tail(paths.logFile, 3);
  throw unavailable(`Cannot start inclavared: ${paths.controlSocket} did not answer${exitCode === undefined ? ` within ${timeoutMs} ms` : ''}${exited}${log ? `; ${paths.logFile}: ${log}` : ''}`);
}

/** A container to register. */
export interface ContainerRegistration {
  id: string;
  /** The host-computed measurement: 48 bytes, or 96 hex digits; absent: a pending registration (see bindMeasurement). */
  measurement?: Uint8Array | string;
  tee: EnclaveTee;
  /** verdictd's address (HOST:PORT): the socket then relays CONNECTs to it (docs/attestation-socket.md "Relay"). */
  relay?: string;
}

function hexOf(measurement: Uint8Array | string): string {
  return typeof measurement === 'string' ? measurement : Buffer.from(measurement).toString('hex');
}

/** Binds the measurement of a pending registration (once: another measurement is INCLAVARED_ERR_MEASUREMENT_BOUND). */
export async function bindMeasurement(root: string, id: string, measurement: Uint8Array | string): Promise<void> {
  const res = await call(daemonPaths(root).controlSocket, 'PUT', `/v1/containers/${encodeURIComponent(id)}/measurement`, JSON.stringify({ measurement: hexOf(measurement) }));
  jsonOf(res, `bind the measurement of container ${id}`);
}

/** Creates the container's attestation socket; returns its directory (to bind-mount) and path. */
export async function registerContainer(root: string, registration: ContainerRegistration): Promise<ContainerSocketPaths> {
  const measurement = registration.measurement === undefined ? undefined : hexOf(registration.measurement);
  const body = JSON.stringify({ id: registration.id, ...(measurement !== undefined ? { measurement } : {}), tee: registration.tee, ...(registration.relay !== undefined ? { relay: registration.relay } : {}) });
  const res = await call(daemonPaths(root).controlSocket, 'POST', '/v1/containers', body);
  const value = jsonOf(res, `register container ${registration.id} with inclavared`) as Partial<ContainerSocketPaths>;
  if (typeof value?.socketDir !== 'string' || typeof value.socket !== 'string') {
    throw unavailable(`Cannot register container ${registration.id}: inclavared's answer lacks socketDir/socket`);
  }
  return { socketDir: value.socketDir, socket: value.socket };
}

/** Closes and removes the container's attestation socket. Throws INCLAVARED_ERR_NOT_REGISTERED (404) for unknown ids. */
export async function unregisterContainer(root: string, id: string): Promise<void> {
  const res = await call(daemonPaths(root).controlSocket, 'DELETE', `/v1/containers/${encodeURIComponent(id)}`);
  jsonOf(res, `unregister container ${id} from inclavared`);
}

/** The PEM certificate of the platform key (the trust anchor of this host's sim evidence). */
export async function getPlatformCert(root: string): Promise<string> {
  const res = await call(daemonPaths(root).controlSocket, 'GET', '/v1/platform-cert');
  if (res.status !== 200) jsonOf(res, 'get the platform certificate');
  if (!res.text.startsWith('-----BEGIN CERTIFICATE-----')) throw unavailable('Cannot get the platform certificate: the answer is not a PEM certificate');
  return res.text;
}

/** An attestation socket's answer to `POST /v1/evidence`. */
export interface EvidenceAnswer {
  /** The evidence format: sim, tdx or snp. */
  tee: string;
  evidence: Uint8Array;
}

/** Asks an attestation socket for evidence over `reportData` (0-64 bytes). */
export async function requestEvidence(socketPath: string, reportData: Uint8Array): Promise<EvidenceAnswer> {
  const res = await call(socketPath, 'POST', '/v1/evidence', JSON.stringify({ reportData: Buffer.from(reportData).toString('hex') }));
  const value = jsonOf(res, 'get evidence from the attestation socket') as { tee?: unknown; evidence?: unknown };
  if (typeof value?.tee !== 'string' || typeof value.evidence !== 'string') {
    throw unavailable('Cannot get evidence: the attestation socket answered without tee/evidence');
  }
  return { tee: value.tee, evidence: new Uint8Array(Buffer.from(value.evidence, 'base64')) };
}

/** An attestation socket's answer to `GET /v1/tee`. */
export interface TeeAnswer {
  /** The enclave type the container was registered with. */
  tee: string;
  /** The format its evidence comes in. */
  evidenceFormat: string;
}

/** Asks an attestation socket which TEE it attests. */
export async function requestTee(socketPath: string): Promise<TeeAnswer> {
  const value = jsonOf(await call(socketPath, 'GET', '/v1/tee'), 'ask the attestation socket for its TEE') as Partial<TeeAnswer>;
  if (typeof value?.tee !== 'string' || typeof value.evidenceFormat !== 'string') {
    throw unavailable('Cannot ask for the TEE: the attestation socket answered without tee/evidenceFormat');
  }
  return { tee: value.tee, evidenceFormat: value.evidenceFormat };
}

/** One request to the control API's pool endpoints (docs/enclave-pool.md "API"); resolves to the answer's JSON. */
export async function poolRequest(root: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const res = await call(daemonPaths(root).controlSocket, method, path, body === undefined ? undefined : JSON.stringify(body));
  return jsonOf(res, `${method} ${path} on inclavared's pool`);
}
