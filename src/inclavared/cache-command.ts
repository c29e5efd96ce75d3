/**
 * `inclavared cache list|prune`: the digest cache rune keeps for rootfs measurements
 * (src/rune/enclave/digest-cache.ts, docs/enclave-containers.md "The digest cache"). list shows each volume
 * file (what it covers, entries, size, last use, whether it is intact); prune removes damaged files, temporary
 * files of interrupted writes (older than a minute, so a write in progress is left alone), then the least
 * recently used volumes until the store is within the limit (--all: everything).
 */
import { unlinkSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { DEFAULT_CACHE_MAX_BYTES, DigestCache, type CacheListEntry } from '../rune/enclave/digest-cache.ts';

/** Flags of `inclavared cache list`. */
export interface CacheListFlags {
  cacheDir: string;
  json?: boolean;
}

/** Flags of `inclavared cache prune`. */
export interface CachePruneFlags {
  cacheDir: string;
  all?: boolean;
  /** The limit in bytes (parsed from --max-mb by {@link parseMaxMb}). */
  maxMb?: number;
}

/** Parses --max-mb (MiB, decimals allowed) into bytes; a command-line error otherwise. */
export function parseMaxMb(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError(`Invalid --max-mb ${JSON.stringify(value)}: give the store's limit in MiB, e.g. --max-mb 256`);
  return Math.floor(Number(value) * 1024 * 1024);
}

const mb = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;

/** The text `cache list` prints. */
export function formatCacheList(entries: readonly CacheListEntry[], dir: string): string {
  const lines = [`digest cache ${dir}: ${entries.length} files, ${mb(entries.reduce((n, e) => n + e.bytes, 0))}`];
  for (const e of [...entries].sort((a, b) => b.lastUsedMs - a.lastUsedMs)) {
    const state = e.temporary ? 'temporary' : e.intact ? 'ok' : 'damaged';
    lines.push(`${new Date(e.lastUsedMs).toISOString()}  ${String(e.entries).padStart(8)} entries  ${mb(e.bytes).padStart(12)}  ${state.padEnd(9)}  ${e.volume || e.path}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `cache list`: prints the volume files; 0. */
export function cacheList(flags: CacheListFlags, write: (text: string) => void = (t) => process.stdout.write(t)): number {
  const entries = new DigestCache({ dir: flags.cacheDir, maxBytes: DEFAULT_CACHE_MAX_BYTES }).list();
  write(flags.json === true ? `${JSON.stringify(entries, null, 2)}\n` : formatCacheList(entries, flags.cacheDir));
  return 0;
}

/** `cache prune`: removes damaged and stale temporary files, then evicts to the limit; prints what went; 0. */
export function cachePrune(flags: CachePruneFlags, write: (text: string) => void = (t) => process.stdout.write(t), nowMs: number = Date.now()): number {
  const maxBytes = flags.all === true ? 0 : (flags.maxMb ?? DEFAULT_CACHE_MAX_BYTES);
  const cache = new DigestCache({ dir: flags.cacheDir, maxBytes });
  let removed = 0;
  let bytes = 0;
  for (const e of cache.list()) {
    if (e.intact || (e.temporary && nowMs - e.lastUsedMs < 60_000)) continue;
    try {
      unlinkSync(e.path);
      removed++;
      bytes += e.bytes;
    } catch {
      // removed meanwhile
    }
  }
  const evicted = cache.evict(maxBytes);
  write(`removed ${removed + evicted.removed} files (${mb(bytes + evicted.bytes)}) from ${flags.cacheDir}\n`);
  return 0;
}
