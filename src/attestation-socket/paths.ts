/**
 * inclavared's file layout (pure):
 *
 *     ROOT/control.sock                 control API (mode 0600; ROOT itself is 0700)
 *     ROOT/inclavared.pid               the serving daemon's pid: one daemon per ROOT
 *     ROOT/inclavared.log               stdout/stderr of a daemon started by ensureDaemon()
 *     ROOT/containers.json              registered containers, so a restarted daemon re-opens their sockets
 *     ROOT/containers/ID/attest.sock    one container's attestation socket (its directory is what rune
 *                                       bind-mounts, so a restarted daemon's new socket appears inside)
 *     DATA_DIR/platform-key.pem         the platform's Ed25519 key (0600, DATA_DIR 0700)
 *     DATA_DIR/platform-cert.pem        its self-signed certificate
 *
 * The registry lives outside ROOT/containers/ID/ on purpose: that directory is visible inside the
 * container, and nothing a container can see may decide its measurement.
 */
import { join } from 'node:path';
import { INCLAVARED_ERROR_CODES, inclavaredError } from './codes.ts';

/** Default ROOT (runtime state, tmpfs). */
export const DEFAULT_ROOT = '/run/inclavared';
/** Default DATA_DIR (the platform key survives reboots). */
export const DEFAULT_DATA_DIR = '/var/lib/inclavared';
/** Default configfs-tsm report directory (Linux 6.7+). */
export const DEFAULT_TSM_PATH = '/sys/kernel/config/tsm/report';

/** sun_path holds 108 bytes including the terminating NUL (unix(7)). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** runc's container id rule (`^[\w+-\.]+$`) minus "." and "..", which would escape ROOT/containers. */
const ID_PATTERN = /^[\w+.-]{1,256}$/;

/** All paths of one ROOT. */
export interface DaemonPaths {
  root: string;
  controlSocket: string;
  pidFile: string;
  logFile: string;
  stateFile: string;
  containersDir: string;
}

/** The paths of ROOT. */
export function daemonPaths(root: string): DaemonPaths {
  return {
    root,
    controlSocket: join(root, 'control.sock'),
    pidFile: join(root, 'inclavared.pid'),
    logFile: join(root, 'inclavared.log'),
    stateFile: join(root, 'containers.json'),
    containersDir: join(root, 'containers'),
  };
}

/** The directory of container `id` (bind-mounted into the container) and its attestation socket. */
export interface ContainerSocketPaths {
  socketDir: string;
  socket: string;
}

/** Where container `id`'s attestation socket lives; validates the id and the socket path length. */
export function containerSocketPaths(root: string, id: string): ContainerSocketPaths {
  validateContainerId(id);
  const socketDir = join(root, 'containers', id);
  const socket = join(socketDir, 'attest.sock');
  checkSocketPath(socket, `the attestation socket of container ${JSON.stringify(id)}`);
  return { socketDir, socket };
}

/** Throws INCLAVARED_ERR_INVALID_ID unless `id` is a container id runc would accept. */
export function validateContainerId(id: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id) || id === '.' || id === '..') {
    throw inclavaredError(
      INCLAVARED_ERROR_CODES.INVALID_ID,
      `Invalid container id ${JSON.stringify(id)}: use 1-256 letters, digits and _ + - . only`,
    );
  }
}

/**
 * Throws INCLAVARED_ERR_SOCKET_PATH_TOO_LONG when `path` does not fit sun_path: older libuv silently
 * truncated such paths, and the original's agent socket broke `docker exec` exactly this way.
 */
export function checkSocketPath(path: string, what: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw inclavaredError(
      INCLAVARED_ERROR_CODES.SOCKET_PATH_TOO_LONG,
      `Cannot create ${what}: ${path} is ${bytes} bytes and unix socket paths are limited to ${MAX_SOCKET_PATH_BYTES}; use a shorter --root or container id`,
      { details: { path, bytes } },
    );
  }
}
