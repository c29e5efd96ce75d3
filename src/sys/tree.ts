/**
 * The real {@link TreeReader}: node:fs/promises with raw (Buffer) paths. File contents are hashed in chunks
 * through one reused buffer per read; small files are read in one call (cheaper than a stream), a large
 * file never sits in memory whole.
 */
import { createHash } from 'node:crypto';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { TreeReader, TreeStat } from './sys.ts';

const CHUNK = 256 * 1024;

function typeOf(st: Stats): TreeStat['type'] {
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

async function hashFile(path: Buffer, algorithm: string): Promise<Buffer> {
  const hash = createHash(algorithm);
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest();
}

/** The Linux implementation. */
export const nodeTreeReader: TreeReader = {
  async lstat(path) {
    const st = await lstat(path);
    const type = typeOf(st);
    const device = type === 'char' || type === 'block' ? splitDevice(st.rdev) : { major: 0, minor: 0 };
    return { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, ...device, inode: `${st.dev}:${st.ino}` };
  },
  readdir: (path) => readdir(path, { encoding: 'buffer' }),
  readlink: (path) => readlink(path, { encoding: 'buffer' }),
  hashFile,
};
