/**
 * Resolving a path inside a container's root filesystem from the host, the way the container will see it:
 * symlinks (absolute or relative) are followed relative to the rootfs, never out of it. Used to find and
 * measure the entrypoint before the container exists.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { runeError } from '../codes.ts';

const MAX_LINKS = 40;

/** How paths in a rootfs are looked at (rune passes its OS seam, src/sys/sys.ts). */
export interface RootfsReader {
  lstat(path: string): { type: string } | undefined;
  readlink(path: string): string;
}

const nodeReader: RootfsReader = {
  lstat(path) {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    return { type: st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other' };
  },
  readlink: (path) => readlinkSync(path),
};

/** The host path of `path` (absolute, as seen inside the container) in `rootfs`, symlinks resolved inside it. */
export function resolveInRootfs(rootfs: string, path: string, fs: RootfsReader = nodeReader): string {
  let pending = posix.normalize(path).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop(); // never above the root, as in the container
      continue;
    }
    const host = join(rootfs, ...done, part);
    let isLink = false;
    try {
      isLink = fs.lstat(host)?.type === 'symlink';
    } catch {
      // a missing component: the caller decides what a missing file means
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) {
      throw runeError('RUNE_ERR_ENTRYPOINT', `Cannot resolve ${path} in the container's rootfs: too many levels of symbolic links`);
    }
    const target = fs.readlink(host);
    const rest = target.split('/').filter(Boolean);
    if (target.startsWith('/')) done.length = 0;
    pending = rest.concat(pending);
  }
  return join(rootfs, ...done);
}

/**
 * What the backend may create in the rootfs while it creates a container: for each of `paths` (absolute
 * in-container paths: the mount destinations, the working directory), resolved through the rootfs's symlinks
 * as runc resolves them, the first component that does not exist now (runc makes it, and what is below it, as
 * a mount point). Paths that exist, or cannot be resolved, add nothing. Sorted, without duplicates.
 */
export function missingAncestors(rootfs: string, paths: readonly string[], fs: RootfsReader = nodeReader): string[] {
  const missing = new Set<string>();
  for (const path of paths) {
    if (!path.startsWith('/')) continue;
    let host: string;
    try {
      host = resolveInRootfs(rootfs, path, fs);
    } catch {
      continue; // too many links: the backend fails on it as well
    }
    const parts = posix.relative(rootfs, host).split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      let exists: boolean;
      try {
        exists = fs.lstat(join(rootfs, ...parts.slice(0, i))) !== undefined;
      } catch {
        break; // e.g. a file where a directory should be: the backend cannot create anything below it
      }
      if (!exists) {
        missing.add(`/${parts.slice(0, i).join('/')}`);
        break;
      }
    }
  }
  return [...missing].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** An OCI mount, as far as resolving paths goes. */
export interface MountLike {
  destination?: unknown;
  source?: unknown;
  type?: unknown;
  options?: unknown;
}

/**
 * The host path of a container path, looking through bind mounts first (the longest destination that
 * contains the path wins; e.g. a module from `podman run -v DIR:/w`), then the rootfs.
 */
export function resolveInContainer(rootfs: string, mounts: readonly MountLike[], path: string, fs: RootfsReader = nodeReader): string {
  const target = posix.normalize(path);
  let best: { destination: string; source: string } | undefined;
  for (const m of mounts) {
    const isBind = m.type === 'bind' || (Array.isArray(m.options) && m.options.some((o) => o === 'bind' || o === 'rbind'));
    if (!isBind || typeof m.destination !== 'string' || typeof m.source !== 'string') continue;
    const destination = posix.normalize(m.destination);
    const inside = target === destination || target.startsWith(destination.endsWith('/') ? destination : `${destination}/`);
    if (inside && (best === undefined || destination.length > best.destination.length)) best = { destination, source: m.source };
  }
  if (best === undefined) return resolveInRootfs(rootfs, target, fs);
  return resolveInRootfs(best.source, posix.relative(best.destination, target) || '.', fs);
}

/** Finds the container's entrypoint as runc would: an absolute path, or searched in the process's PATH. */
export function findEntrypoint(
  rootfs: string,
  arg0: string,
  env: readonly string[],
  cwd = '/',
  mounts: readonly MountLike[] = [],
  fs: RootfsReader = nodeReader,
): { inContainer: string; host: string } | undefined {
  const exists = (p: string): boolean => {
    try {
      return fs.lstat(p)?.type === 'file';
    } catch {
      return false;
    }
  };
  if (arg0.includes('/')) {
    const inContainer = posix.resolve(cwd, arg0);
    const host = resolveInContainer(rootfs, mounts, inContainer, fs);
    return exists(host) ? { inContainer, host } : undefined;
  }
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  for (const dir of pathVar.split(':').filter((d) => d.startsWith('/'))) {
    const inContainer = posix.join(dir, arg0);
    const host = resolveInContainer(rootfs, mounts, inContainer, fs);
    if (exists(host)) return { inContainer, host };
  }
  return undefined;
}
