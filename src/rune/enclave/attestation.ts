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
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InclavareError } from '../../errors/errors.ts';
import { ensureDaemon, registerContainer, unregisterContainer } from '../../attestation-socket/client.ts';
import { daemonPaths, DEFAULT_DATA_DIR, DEFAULT_ROOT } from '../../attestation-socket/paths.ts';
import type { ContainerPaths } from '../state.ts';

/** An enclave container's registration with inclavared. */
export interface AttestationRegistration {
  /** inclavared's ROOT. */
  root: string;
  /** The id the container is registered under. */
  key: string;
  /** The attestation socket's directory and path on the host. */
  socketDir: string;
  socket: string;
}

/** inclavared's location: $INCLAVARED_ROOT / $INCLAVARED_DATA_DIR, else the defaults. */
export function inclavaredLocation(env: NodeJS.ProcessEnv = process.env): { root: string; dataDir: string; tsmPath?: string } {
  return {
    root: env.INCLAVARED_ROOT || DEFAULT_ROOT,
    dataDir: env.INCLAVARED_DATA_DIR || DEFAULT_DATA_DIR,
    ...(env.RUNE_TSM_PATH ? { tsmPath: env.RUNE_TSM_PATH } : {}),
  };
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

/** Registers the container and records the registration in its state directory. */
export async function registerAttestation(paths: ContainerPaths, measurement: string, tee: 'sim' | 'wasm' | 'tdx' | 'snp'): Promise<AttestationRegistration> {
  const location = inclavaredLocation();
  await ensureDaemon(location);
  const key = createHash('sha256').update(paths.dir).digest('hex').slice(0, 24);
  const socket = await registerContainer(location.root, { id: key, measurement, tee });
  writeFileSync(registrationFile(paths), `${daemonPaths(location.root).controlSocket}\n${key}\n`, { mode: 0o600 });
  return { root: location.root, key, ...socket };
}

/** The container's registration, or undefined when it has none. */
export function readRegistration(paths: ContainerPaths): { controlSocket: string; key: string } | undefined {
  let text: string;
  try {
    text = readFileSync(registrationFile(paths), 'utf8');
  } catch {
    return undefined;
  }
  const [controlSocket, key] = text.split('\n');
  if (!controlSocket || !key) return undefined;
  return { controlSocket, key };
}

/** Removes the container's registration (and so its socket). Missing registrations are fine. */
export async function unregisterAttestation(paths: ContainerPaths): Promise<void> {
  const registration = readRegistration(paths);
  if (registration === undefined) return;
  try {
    await unregisterContainer(join(registration.controlSocket, '..'), registration.key);
  } catch (err) {
    if (!(err instanceof InclavareError && err.errorClass === 'not-found')) throw err;
  }
}

/** The attestation socket's host path of a registered container. */
export function hostAttestationSocket(paths: ContainerPaths): string | undefined {
  const registration = readRegistration(paths);
  if (registration === undefined) return undefined;
  return join(registration.controlSocket, '..', 'containers', registration.key, 'attest.sock');
}

