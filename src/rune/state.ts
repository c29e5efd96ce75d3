/**
 * rune's state layout, shared with the launcher (src/launcher/rune.c):
 *
 *     ROOT/ID/              rune's state directory for the container
 *     ROOT/ID/runc/         the backend runtime's --root (it keeps ROOT/ID/runc/ID/ inside)
 *     ROOT/ID/enclave.json  enclave metadata; present only for enclave containers
 */
import { join } from 'node:path';
import { runeError } from './codes.ts';
import type { Sys } from '../sys/sys.ts';

/** runc's default is /run/runc; rune's is /run/rune. */
export const DEFAULT_ROOT = '/run/rune';

/** runc's container id rule (`^[\w+-\.]+$`), minus "." and "..", which would escape the root. */
const ID_PATTERN = /^[\w+.-]+$/;

/** Throws RUNE_ERR_INVALID_ID unless `id` is a container id runc would accept. */
export function validateId(id: string): void {
  if (!ID_PATTERN.test(id) || id === '.' || id === '..' || id.length > 1024) {
    throw runeError(
      'RUNE_ERR_INVALID_ID',
      `Invalid container id ${JSON.stringify(id)}: use letters, digits and _ + - . only`,
    );
  }
}

/** Paths of one container's state. */
export interface ContainerPaths {
  dir: string;
  backendRoot: string;
  enclaveFile: string;
}

/** The state paths of container `id` under `root`. */
export function containerPaths(root: string, id: string): ContainerPaths {
  const dir = join(root, id);
  return { dir, backendRoot: join(dir, 'runc'), enclaveFile: join(dir, 'enclave.json') };
}

/** True when the backend still keeps state for the container. */
export function backendHasState(sys: Sys, paths: ContainerPaths, id: string): boolean {
  return sys.stat(join(paths.backendRoot, id)) !== undefined;
}

/**
 * Claims the id: creates ROOT/ID atomically (mkdir without -p), so two creates of one id cannot both win.
 * Throws RUNE_ERR_ALREADY_EXISTS when the id is taken.
 */
export function claimContainer(sys: Sys, root: string, id: string): ContainerPaths {
  const paths = containerPaths(root, id);
  sys.mkdir(root, { recursive: true, mode: 0o700 });
  try {
    sys.mkdir(paths.dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw runeError(
        'RUNE_ERR_ALREADY_EXISTS',
        `Cannot create container ${JSON.stringify(id)}: a container with this id already exists under ${root}; delete it first or choose another id`,
      );
    }
    throw runeError('RUNE_ERR_STATE', `Cannot create state directory ${paths.dir}`, { cause: err });
  }
  return paths;
}

/** Returns the paths of an existing container or throws RUNE_ERR_NOT_FOUND. */
export function findContainer(sys: Sys, root: string, id: string): ContainerPaths {
  validateId(id);
  const paths = containerPaths(root, id);
  let isDir = false;
  try {
    isDir = sys.stat(paths.dir)?.type === 'directory';
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw runeError(
      'RUNE_ERR_NOT_FOUND',
      `container ${JSON.stringify(id)} does not exist under ${root}`,
    );
  }
  return paths;
}

/** Removes rune's state directory of a container. */
export function removeState(sys: Sys, paths: ContainerPaths): void {
  sys.remove(paths.dir);
}

/** True when the container is an enclave container (its state holds enclave metadata). */
export function isEnclaveContainer(sys: Sys, paths: ContainerPaths): boolean {
  return sys.stat(paths.enclaveFile) !== undefined;
}
