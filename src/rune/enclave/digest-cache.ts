/**
 * The digest cache: the SHA-384 of rootfs files' contents, kept between `rune create`s so that measuring an
 * unchanged rootfs reads no file contents (docs/enclave-containers.md, "The digest cache"). It changes only
 * how fast a digest is obtained, never what it is: a warm measurement equals a cold one byte for byte, and
 * whatever is in doubt is hashed again.
 *
 * Key of a file's digest: (volume, st_ino, st_size, st_mtime ns, st_ctime ns, btime ns). The volume names
 * the file system the file is on, and a file is only looked up or recorded when it is on the measured root's
 * file system (its st_dev) and that is one the cache trusts:
 *   - ext4, xfs, btrfs: the volume is the file system's device number and the root's real path;
 *   - overlay (podman's and containerd's rootfs): the volume is the mount's lowerdir option (the image's
 *     layers), so that containers of the same image share it though each overlay mount has its own st_dev.
 *     For a file on the overlay's st_dev, the kernel reports the inode number of the real file (or its
 *     copy-up origin) and the real file's times; files that exist in the upper directory (copied up,
 *     written, whiteouts) are never looked up. A mount whose upperdir is not an absolute path is not trusted.
 *   - anything else (tmpfs, NFS, FUSE, 9p, ...) is not cached: tmpfs never marks a page clean, so a writer
 *     through a shared mapping changes content without changing times; a network or FUSE file system reports
 *     what its server says.
 * Why the key holds: a user cannot set ctime, and any write, truncate, chmod, chown, link or rename of an
 * inode sets it to the current time; a file replaced by another is another inode with its own birth time.
 * What is left is the kernel's timestamp granularity (a clock tick) and writes through a shared mapping of
 * an already dirty page, which update the times only at the next fault after writeback. Hence the racy
 * rule: a digest is recorded only when the file's mtime, ctime and btime are older than the start of the
 * measurement by more than the margin (the writeback expiry plus two writeback intervals from /proc/sys/vm,
 * and at least 2 s), and the file's fstat before and after reading its content equal the lstat the walk
 * made. A recently changed file is simply hashed every time.
 *
 * Store: CACHE_DIR/digests/<SHA-256 of the volume name>.v1, one file per volume, written whole to a
 * temporary file and renamed (a crash leaves the old file or the new one); the file's mtime is its last use
 * (LRU eviction across volumes, under a total size limit); a volume file holds the entries used by the last
 * measurement that wrote it. Format (encodeVolume): "ICDIGST1", u32be length of the volume name, the name,
 * u32be count, count records of ino, size, mtime ns, ctime ns, btime ns (u64be each) and the 48-byte
 * digest, then the SHA-256 of everything before it. A file that is short, long, of another volume or whose
 * checksum fails is ignored (and replaced by the next write). CACHE_DIR must be a directory owned by this
 * user and writable by nobody else, or the cache is not used. A write that fails (a full disk) is dropped.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeSync, type BigIntStats } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDirectory } from '../../sys/fs.ts';
import { makeDevice, parseMountInfo, type MountInfo } from '../../sys/mountinfo.ts';
import type { FileIdentity, TreeStat } from '../../sys/sys.ts';
import { hashHandle, identityOf } from '../../sys/tree.ts';

/** Default cache directory. */
export const DEFAULT_CACHE_DIR = '/var/lib/inclavare/cache';
/** Default limit of the digest store (all volume files together). */
export const DEFAULT_CACHE_MAX_BYTES = 256 * 1024 * 1024;
/** File systems whose files the cache trusts (see the module comment). */
export const TRUSTED_FS_TYPES: ReadonlySet<string> = new Set(['ext4', 'xfs', 'btrfs']);

const MAGIC = Buffer.from('ICDIGST1', 'latin1');
const RECORD = 5 * 8 + 48;
const CHECKSUM = 32;
const U64_MAX = 2n ** 64n - 1n;

/** One file's cached digest. */
export interface DigestRecord {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  btimeNs: bigint;
  digest: Buffer;
}

/** The bytes of a volume file. */
export function encodeVolume(volume: string, records: readonly DigestRecord[]): Buffer {
  const name = Buffer.from(volume, 'utf8');
  const out = Buffer.alloc(MAGIC.length + 4 + name.length + 4 + records.length * RECORD + CHECKSUM);
  let o = MAGIC.copy(out, 0);
  o = out.writeUInt32BE(name.length, o);
  o += name.copy(out, o);
  o = out.writeUInt32BE(records.length, o);
  for (const r of records) {
    for (const v of [r.ino, r.size, r.mtimeNs, r.ctimeNs, r.btimeNs]) o = out.writeBigUInt64BE(v, o);
    o += r.digest.copy(out, o, 0, 48);
  }
  createHash('sha256').update(out.subarray(0, o)).digest().copy(out, o);
  return out;
}

/**
 * The record region of a volume file (`count` records of 88 bytes, see the module comment), or undefined when
 * it is not a complete, intact file of `volume`. Never throws.
 */
export function verifyVolume(bytes: Uint8Array, volume: string): { table: Buffer; count: number } | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < MAGIC.length + 8 + CHECKSUM || !b.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const nameLength = b.readUInt32BE(MAGIC.length);
  const countAt = MAGIC.length + 4 + nameLength;
  if (countAt + 4 + CHECKSUM > b.length) return undefined;
  const count = b.readUInt32BE(countAt);
  const end = countAt + 4 + count * RECORD;
  if (end + CHECKSUM !== b.length) return undefined;
  if (!createHash('sha256').update(b.subarray(0, end)).digest().equals(b.subarray(end))) return undefined;
  if (!b.subarray(MAGIC.length + 4, countAt).equals(Buffer.from(volume, 'utf8'))) return undefined;
  return { table: b.subarray(countAt + 4, end), count };
}

/** Record `i` of a verified record region. */
function recordAt(table: Buffer, i: number): DigestRecord {
  const o = i * RECORD;
  return {
    ino: table.readBigUInt64BE(o),
    size: table.readBigUInt64BE(o + 8),
    mtimeNs: table.readBigUInt64BE(o + 16),
    ctimeNs: table.readBigUInt64BE(o + 24),
    btimeNs: table.readBigUInt64BE(o + 32),
    digest: Buffer.from(table.subarray(o + 40, o + RECORD)),
  };
}

/** The records of a volume file, or undefined when it is not a complete, intact file of `volume`. Never throws. */
export function decodeVolume(bytes: Uint8Array, volume: string): DigestRecord[] | undefined {
  const verified = verifyVolume(bytes, volume);
  if (verified === undefined) return undefined;
  return Array.from({ length: verified.count }, (_, i) => recordAt(verified.table, i));
}

/** Where the cache is and how it behaves. */
export interface DigestCacheConfig {
  dir: string;
  maxBytes: number;
  /** Files changed less than this long before the measurement started are not recorded (default: from /proc/sys/vm). */
  racyMarginNs?: bigint;
  /** The wall clock, ns since the epoch (tests). */
  now?: () => bigint;
  /** /proc/self/mountinfo's text (tests). */
  mountInfo?: () => string;
}

/** The cache configuration from rune's environment, or undefined when RUNE_CACHE=off. */
export function digestCacheConfigFromEnv(env: Readonly<Record<string, string | undefined>>): DigestCacheConfig | undefined {
  if (env.RUNE_CACHE === 'off' || env.RUNE_CACHE === '0') return undefined;
  const mb = Number(env.RUNE_CACHE_MAX_MB);
  return {
    dir: env.RUNE_CACHE_DIR !== undefined && env.RUNE_CACHE_DIR !== '' ? env.RUNE_CACHE_DIR : DEFAULT_CACHE_DIR,
    maxBytes: env.RUNE_CACHE_MAX_MB !== undefined && Number.isFinite(mb) && mb >= 0 ? Math.floor(mb * 1024 * 1024) : DEFAULT_CACHE_MAX_BYTES,
  };
}

/** The racy margin from the kernel's writeback settings: expiry + 2 intervals + 1 s, at least 2 s. */
export function writebackMarginNs(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): bigint {
  let centisecs = 0;
  try {
    centisecs = Number(read('/proc/sys/vm/dirty_expire_centisecs')) + 2 * Number(read('/proc/sys/vm/dirty_writeback_centisecs'));
  } catch {
    centisecs = 6000; // unknown: a minute
  }
  if (!Number.isFinite(centisecs) || centisecs < 0) centisecs = 6000;
  const ms = Math.max(2000, centisecs * 10 + 1000);
  return BigInt(ms) * 1_000_000n;
}

const realtimeNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** Statistics of one measurement's use of the cache. */
export interface CacheStats {
  /** Files whose digest came from the cache. */
  hits: number;
  hitBytes: number;
  /** Files hashed (not cacheable, not cached, or changed). */
  misses: number;
  /** Files hashed and recorded. */
  recorded: number;
  /** Why the measured root is not cached at all (undefined: it is). */
  untrusted?: string;
}

/** What treeDigest asks of a cache: a regular file's SHA-384 (from the cache or hashed). */
export interface ContentDigester {
  digest(path: Buffer, st: TreeStat): Promise<Buffer>;
  /** The digest when it can be had without reading the file (a cache hit), else undefined (then call digest). */
  cached?(path: Buffer, st: TreeStat): Buffer | undefined;
}

/** The volume a root is on, or why it has none the cache trusts. */
interface Volume {
  name: string;
  dev: bigint;
  /** For an overlay: the paths below the measured root (latin1 strings of their bytes, "/etc/passwd") that exist in its upper directory. */
  upper?: Set<string>;
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.btimeNs === b.btimeNs;
}

/** Lists every path under `dir` (host paths as latin1 strings of their bytes, so any name round-trips). */
async function walk(dir: Buffer, into: Set<string>, mapTo: Buffer): Promise<void> {
  const names = await readdir(dir, { encoding: 'buffer' });
  for (const name of names) {
    const child = Buffer.concat([dir, Buffer.from('/'), name]);
    const mapped = Buffer.concat([mapTo, Buffer.from('/'), name]);
    into.add(mapped.toString('latin1'));
    const st = await lstat(child);
    if (st.isDirectory()) await walk(child, into, mapped);
  }
}

/** The volume of the file system at `root` (see the module comment), or a reason why it is not trusted. */
async function findVolume(root: string, mounts: MountInfo[]): Promise<Volume | string> {
  const real = await realpath(root);
  const st = await stat(real, { bigint: true });
  const mount = mounts
    .filter((m) => makeDevice(m.major, m.minor) === st.dev && (real === m.mountPoint || real.startsWith(m.mountPoint === '/' ? '/' : `${m.mountPoint}/`)))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
  if (mount === undefined) return `no mount of device ${st.dev} holds ${real}`;
  if (TRUSTED_FS_TYPES.has(mount.fsType)) return { name: `fs\0${mount.fsType}\0${mount.major}:${mount.minor}\0${real}`, dev: st.dev };
  if (mount.fsType !== 'overlay') return `${mount.fsType} is not a file system the cache trusts`;
  const option = (key: string): string | undefined => mount.superOptions.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
  const lower = option('lowerdir');
  if (lower === undefined || lower === '') return 'the overlay has no lowerdir';
  const upperDir = option('upperdir');
  const upper = new Set<string>();
  if (upperDir !== undefined) {
    if (!upperDir.startsWith('/')) return `the overlay's upperdir ${upperDir} is not an absolute path`;
    const all = new Set<string>();
    await walk(Buffer.from(upperDir), all, Buffer.alloc(0));
    // Upper paths are relative to the mount point; the measured root may be a directory below it.
    const sub = Buffer.from(real === mount.mountPoint ? '' : real.slice(mount.mountPoint === '/' ? 0 : mount.mountPoint.length)).toString('latin1');
    for (const p of all) if (sub === '' || p.startsWith(`${sub}/`)) upper.add(p.slice(sub.length));
  }
  return { name: `overlay\0${lower}`, dev: st.dev, upper };
}

/** A cache directory: checked and created on first use. */
export class DigestCache {
  readonly config: DigestCacheConfig;
  readonly #digests: string;

  constructor(config: DigestCacheConfig) {
    this.config = config;
    this.#digests = join(config.dir, 'digests');
  }

  /** The directory of volume files, created 0700; undefined (cache not used) when it is not safe. */
  #store(): string | undefined {
    try {
      makeDirectory(this.#digests, 0o700);
      const uid = process.geteuid?.() ?? 0;
      for (const d of [this.config.dir, this.#digests]) {
        const st = lstatSync(d);
        if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) return undefined;
      }
      return this.#digests;
    } catch {
      return undefined;
    }
  }

  /** Opens the cache for measuring the tree at `root` (never throws: an unusable cache only means hashing). */
  async session(root: string): Promise<CacheSession> {
    const startNs = (this.config.now ?? realtimeNs)();
    const margin = this.config.racyMarginNs ?? writebackMarginNs();
    const store = this.#store();
    if (store === undefined) return new CacheSession(undefined, startNs - margin, `the cache directory ${this.config.dir} cannot be used (missing, not owned by this user or writable by others)`);
    let volume: Volume | string;
    try {
      volume = await findVolume(root, parseMountInfo((this.config.mountInfo ?? (() => readFileSync('/proc/self/mountinfo', 'utf8')))()));
    } catch (err) {
      volume = `cannot find its file system (${(err as Error).message})`;
    }
    if (typeof volume === 'string') return new CacheSession(undefined, startNs - margin, volume);
    const file = join(store, `${createHash('sha256').update(volume.name).digest('hex')}.v1`);
    let records: { table: Buffer; count: number } = { table: Buffer.alloc(0), count: 0 };
    try {
      records = verifyVolume(readFileSync(file), volume.name) ?? records;
    } catch {
      // missing or unreadable: a cold cache
    }
    return new CacheSession({ volume, file, ...records, cache: this, root: Buffer.from(root) }, startNs - margin);
  }

  /** Removes volume files, least recently used first, until the store is at most `maxBytes`; returns what went. */
  evict(maxBytes = this.config.maxBytes, keep?: string): { removed: number; bytes: number } {
    const entries = this.list();
    let total = entries.reduce((n, e) => n + e.bytes, 0);
    let removed = 0;
    let bytes = 0;
    for (const e of entries.sort((a, b) => a.lastUsedMs - b.lastUsedMs)) {
      if (total <= maxBytes) break;
      if (e.path === keep && total - e.bytes <= maxBytes && entries.length > 1) continue;
      try {
        unlinkSync(e.path);
        total -= e.bytes;
        bytes += e.bytes;
        removed++;
      } catch {
        // gone already (another rune evicted it)
      }
    }
    return { removed, bytes };
  }

  /** The volume files: path, size, entries, last use, and whether the file is intact. */
  list(): CacheListEntry[] {
    const out: CacheListEntry[] = [];
    let names: string[];
    try {
      names = readdirSync(this.#digests);
    } catch {
      return out;
    }
    for (const name of names) {
      const path = join(this.#digests, name);
      try {
        const st = statSync(path);
        if (!st.isFile()) continue;
        if (!name.endsWith('.v1')) {
          out.push({ path, volume: '', entries: 0, bytes: st.size, lastUsedMs: st.mtimeMs, intact: false, temporary: name.includes('.tmp-') });
          continue;
        }
        const bytes = readFileSync(path);
        const nameLength = bytes.length >= 12 ? bytes.readUInt32BE(8) : 0;
        const volume = bytes.length >= 12 + nameLength ? bytes.subarray(12, 12 + nameLength).toString('utf8') : '';
        const records = decodeVolume(bytes, volume);
        const intact = records !== undefined && name === `${createHash('sha256').update(volume).digest('hex')}.v1`;
        out.push({ path, volume: intact ? volume.replaceAll('\0', ' ') : '', entries: records?.length ?? 0, bytes: st.size, lastUsedMs: st.mtimeMs, intact, temporary: false });
      } catch {
        // removed meanwhile
      }
    }
    return out;
  }
}

/** One volume file, as `inclavared cache list` shows it. */
export interface CacheListEntry {
  path: string;
  /** The volume's name (fields separated by spaces); "" when the file is not intact. */
  volume: string;
  entries: number;
  bytes: number;
  lastUsedMs: number;
  intact: boolean;
  /** A temporary file left by an interrupted write. */
  temporary: boolean;
}

interface OpenVolume {
  volume: Volume;
  file: string;
  /** The volume file's records (verified, not decoded: see verifyVolume) and their number. */
  table: Buffer;
  count: number;
  cache: DigestCache;
  /** The measured root as given (host paths of its files start with it). */
  root: Buffer;
}

/** The cache during one measurement: lookups, hashing with verification, and the write at the end. */
export class CacheSession implements ContentDigester {
  readonly stats: CacheStats = { hits: 0, hitBytes: 0, misses: 0, recorded: 0 };
  readonly #open: OpenVolume | undefined;
  /** Inode number → index of its record in the volume file's table (the later one when two share it); built at the first lookup. */
  #index: Map<bigint, number> | undefined;
  /** Per table record: used by this measurement (then written back). */
  readonly #used: Uint8Array;
  /** Records made by this measurement (they replace the table's record of the same inode). */
  readonly #recorded = new Map<bigint, DigestRecord>();
  /** Files changed at or after this (ns since the epoch) are not recorded. */
  readonly #recordBefore: bigint;
  #changed = false;

  constructor(open: OpenVolume | undefined, recordBefore: bigint, untrusted?: string) {
    this.#open = open;
    this.#recordBefore = recordBefore;
    this.#used = new Uint8Array(open?.count ?? 0);
    if (untrusted !== undefined) this.stats.untrusted = untrusted;
  }

  #indexOf(ino: bigint): number | undefined {
    const open = this.#open;
    if (open === undefined) return undefined;
    if (this.#index === undefined) {
      this.#index = new Map();
      for (let i = 0; i < open.count; i++) this.#index.set(open.table.readBigUInt64BE(i * RECORD), i);
    }
    return this.#index.get(ino);
  }

  /** The record this session holds for an inode: made by this measurement, else the volume file's. */
  #lookup(ino: bigint): { record: DigestRecord; index?: number } | undefined {
    const made = this.#recorded.get(ino);
    if (made !== undefined) return { record: made };
    const index = this.#indexOf(ino);
    return index === undefined ? undefined : { record: recordAt(this.#open!.table, index), index };
  }

  /** True when a file with this identity, at this host path, may be looked up and recorded. */
  #cacheable(path: Buffer, id: FileIdentity | undefined): id is FileIdentity {
    const open = this.#open;
    if (open === undefined || id === undefined || id.dev !== open.volume.dev) return false;
    if (open.volume.upper !== undefined) {
      // An overlay: only paths below the root, and none that its upper directory holds.
      const under = path.length > open.root.length && path.subarray(0, open.root.length).equals(open.root) && path[open.root.length] === 0x2f;
      if (!under || open.volume.upper.has(path.subarray(open.root.length).toString('latin1'))) return false;
    }
    return [id.ino, id.size, id.mtimeNs, id.ctimeNs, id.btimeNs].every((v) => v >= 0n && v <= U64_MAX);
  }

  /** The cached digest when the file's key matches a record exactly (counted as a hit), else undefined. */
  cached(path: Buffer, st: TreeStat): Buffer | undefined {
    const id = st.identity;
    if (!this.#cacheable(path, id)) return undefined;
    const found = this.#lookup(id.ino);
    const r = found?.record;
    if (r === undefined || r.size !== id.size || r.mtimeNs !== id.mtimeNs || r.ctimeNs !== id.ctimeNs || r.btimeNs !== id.btimeNs) return undefined;
    this.stats.hits++;
    this.stats.hitBytes += Number(id.size);
    if (found!.index !== undefined) this.#used[found!.index] = 1;
    return r.digest;
  }

  /** True when this measurement used or made a record for the inode. */
  #holds(ino: bigint): boolean {
    if (this.#recorded.has(ino)) return true;
    const index = this.#indexOf(ino);
    return index !== undefined && this.#used[index] === 1;
  }

  /** Drops whatever this measurement used or made for the inode. */
  #drop(ino: bigint): void {
    this.#recorded.delete(ino);
    const index = this.#indexOf(ino);
    if (index !== undefined) this.#used[index] = 0;
  }

  /**
   * What the C walk (./native-walk.ts) needs: the volume's device, its verified record table, and the
   * in-container paths its overlay's upper directory holds; undefined when the root is not cached or its
   * volume has no record yet (the C walk would give up at the first file).
   */
  nativeInput(): { dev: bigint; table: Buffer; count: number; upper: Buffer[] } | undefined {
    const open = this.#open;
    if (open === undefined || open.count === 0) return undefined;
    const upper = [...(open.volume.upper ?? [])].map((p) => Buffer.from(p, 'latin1'));
    return { dev: open.volume.dev, table: open.table, count: open.count, upper };
  }

  /** Accounts a C walk that found every file in the table: `used` marks the records it took digests from. */
  nativeDone(used: Uint8Array, hits: number, hitBytes: number): void {
    for (let i = 0; i < used.length && i < this.#used.length; i++) if (used[i] === 1) this.#used[i] = 1;
    this.stats.hits += hits;
    this.stats.hitBytes += hitBytes;
  }

  /** The SHA-384 of a regular file's content: from the cache when its key matches, else read and hashed. */
  async digest(path: Buffer, st: TreeStat): Promise<Buffer> {
    const id = st.identity;
    if (!this.#cacheable(path, id)) {
      this.stats.misses++;
      return (await this.#hash(path)).digest;
    }
    const hit = this.cached(path, st);
    if (hit !== undefined) return hit;
    this.stats.misses++;
    const { digest, before, after } = await this.#hash(path);
    // Recorded only when the file did not change while it was read and did not change recently.
    const stable = sameFile(before, id) && sameFile(after, id);
    const old = [id.mtimeNs, id.ctimeNs, id.btimeNs].every((t) => t < this.#recordBefore);
    if (stable && old) {
      this.#drop(id.ino);
      this.#recorded.set(id.ino, { ino: id.ino, size: id.size, mtimeNs: id.mtimeNs, ctimeNs: id.ctimeNs, btimeNs: id.btimeNs, digest });
      this.#changed = true;
      this.stats.recorded++;
    } else if (this.#holds(id.ino)) {
      // A hard link of this inode was recorded earlier in this walk under other times: keep neither.
      this.#drop(id.ino);
      this.#changed = true;
    }
    return digest;
  }

  /** True when the file at `path` is on this session's volume (false when it cannot be stat'ed). */
  async holds(path: string): Promise<boolean> {
    if (this.#open === undefined) return true;
    try {
      return (await stat(path, { bigint: true })).dev === this.#open.volume.dev;
    } catch {
      return true;
    }
  }

  /** The digest of any file at `path` (the entrypoint): lstat, then {@link digest}. */
  async digestPath(path: Buffer): Promise<Buffer> {
    const st = await lstat(path, { bigint: true });
    if (!st.isFile()) return (await this.#hash(path)).digest;
    return this.digest(path, { type: 'file', mode: 0, uid: 0, gid: 0, size: Number(st.size), major: 0, minor: 0, inode: `${st.dev}:${st.ino}`, identity: identityOf(st) });
  }

  async #hash(path: Buffer): Promise<{ digest: Buffer; before: FileIdentity; after: FileIdentity }> {
    const handle = await open(path, 'r');
    try {
      const before = identityOf((await handle.stat({ bigint: true })) as BigIntStats);
      const digest = await hashHandle(handle, 'sha384');
      const after = identityOf((await handle.stat({ bigint: true })) as BigIntStats);
      return { digest, before, after };
    } finally {
      await handle.close();
    }
  }

  /**
   * Writes the volume file when this measurement recorded something (the entries it used, atomically), or
   * marks it used; then evicts to the size limit. Never throws: returns why nothing was written.
   */
  save(): string | undefined {
    const open = this.#open;
    if (open === undefined) return this.stats.untrusted;
    const forgotten = this.#used.includes(0);
    if (!this.#changed && !forgotten) {
      try {
        const now = new Date();
        utimesSync(open.file, now, now);
      } catch {
        // evicted meanwhile: nothing to mark
      }
      return undefined;
    }
    const kept: DigestRecord[] = [];
    for (let i = 0; i < open.count; i++) {
      if (this.#used[i] !== 1) continue;
      const record = recordAt(open.table, i);
      // A table record replaced by one of this measurement is written once, as the new one.
      if (!this.#recorded.has(record.ino) && this.#indexOf(record.ino) === i) kept.push(record);
    }
    const data = encodeVolume(open.volume.name, [...kept, ...this.#recorded.values()]);
    if (data.length > open.cache.config.maxBytes) return `the digests of this rootfs (${data.length} bytes) exceed the cache's limit`;
    const tmp = `${open.file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'wx', 0o600);
      for (let o = 0; o < data.length; ) o += writeSync(fd, data, o);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, open.file);
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      return `cannot write ${open.file} (${(err as Error).message})`;
    }
    open.cache.evict(open.cache.config.maxBytes, open.file);
    return undefined;
  }
}
