/**
 * Warms a pool worker's measurement code before it waits (src/inclavared/pool/worker.ts). In a fresh process
 * the walk of a rootfs runs in V8's interpreter and baseline tiers: measuring a 2,500-path rootfs with the
 * digest cache warm takes 100-150 ms there against 50-70 ms once V8's optimizing tier has compiled the walk,
 * the cache's lookups and volume decoding and the record encoding (docs/benchmarks.md, "Enclave start"). So a
 * worker measures its own program's directory (read only) a few times, through a digest cache in a temporary
 * directory, with the same reader and cache code a container's measurement uses, before it reports ready.
 * Only code is warmed: the temporary cache is removed and nothing of the warm-up reaches a container, whose
 * measurement is computed from its own rootfs exactly as without the pool.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { nodeTreeReader } from '../../sys/tree.ts';
import { DigestCache } from './digest-cache.ts';
import { loadNativeWalk, rootfsDigest } from './native-walk.ts';
import { exclusionList, treeDigest } from './tree-digest.ts';

/**
 * Walks the directories of `shapes` three times without reading a byte of their files (a constant digest
 * stands for each file's content: only names, metadata and link targets are read), then measures the tree at
 * `tree` (read only; without the paths in `skip`, e.g. large files that would only cost reading) `rounds`
 * times through a throw-away digest cache in `workDir`, a directory this creates and removes (its parent
 * must exist; inclavared gives each worker one under its pool directory, so that a worker killed
 * mid-warm-up leaves nothing outside it). Never throws. The `shapes` walk covers what a program directory
 * lacks and container images have (symlinks, hard links, wide directories): without it, the first rootfs a
 * worker measures made V8 compile those paths of the walk then, 20-35 ms of CPU more per create at 500 MB
 * (docs/benchmarks.md).
 */
export async function warmMeasurement(tree: string, options: { workDir: string; skip?: readonly string[]; rounds?: number; shapes?: readonly string[] }): Promise<void> {
  const { workDir, skip = [], rounds = 12, shapes = [] } = options;
  const nothing = Buffer.alloc(48);
  await loadNativeWalk(); // the C walk of the warm path (./native-walk.ts), loaded once per process
  for (let round = 0; round < 3; round++) {
    for (const dir of shapes) {
      await treeDigest(dir, { excluded: [], reader: nodeTreeReader, contents: { digest: async () => nothing, cached: () => nothing } }).catch(() => undefined);
    }
  }
  let base: string | undefined;
  try {
    mkdirSync(workDir, { mode: 0o700 });
    base = workDir;
    const cacheDir = join(base, 'cache');
    mkdirSync(cacheDir, { mode: 0o700 });
    const cache = new DigestCache({ dir: cacheDir, maxBytes: 16 << 20 });
    const excluded = exclusionList(skip);
    for (let round = 0; round < rounds; round++) {
      const session = await cache.session(tree);
      // The JavaScript walk every round (it measures whatever the C walk gives up on), the C one at the end.
      if (round < rounds - 1) await treeDigest(tree, { excluded, reader: nodeTreeReader, contents: session });
      else await rootfsDigest(tree, { excluded, reader: nodeTreeReader, contents: session }, session);
      session.save();
    }
  } catch {
    // A warm-up that fails only leaves the worker as fast as a fresh process.
  } finally {
    if (base !== undefined) rmSync(base, { recursive: true, force: true });
  }
}
