/**
 * The warm path of the rootfs digest in C (./tree-walk.c, built as dist/lib/libinclavare-walk.so and called
 * through koffi): when every regular file of the rootfs has its digest in the digest cache, the walk (one
 * directory read per directory, one statx per path, a table lookup per file) runs without allocating a
 * JavaScript object per path. It returns the records treeDigest (./tree-digest.ts) would hash, byte for
 * byte, or nothing at the first thing it does not answer for (a file not in the cache, a changed file, a
 * non-ASCII name, an error: the list is in tree-walk.c), and then the caller measures with treeDigest, which
 * gives the same digest or the error. It changes how fast the digest is computed, never what it is.
 *
 * Why: in a pool worker the JavaScript walk of a 2,400-path rootfs cost 85-110 ms of CPU (V8 compiling and
 * optimizing it for the first tree a process walks, BigInt stats, garbage collection), while the kernel's
 * share is 15-25 ms (docs/benchmarks.md, "Enclave start"). RUNE_NATIVE_WALK=0 turns it off.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { distDir } from '../../util/dist-dir.ts';
import { nodeTreeReader } from '../../sys/tree.ts';
import type { CacheSession } from './digest-cache.ts';
import { treeDigest, type TreeDigest, type TreeDigestOptions } from './tree-digest.ts';

/** The library's file name under dist/lib. */
export const NATIVE_WALK_LIBRARY = 'libinclavare-walk.so';

const WALK_DONE = 0;
const WALK_SHORT = 2;

type WalkFunction = (
  root: string,
  excluded: Buffer,
  excludedLength: number,
  upper: Buffer,
  upperLength: number,
  dev: bigint,
  table: Buffer,
  count: number,
  used: Uint8Array,
  out: Buffer,
  cap: bigint,
  result: Buffer,
) => number;

let walkFunction: WalkFunction | null | undefined;

/** The library's path: $RUNE_DIST_DIR/lib or the installation's dist/lib. */
export function nativeWalkLibrary(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return join(distDir(env), 'lib', NATIVE_WALK_LIBRARY);
}

/**
 * Loads the library (once per process; a pool worker does it while it warms up). Resolves to false, and the
 * JavaScript walk is used, when RUNE_NATIVE_WALK=0, when the library is not built (run from source without
 * `npm run build`) or when it cannot be loaded. Never throws.
 */
export async function loadNativeWalk(env: Readonly<Record<string, string | undefined>> = process.env): Promise<boolean> {
  if (env.RUNE_NATIVE_WALK === '0') return false;
  if (walkFunction !== undefined) return walkFunction !== null;
  try {
    const path = nativeWalkLibrary(env);
    if (!existsSync(path)) {
      walkFunction = null;
      return false;
    }
    const koffi = (await import('koffi')).default;
    walkFunction = koffi
      .load(path)
      .func(
        'int inclavare_tree_walk(const char *root, const uint8_t *excluded, uint32_t excluded_len, const uint8_t *upper, uint32_t upper_len, uint64_t dev, const uint8_t *table, uint32_t count, uint8_t *used, uint8_t *out, uint64_t cap, uint8_t *result)',
      ) as unknown as WalkFunction;
  } catch {
    walkFunction = null;
  }
  return walkFunction !== null;
}

/** NUL-terminated strings back to back. */
function joined(items: readonly Buffer[]): Buffer {
  return Buffer.concat(items.flatMap((b) => [b, Buffer.alloc(1)]));
}

/** Output buffer size for the first try (records of a 2,400-path rootfs take about 250 KB). */
let outputHint = 1 << 20;

/**
 * The digest of the tree at `root` from the C walk, with `session` answering every regular file's content,
 * or undefined when the library is not loaded (see {@link loadNativeWalk}), the session has no volume, or
 * the walk gave up (the caller then runs treeDigest). On success the session counts the hits and marks the
 * records used, as treeDigest's lookups would; on undefined it is left as it was. `capacity`: the first size
 * of the records buffer (grown as needed).
 */
export function nativeTreeDigest(root: string, options: { excluded: readonly string[]; absent?: readonly string[]; session: CacheSession; capacity?: number }): TreeDigest | undefined {
  const walk = walkFunction;
  if (walk === undefined || walk === null) return undefined;
  const input = options.session.nativeInput();
  if (input === undefined) return undefined;
  const excluded = joined([...options.excluded, ...(options.absent ?? [])].map((p) => Buffer.from(p, 'utf8')));
  const upper = joined(input.upper);
  const result = Buffer.alloc(5 * 8);
  const field = (i: number): number => Number(result.readBigUInt64LE(i * 8));
  for (let cap = options.capacity ?? outputHint; ; ) {
    const used = Buffer.alloc(input.count);
    const out = Buffer.allocUnsafe(cap);
    const rc = walk(root, excluded, excluded.length, upper, upper.length, input.dev, input.table, input.count, used, out, BigInt(cap), result);
    if (rc === WALK_SHORT && field(0) > cap) {
      cap = field(0);
      outputHint = cap;
      continue;
    }
    if (rc !== WALK_DONE) return undefined;
    options.session.nativeDone(used, field(3), field(4));
    return { digest: createHash('sha384').update(out.subarray(0, field(0))).digest('hex'), entries: field(1), bytes: field(2) };
  }
}

/**
 * The rootfs digest: through the C walk when the reader is the real file system and `session` (the digest
 * cache) may answer for every file, else (or when the C walk gives up) treeDigest. The same digest either way.
 */
export async function rootfsDigest(root: string, options: TreeDigestOptions, session?: CacheSession): Promise<TreeDigest> {
  // The library is loaded (koffi: about 8 ms in a fresh rune) only when the cache may answer.
  if (session?.nativeInput() !== undefined && options.reader === nodeTreeReader && (await loadNativeWalk())) {
    const fast = nativeTreeDigest(root, { excluded: options.excluded, ...(options.absent !== undefined ? { absent: options.absent } : {}), session });
    if (fast !== undefined) return fast;
  }
  return treeDigest(root, options);
}
