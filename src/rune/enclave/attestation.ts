/**
 * The host side of an enclave container's attestation: at create rune registers the container with
 * inclavared (starting the daemon if it is not running), which opens a per-container attestation socket
 * bound to the host-computed measurement; the socket's directory is bind-mounted into the container at
 * /.rune/attest. At delete the registration goes (the launcher does that itself: see
 * src/launcher/rune.c, which reads the same ROOT/ID/attestation file).
 *
 * ROOT/ID/attestation holds two lines: inclavared's control socket, and the id the container is registered
 * under (a digest of rune's state directory: unique across rune roots and short enough for socket paths).
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { InclavareError } from '../../errors/errors.ts';
import { bindMeasurement as bindMeasurementAt, ensureDaemon, registerContainer, unregisterContainer } from '../../attestation-socket/client.ts';
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../../attestation-socket/codes.ts';
import { daemonPaths, DEFAULT_DATA_DIR, DEFAULT_ROOT } from '../../attestation-socket/paths.ts';
import type { Sys } from '../../sys/sys.ts';
import { faultPoint } from '../../util/fault.ts';
import type { ContainerPaths } from '../state.ts';

/** An enclave container's registration with inclavared. */
export interface AttestationRegistration {
  /** inclavared's control socket. */
  controlSocket: string;
  /** The id the container is registered under. */
  key: string;
  /** The attestation socket's directory and path on the host. */
  socketDir: string;
  socket: string;
}

/** The conversation with inclavared (its control socket), apart from rune's own files. */
export interface AttestationService {
  /** Registers container `id` (starting the daemon when needed); returns its control socket and the container's socket. */
  register(env: Readonly<Record<string, string | undefined>>, request: { id: string; measurement?: string; tee: 'sim' | 'wasm' | 'tdx' | 'snp'; relay?: string }): Promise<{ controlSocket: string; socketDir: string; socket: string }>;
  /** Unregisters `key` at the daemon whose control socket is `controlSocket`; an unknown key is fine. */
  unregister(env: Readonly<Record<string, string | undefined>>, controlSocket: string, key: string): Promise<void>;
  /** The control socket `register` will use, known before registering (so that rune records it first). */
  controlSocket?(env: Readonly<Record<string, string | undefined>>): string;
  /**
   * Binds the measurement of a container registered without one (`register` with no measurement: the
   * socket exists at once, evidence is refused until the measurement is bound; docs/attestation-socket.md).
   */
  bindMeasurement?(env: Readonly<Record<string, string | undefined>>, controlSocket: string, key: string, measurement: string): Promise<void>;
}

/**
 * How long an inclavared that rune started stays without a registered container ($INCLAVARED_IDLE_EXIT, 0:
 * for ever). rune runs under the engine's helper (conmon, a shim), which adopts the daemon as a subreaper; conmon
 * waits for it before it exits (docs/troubleshooting.md).
 */
export const DEFAULT_IDLE_EXIT_SECONDS = 30;

/** inclavared's location: $INCLAVARED_ROOT / $INCLAVARED_DATA_DIR, else the defaults. */
export function inclavaredLocation(env: Readonly<Record<string, string | undefined>> = process.env): { root: string; dataDir: string; tsmPath?: string; exitWhenIdleSeconds: number } {
  const idle = Number(env.INCLAVARED_IDLE_EXIT || DEFAULT_IDLE_EXIT_SECONDS);
  return {
    root: env.INCLAVARED_ROOT || DEFAULT_ROOT,
    dataDir: env.INCLAVARED_DATA_DIR || DEFAULT_DATA_DIR,
    exitWhenIdleSeconds: Number.isFinite(idle) && idle >= 0 ? idle : DEFAULT_IDLE_EXIT_SECONDS,
    ...(env.RUNE_TSM_PATH ? { tsmPath: env.RUNE_TSM_PATH } : {}),
  };
}

/** The real service: inclavared under $INCLAVARED_ROOT, started by ensureDaemon when it is not running. */
export const inclavaredAttestation: AttestationService = {
  async register(env, request) {
    const { root } = inclavaredLocation(env);
    const socket = await withDaemon(env, root, () => registerContainer(root, request));
    return { controlSocket: daemonPaths(root).controlSocket, ...socket };
  },
  async unregister(env, controlSocket, key) {
    const root = join(controlSocket, '..');
    try {
      await unregisterContainer(root, key);
      return;
    } catch (err) {
      if (err instanceof InclavareError && err.errorClass === 'not-found') return;
      if (!(err instanceof InclavareError && err.code === INCLAVARED_ERROR_CODES.UNAVAILABLE)) throw err;
      // The daemon is gone (killed, crashed): its registry still holds the container, and a restarted daemon
      // would re-open its socket. Start it again, as create would, and unregister; only the daemon this
      // environment names is started (its data directory holds the platform key).
      if (resolve(inclavaredLocation(env).root) !== resolve(root)) {
        throw inclavaredError(
          INCLAVARED_ERROR_CODES.UNAVAILABLE,
          `Cannot remove the attestation socket of container ${key}: inclavared under ${root} does not answer; start it (inclavared serve --root ${root}) and delete the container again`,
          { cause: err },
        );
      }
    }
    await ensureDaemon(inclavaredLocation(env));
    try {
      await unregisterContainer(root, key);
    } catch (err) {
      if (!(err instanceof InclavareError && err.errorClass === 'not-found')) throw err;
    }
  },
  controlSocket(env) {
    return daemonPaths(inclavaredLocation(env).root).controlSocket;
  },
  async bindMeasurement(env, controlSocket, key, measurement) {
    // A daemon killed since the registration: its registry holds the pending container.
    const root = join(controlSocket, '..');
    await withDaemon(env, root, () => bindMeasurementAt(root, key, measurement));
  },
};

/**
 * Runs `call` against the daemon under `root`; when that daemon does not answer (not running, stopping:
 * idle or killed) and it is the one this environment names, starts it and runs `call` once more. The daemon
 * usually runs: asking it first saves the round trip of a liveness check.
 */
async function withDaemon<T>(env: Readonly<Record<string, string | undefined>>, root: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const location = inclavaredLocation(env);
    if (!(err instanceof InclavareError && err.code === INCLAVARED_ERROR_CODES.UNAVAILABLE) || resolve(location.root) !== resolve(root)) throw err;
    await ensureDaemon(location);
    return call();
  }
}

function registrationFile(paths: ContainerPaths): string {
  return join(paths.dir, 'attestation');
}

/** The evidence kind inclavared serves for an enclave type and runtime; undefined when it serves none. */
export function attestationTee(type: string, runtime: string): 'sim' | 'wasm' | 'tdx' | 'snp' | undefined {
  if (type === 'sim') return runtime === 'wasm' ? 'wasm' : 'sim';
  if (type === 'tdx' || type === 'snp') return type;
  return undefined; // SGX evidence comes from the enclave runtime itself
}

/** Registers the container and records the registration in its state directory (atomically: the launcher reads it). */
export async function registerAttestation(
  sys: Sys,
  paths: ContainerPaths,
  options: { measurement?: string; tee: 'sim' | 'wasm' | 'tdx' | 'snp'; service?: AttestationService | undefined; relay?: string },
): Promise<AttestationRegistration> {
  const key = registrationKey(paths);
  const service = options.service ?? inclavaredAttestation;
  // Recorded before registering: a rune killed while inclavared registers the container leaves the record
  // that `rune delete` needs to unregister it (unregistering an unknown key is fine).
  if (service.controlSocket !== undefined) sys.writeFileAtomic(registrationFile(paths), `${service.controlSocket(sys.env)}\n${key}\n`, { mode: 0o600 });
  const socket = await service.register(sys.env, { id: key, ...(options.measurement !== undefined ? { measurement: options.measurement } : {}), tee: options.tee, ...(options.relay !== undefined ? { relay: options.relay } : {}) });
  faultPoint(sys.env.RUNE_FAULT, 'create:after-register');
  sys.writeFileAtomic(registrationFile(paths), `${socket.controlSocket}\n${key}\n`, { mode: 0o600 });
  return { key, ...socket };
}

/** The id a container is registered under: a digest of rune's state directory (unique across rune roots). */
export function registrationKey(paths: ContainerPaths): string {
  return createHash('sha256').update(paths.dir).digest('hex').slice(0, 24);
}

/** The container's registration, or undefined when it has none. */
export function readRegistration(sys: Sys, paths: ContainerPaths): { controlSocket: string; key: string } | undefined {
  let text: string;
  try {
    text = sys.readFile(registrationFile(paths)).toString('utf8');
  } catch {
    return undefined;
  }
  const [controlSocket, key] = text.split('\n');
  if (!controlSocket || !key) return undefined;
  return { controlSocket, key };
}

/** Removes the container's registration (and so its socket). Missing registrations are fine. */
export async function unregisterAttestation(sys: Sys, paths: ContainerPaths, service: AttestationService = inclavaredAttestation): Promise<void> {
  const registration = readRegistration(sys, paths);
  if (registration === undefined) return;
  await service.unregister(sys.env, registration.controlSocket, registration.key);
}

/** The attestation socket's host path of a registered container. */
export function hostAttestationSocket(sys: Sys, paths: ContainerPaths): string | undefined {
  const registration = readRegistration(sys, paths);
  if (registration === undefined) return undefined;
  return join(registration.controlSocket, '..', 'containers', registration.key, 'attest.sock');
}
