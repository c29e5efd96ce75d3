/**
 * The file-tree digest of a container's rootfs: SHA-384 over one record per path, in a fixed order, so that
 * two trees that differ in any path, type, mode, owner, content, link target or device number differ
 * (docs/enclave-containers.md, "The measurement" has the exact encoding; a third party can recompute it).
 *
 * Order: depth first from the root, the entries of a directory in ascending byte order of their names, a
 * directory's record before its contents. The root itself has no record (its mode and owner are the engine's,
 * e.g. an overlay mount's, not the image's). Excluded paths (mount points, the injected runtime) are skipped
 * with everything below them.
 *
 * Record: u32be length of the path, the path (bytes, absolute, as the container sees it), one type byte
 * (f d l c b p s), u32be mode & 07777 (setuid, setgid, sticky included), u32be uid, u32be gid, then by type:
 * f: the 48-byte SHA-384 of the content; l: u32be length of the target, the target bytes; c and b: u32be
 * major, u32be minor; d, p, s: nothing.
 *
 * Contents are hashed as streams, at most `concurrency` file-system calls in flight, each hard-linked inode
 * once. A reader with synchronous metadata calls (the real one) is walked in one synchronous pass, which is
 * several times faster when the digest cache answers for the contents; both walks give the same digest.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { TreeReader, TreeStat } from '../../sys/sys.ts';
import { runeError } from '../codes.ts';

const TYPE_BYTE: Record<TreeStat['type'], string> = { file: 'f', directory: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p', socket: 's' };

/** Options of {@link treeDigest}. */
export interface TreeDigestOptions {
  /** Absolute in-container paths skipped with their subtrees (normalized; see {@link exclusionList}). */
  excluded: readonly string[];
  /**
   * Absolute in-container paths that did not exist when the measurement began and that the backend may
   * create while it runs (mount points, the working directory: see missingAncestors() in ./rootfs-path.ts),
   * skipped with their subtrees should they appear. Unlike `excluded` they are not part of the measurement:
   * a digest taken before they existed would not have them either, so the digest is the same either way.
   */
  absent?: readonly string[];
  reader: TreeReader;
  /** File-system calls in flight at once (default 32). */
  concurrency?: number;
  /** Where regular files' digests come from (the digest cache, ./digest-cache.ts); default: reader.hashFile. */
  contents?: { digest(path: Buffer, st: TreeStat): Promise<Buffer>; cached?(path: Buffer, st: TreeStat): Buffer | undefined };
}

/** What a tree digest covered. */
export interface TreeDigest {
  /** SHA-384 of the records, lowercase hex. */
  digest: string;
  /** Records (paths) covered. */
  entries: number;
  /** Bytes of regular-file content hashed (each hard-linked inode once). */
  bytes: number;
}

/** A counting semaphore: at most `n` of the functions it runs are pending at once. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}

/** The record of one path (see the module comment). */
export function treeRecord(path: Buffer, st: Pick<TreeStat, 'type' | 'mode' | 'uid' | 'gid' | 'major' | 'minor'>, payload: { content?: Buffer; target?: Buffer } = {}): Buffer {
  const head = [u32(path.length), path, Buffer.from(TYPE_BYTE[st.type], 'latin1'), u32(st.mode & 0o7777), u32(st.uid), u32(st.gid)];
  switch (st.type) {
    case 'file':
      return Buffer.concat([...head, payload.content!]);
    case 'symlink':
      return Buffer.concat([...head, u32(payload.target!.length), payload.target!]);
    case 'char':
    case 'block':
      return Buffer.concat([...head, u32(st.major), u32(st.minor)]);
    default:
      return Buffer.concat(head);
  }
}

type Part = Promise<Buffer> | Promise<Part[]> | Part[];

/** Marks an eagerly started promise as handled: its result is awaited later, in tree order. */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** The digest of the tree at host path `root` (the container's "/"). */
export async function treeDigest(root: string, options: TreeDigestOptions): Promise<TreeDigest> {
  const { reader } = options;
  const limit = limiter(options.concurrency ?? 32);
  const excluded = new Set([...options.excluded, ...(options.absent ?? [])]);
  const inodes = new Map<string, Buffer | Promise<Buffer>>();
  let entries = 0;
  let bytes = 0;
  const rootBytes = Buffer.from(root);
  const slash = Buffer.from('/');
  const fail = (path: Buffer, err: unknown): never => {
    throw runeError('RUNE_ERR_MEASUREMENT', `Cannot measure the container's rootfs ${root}: ${path.toString()} cannot be read (${(err as Error).message})`, { cause: err });
  };
  const guard = async <T>(path: Buffer, fn: () => Promise<T>): Promise<T> => {
    try {
      return await limit(fn);
    } catch (err) {
      return fail(path, err);
    }
  };

  const contentOf = (path: Buffer, hostPath: Buffer, st: TreeStat): Buffer | Promise<Buffer> => {
    let content = inodes.get(st.inode);
    if (content === undefined) {
      bytes += st.size;
      const contents = options.contents;
      content = contents?.cached?.(hostPath, st) ?? later(guard(path, () => (contents !== undefined ? contents.digest(hostPath, st) : reader.hashFile(hostPath, 'sha384'))));
      inodes.set(st.inode, content);
    }
    return content;
  };
  const hash = createHash('sha384');

  if (reader.sync !== undefined) {
    // One synchronous pass over the metadata (no event-loop round trip per path); contents not in the cache
    // are hashed meanwhile in the background, at most `concurrency` at a time, and fed in tree order. Records
    // are hashed as soon as every record before them is known, so memory stays bounded by the pending reads.
    const sync = reader.sync;
    const queue: (Buffer | Promise<Buffer>)[] = [];
    const emit = (record: Buffer | Promise<Buffer>): void => {
      if (queue.length === 0 && Buffer.isBuffer(record)) hash.update(record);
      else queue.push(record);
    };
    const now = <T>(path: Buffer, fn: () => T): T => {
      try {
        return fn();
      } catch (err) {
        return fail(path, err);
      }
    };
    const walk = (inContainer: Buffer): void => {
      const host = inContainer.length === 1 ? rootBytes : Buffer.concat([rootBytes, inContainer]);
      const names = now(inContainer, () => sync.readdir(host)).sort(Buffer.compare);
      const prefix = inContainer.length === 1 ? inContainer : Buffer.concat([inContainer, slash]);
      for (const name of names) {
        const path = Buffer.concat([prefix, name]);
        if (excluded.has(path.toString())) continue;
        const hostPath = Buffer.concat([rootBytes, path]);
        const st = now(path, () => sync.lstat(hostPath));
        entries++;
        switch (st.type) {
          case 'file': {
            const content = contentOf(path, hostPath, st);
            emit(Buffer.isBuffer(content) ? treeRecord(path, st, { content }) : later(content.then((c) => treeRecord(path, st, { content: c }))));
            break;
          }
          case 'symlink':
            emit(treeRecord(path, st, { target: now(path, () => sync.readlink(hostPath)) }));
            break;
          case 'directory':
            emit(treeRecord(path, st));
            walk(path);
            break;
          default:
            emit(treeRecord(path, st));
        }
      }
    };
    walk(Buffer.from('/'));
    for (const record of queue) hash.update(await record);
    return { digest: hash.digest('hex'), entries, bytes };
  }

  const directory = async (inContainer: Buffer): Promise<Part[]> => {
    const host = inContainer.length === 1 ? rootBytes : Buffer.concat([rootBytes, inContainer]);
    const names = (await guard(inContainer, () => reader.readdir(host))).sort(Buffer.compare);
    const prefix = inContainer.length === 1 ? inContainer : Buffer.concat([inContainer, slash]);
    const children = names
      .map((name) => Buffer.concat([prefix, name]))
      .filter((path) => !excluded.has(path.toString()));
    const stats = await Promise.all(children.map((path) => guard(path, () => reader.lstat(Buffer.concat([rootBytes, path])))));
    return children.map((path, i): Part => {
      const st = stats[i]!;
      const hostPath = Buffer.concat([rootBytes, path]);
      entries++;
      switch (st.type) {
        case 'file':
          return later<Buffer>(Promise.resolve(contentOf(path, hostPath, st)).then((c) => treeRecord(path, st, { content: c })));
        case 'symlink':
          return later<Buffer>(guard(path, () => reader.readlink(hostPath)).then((target) => treeRecord(path, st, { target })));
        case 'directory':
          return [Promise.resolve(treeRecord(path, st)), later(directory(path))];
        default:
          return Promise.resolve(treeRecord(path, st));
      }
    });
  };

  const feed = async (part: Part): Promise<void> => {
    const resolved = await part;
    if (Buffer.isBuffer(resolved)) {
      hash.update(resolved);
      return;
    }
    for (const child of resolved) await feed(child);
  };
  await feed(directory(Buffer.from('/')));
  return { digest: hash.digest('hex'), entries, bytes };
}

/**
 * Paths every container's rootfs measurement excludes, whatever its config says: the kernel's virtual file
 * systems and the device tree (always mounted over by the engine), the files the engines bind-mount over or
 * create in the rootfs before the runtime runs (podman, CRI-O, containerd's CRI plugin, Docker: hostname,
 * hosts, resolv.conf; podman's /etc/mtab link to /proc/mounts), /run (runtime state: podman creates it for
 * /run/.containerenv, engines mount secrets and tmpfs there), and rune's injected runtime.
 */
export const ALWAYS_EXCLUDED: readonly string[] = Object.freeze([
  '/.rune',
  '/dev',
  '/etc/hostname',
  '/etc/hosts',
  '/etc/mtab',
  '/etc/resolv.conf',
  '/proc',
  '/run',
  '/sys',
]);

/**
 * The normalized exclusion list: {@link ALWAYS_EXCLUDED} and the mount destinations (each resolved through
 * the rootfs's symlinks by `resolve`, as runc does, and normalized), without "/" and without paths below
 * another excluded path; sorted by bytes.
 */
export function exclusionList(destinations: readonly string[], resolve: (destination: string) => string = (d) => d): string[] {
  const all = new Set<string>(ALWAYS_EXCLUDED);
  for (const d of destinations) {
    if (!d.startsWith('/')) continue; // runc makes relative destinations absolute; OCI requires absolute ones
    const p = posix.normalize(resolve(posix.normalize(d)));
    if (p !== '/' && p !== '') all.add(p.endsWith('/') ? p.slice(0, -1) : p);
  }
  const sorted = [...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return sorted.filter((p) => !sorted.some((q) => q !== p && p.startsWith(`${q}/`)));
}
