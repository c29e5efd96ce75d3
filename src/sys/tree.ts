/**
 * The real {@link TreeReader}: node:fs/promises with raw (Buffer) paths. File contents are hashed in chunks
 * through one reused buffer per read; small files are read in one call (cheaper than a stream), a large
 * file never sits in memory whole.
 */
import { createHash } from 'node:crypto';
import { lstat, open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import type { FileIdentity, TreeReader, TreeStat } from './sys.ts';

const CHUNK = 256 * 1024;

function typeOf(st: BigIntStats): TreeStat['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** Linux's dev_t split (glibc's gnu_dev_major/minor), exact for the 32-bit numbers Linux uses. */
export function splitDevice(rdev: number): { major: number; minor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev >>> 0;
  return { major: ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0), minor: ((low & 0xff) | ((low >>> 12) & 0xfff00)) >>> 0 };
}

/** The digest of what remains to be read from an open file, read in chunks. */
export async function hashHandle(handle: FileHandle, algorithm: string): Promise<Buffer> {
  const hash = createHash(algorithm);
  const buffer = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
  }
  return hash.digest();
}

async function hashFile(path: Buffer, algorithm: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    return await hashHandle(handle, algorithm);
  } finally {
    await handle.close();
  }
}

/** The identity the digest cache keys on, from a bigint stat. */
export function identityOf(st: BigIntStats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, btimeNs: st.birthtimeNs };
}

/** The Linux implementation. */
function treeStatOf(st: BigIntStats): TreeStat {
  const type = typeOf(st);
  const device = type === 'char' || type === 'block' ? splitDevice(Number(st.rdev)) : { major: 0, minor: 0 };
  return {
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    ...device,
    inode: `${st.dev}:${st.ino}`,
    ...(type === 'file' ? { identity: identityOf(st) } : {}),
  };
}

export const nodeTreeReader: TreeReader = {
  lstat: async (path) => treeStatOf(await lstat(path, { bigint: true })),
  readdir: (path) => readdir(path, { encoding: 'buffer' }),
  readlink: (path) => readlink(path, { encoding: 'buffer' }),
  hashFile,
  sync: {
    lstat: (path) => treeStatOf(lstatSync(path, { bigint: true })),
    readdir: (path) => readdirSync(path, { encoding: 'buffer' }),
    readlink: (path) => readlinkSync(path, { encoding: 'buffer' }),
  },
};
