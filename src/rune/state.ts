/**
 * rune's state layout, shared with the launcher (src/launcher/rune.c):
 *
 *     ROOT/ID/              rune's state directory for the container
 *     ROOT/ID/runc/         the backend runtime's --root (it keeps ROOT/ID/runc/ID/ inside)
 *     ROOT/ID/enclave.json  enclave metadata; present only for enclave containers
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InclavareError } from '../errors/errors.ts';

/** runc's default is /run/runc; rune's is /run/rune. */
export const DEFAULT_ROOT = '/run/rune';

/** runc's container id rule (`^[\w+-\.]+$`), minus "." and "..", which would escape the root. */
const ID_PATTERN = /^[\w+.-]+$/;

/** Throws RUNE_ERR_INVALID_ID unless `id` is a container id runc would accept. */
export function validateId(id: string): void {
  if (!ID_PATTERN.test(id) || id === '.' || id === '..' || id.length > 1024) {
    throw new InclavareError(
      'RUNE_ERR_INVALID_ID',
      'invalid-argument',
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
export function backendHasState(paths: ContainerPaths, id: string): boolean {
  return existsSync(join(paths.backendRoot, id));
}

/**
 * Claims the id: creates ROOT/ID atomically (mkdir without -p), so two creates of one id cannot both win.
 * Throws RUNE_ERR_ALREADY_EXISTS when the id is taken.
 */
export function claimContainer(root: string, id: string): ContainerPaths {
  const paths = containerPaths(root, id);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  try {
    mkdirSync(paths.dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new InclavareError(
        'RUNE_ERR_ALREADY_EXISTS',
        'already-exists',
        `Cannot create container ${JSON.stringify(id)}: a container with this id already exists under ${root}; delete it first or choose another id`,
      );
    }
    throw new InclavareError('RUNE_ERR_STATE', 'internal', `Cannot create state directory ${paths.dir}`, { cause: err });
  }
  return paths;
}

/** Returns the paths of an existing container or throws RUNE_ERR_NOT_FOUND. */
export function findContainer(root: string, id: string): ContainerPaths {
  validateId(id);
  const paths = containerPaths(root, id);
  let isDir = false;
  try {
    isDir = statSync(paths.dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new InclavareError(
      'RUNE_ERR_NOT_FOUND',
      'not-found',
      `container ${JSON.stringify(id)} does not exist under ${root}`,
    );
  }
  return paths;
}

/** Removes rune's state directory of a container. */
export function removeState(paths: ContainerPaths): void {
  rmSync(paths.dir, { recursive: true, force: true });
}

/** True when the container is an enclave container (its state holds enclave metadata). */
export function isEnclaveContainer(paths: ContainerPaths): boolean {
  return existsSync(paths.enclaveFile);
}
