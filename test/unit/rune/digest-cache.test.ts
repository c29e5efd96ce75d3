/**
 * issue #15 items 2 and 5 - the digest cache of the rootfs measurement: a warm measurement equals a cold one
 * byte for byte; a file changed in one byte with its size and mtime restored (a 100 MB rootfs) measures
 * differently; a recently changed file is not recorded; a truncated or tampered volume file, a cache on a full
 * disk, a cache directory others can write, and concurrent measurements all give the right measurement; an
 * overlay's lower files are shared between mounts and copied-up files are not looked up; eviction keeps the
 * store under its limit, least recently used first. The volume file parser never throws on any input.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { DigestCache, decodeVolume, encodeVolume, writebackMarginNs, type DigestCacheConfig, type DigestRecord } from '../../../src/rune/enclave/digest-cache.ts';
import { measureWorkload, type WorkloadToMeasure } from '../../../src/rune/enclave/measurement.ts';
import { linuxSys } from '../../../src/sys/linux.ts';

const isRoot = process.getuid?.() === 0;
const sys = linuxSys();
/** A clock 10 s ahead: every file the test made is "old" (the racy rule is tested on its own). */
const ahead = (): bigint => BigInt(Date.now() + 10_000) * 1_000_000n;

let tmp = '';
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'digest-cache-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
function rootfs(files: Record<string, Buffer | string> = {}): string {
  const dir = join(tmp, `rootfs-${n++}`);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'bin/app'), Buffer.alloc(200_000, 3), { mode: 0o755 });
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  for (const [p, data] of Object.entries(files)) writeFileSync(join(dir, p), data);
  return dir;
}

function cacheConfig(extra: Partial<DigestCacheConfig> = {}): DigestCacheConfig {
  return { dir: join(tmp, `cache-${n++}`), maxBytes: 64 * 1024 * 1024, racyMarginNs: 0n, now: ahead, ...extra };
}

const workload = (root: string): WorkloadToMeasure => ({
  type: 'sim',
  runtime: 'sim',
  runtimeArgs: '',
  rootfs: root,
  mounts: [],
  entrypoint: { inContainer: '/bin/app', host: join(root, 'bin/app') },
  args: ['/bin/app'],
  env: ['PATH=/bin'],
  cwd: '/',
});

/** touch -d back: sets a file's mtime to exactly `ns` (and atime likewise). */
function touchBack(path: string, ns: bigint): void {
  const stamp = `@${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
  const r = spawnSync('touch', ['-d', stamp, path]);
  assert.equal(r.status, 0, r.stderr.toString());
}

const measure = async (root: string, cache?: DigestCache) => measureWorkload(workload(root), sys, cache !== undefined ? { cache } : {});

void describe('volume file format', () => {
  const record = (i: number): DigestRecord => ({ ino: BigInt(i), size: 10n, mtimeNs: 1n, ctimeNs: 2n, btimeNs: 3n, digest: Buffer.alloc(48, i) });

  const VOL = ['fs', 'ext4', '8:0', '/r'].join('\0');

  void test('round-trips; another volume name, any truncation, extension or one-byte change is refused', () => {
    const bytes = encodeVolume(VOL, [record(1), record(2)]);
    assert.deepEqual(decodeVolume(bytes, VOL), [record(1), record(2)]);
    assert.equal(decodeVolume(bytes, `${VOL}x`), undefined);
    for (let len = 0; len < bytes.length; len++) assert.equal(decodeVolume(bytes.subarray(0, len), VOL), undefined, `truncated to ${len}`);
    assert.equal(decodeVolume(Buffer.concat([bytes, Buffer.alloc(1)]), VOL), undefined);
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Buffer.from(bytes);
      flipped[i]! ^= 0x01;
      assert.equal(decodeVolume(flipped, VOL), undefined, `byte ${i} flipped`);
    }
  });

  void test('decodeVolume never throws and accepts only what encodeVolume wrote (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.string({ maxLength: 20 }), (bytes, name) => {
        assert.equal(decodeVolume(bytes, name), undefined);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.array(fc.nat({ max: 1000 }), { maxLength: 20 }), fc.nat(), (name, inos, cut) => {
        const bytes = encodeVolume(name, inos.map(record));
        assert.deepEqual(decodeVolume(bytes, name), inos.map(record));
        const at = cut % bytes.length;
        assert.equal(decodeVolume(bytes.subarray(0, at), name), undefined);
      }),
      { numRuns: 500 },
    );
  });
});

void describe('digest cache on ext4', { skip: spawnSync('stat', ['-f', '-c', '%T', tmpdir()]).stdout.toString().trim() !== 'ext2/ext3' ? 'the temp dir is not on ext4' : false }, () => {
  void test('a warm measurement equals the cold one and the uncached one, and hashes no file', async () => {
    const root = rootfs({ 'etc/hosts': '127.0.0.1 localhost\n' });
    linkSync(join(root, 'bin/app'), join(root, 'bin/app-link'));
    const plain = await measure(root);
    const cache = new DigestCache(cacheConfig());
    const cold = await measure(root, cache);
    assert.equal(cold.measurement, plain.measurement);
    assert.equal(cold.cache?.untrusted, undefined);
    // bin/app (and its link) and etc/passwd: /etc/hosts is excluded. bin/app is also the entrypoint, hashed
    // once or twice (its two lookups may both miss before either records it).
    assert.ok(cold.cache!.recorded >= 2, `recorded ${cold.cache!.recorded}`);
    const warm = await measure(root, cache);
    assert.equal(warm.measurement, plain.measurement);
    assert.deepEqual(warm.input, plain.input);
    assert.equal(warm.cache!.misses, 0);
    assert.ok(warm.cache!.hits >= 2);
  });

  void test('a 100 MB rootfs: one byte changed, size and mtime restored, measures differently (and as uncached)', async () => {
    const root = rootfs();
    const big = join(root, 'bin/big');
    const fd = openSync(big, 'w');
    const chunk = Buffer.alloc(1024 * 1024, 0x5a);
    for (let i = 0; i < 100; i++) writeSync(fd, chunk);
    closeSync(fd);
    const cache = new DigestCache(cacheConfig());
    const cold = await measure(root, cache);
    const warm = await measure(root, cache);
    assert.equal(warm.measurement, cold.measurement);
    assert.equal(warm.cache!.misses, 0);
    const before = statSync(big, { bigint: true });
    const w = openSync(big, 'r+');
    writeSync(w, Buffer.from([0x5b]), 0, 1, 50 * 1024 * 1024 + 7);
    closeSync(w);
    touchBack(big, before.mtimeNs);
    const after = statSync(big, { bigint: true });
    assert.equal(after.size, before.size);
    assert.equal(after.mtimeNs, before.mtimeNs);
    const changed = await measure(root, cache);
    assert.notEqual(changed.measurement, cold.measurement);
    assert.equal(changed.measurement, (await measure(root)).measurement);
    assert.ok(changed.cache!.misses >= 1);
  });

  void test('a file changed less than the racy margin ago is hashed every time and never recorded', async () => {
    const root = rootfs();
    const margin = writebackMarginNs();
    assert.ok(margin >= 2_000_000_000n);
    const cache = new DigestCache(cacheConfig({ racyMarginNs: margin, now: undefined }));
    const first = await measure(root, cache);
    assert.equal(first.cache!.recorded, 0);
    const second = await measure(root, cache);
    assert.equal(second.cache!.hits, 0);
    assert.equal(second.measurement, first.measurement);
  });

  void test('a truncated or tampered volume file is ignored (slow path, right measurement) and rewritten', async () => {
    const root = rootfs();
    const config = cacheConfig();
    const cache = new DigestCache(config);
    const cold = await measure(root, cache);
    const [file] = readdirSync(join(config.dir, 'digests')).map((f) => join(config.dir, 'digests', f));
    const good = readFileSync(file!);
    // Tampered: the digest of a record changed, the checksum not.
    const tampered = Buffer.from(good);
    tampered[good.length - 40]! ^= 0xff;
    for (const bad of [good.subarray(0, good.length - 5), tampered, Buffer.alloc(0)]) {
      writeFileSync(file!, bad);
      const m = await measure(root, cache);
      assert.equal(m.measurement, cold.measurement);
      assert.equal(m.cache!.hits, 0);
      assert.ok(decodeVolume(readFileSync(file!), new DigestCache(config).list()[0]!.volume.replaceAll(' ', '\0')) !== undefined, 'rewritten intact');
    }
    // A tampered file whose checksum was recomputed is accepted: only a writer of the cache directory (the
    // owner, root) can do that, and it can change the measurement anyway (docs).
  });

  void test('concurrent measurements with one cache all agree and leave an intact store', async () => {
    const root = rootfs({ 'etc/a': 'a', 'etc/b': 'b', 'etc/c': Buffer.alloc(3_000_000, 1) });
    const expected = (await measure(root)).measurement;
    const config = cacheConfig();
    const results = await Promise.all(Array.from({ length: 6 }, () => measure(root, new DigestCache(config))));
    for (const r of results) assert.equal(r.measurement, expected);
    const list = new DigestCache(config).list();
    assert.equal(list.length, 1);
    assert.ok(list[0]!.intact && !list[0]!.temporary);
    assert.equal((await measure(root, new DigestCache(config))).cache!.misses, 0);
  });

  void test('a cache directory writable by others is not used', async () => {
    const root = rootfs();
    const config = cacheConfig();
    mkdirSync(config.dir, { mode: 0o700 });
    chmodSync(config.dir, 0o777);
    const m = await measure(root, new DigestCache(config));
    assert.match(m.cache!.untrusted ?? '', /cannot be used/);
    assert.equal(m.measurement, (await measure(root)).measurement);
    assert.deepEqual(readdirSync(join(config.dir, 'digests')), []);
  });

  void test('eviction keeps the store under its limit, least recently used volume first', async () => {
    const config = cacheConfig();
    const roots = [rootfs(), rootfs(), rootfs()];
    for (const r of roots) await measure(r, new DigestCache(config));
    const files = new DigestCache(config).list();
    assert.equal(files.length, 3);
    const one = files[0]!.bytes;
    // Use roots[0] again (a hit marks its file), then a fourth root under a limit of three files.
    await new Promise((r) => setTimeout(r, 20));
    await measure(roots[0]!, new DigestCache(config));
    const small = new DigestCache({ ...config, maxBytes: one * 3 });
    await measure(rootfs(), small);
    const kept = small.list();
    assert.equal(kept.length, 3);
    const volumes = kept.map((e) => e.volume);
    assert.ok(volumes.some((v) => v.endsWith(roots[0]!)), 'the recently used volume stays');
    assert.ok(!volumes.some((v) => v.endsWith(roots[1]!)), 'the least recently used volume went');
    assert.deepEqual(small.evict(0), { removed: 3, bytes: kept.reduce((s, e) => s + e.bytes, 0) });
  });
});

void describe('digest cache on other file systems (root: mounts)', { skip: !isRoot ? 'needs root' : false }, () => {
  const mounts: string[] = [];
  const mount = (args: string[]): void => {
    const r = spawnSync('mount', args);
    assert.equal(r.status, 0, r.stderr.toString());
    mounts.push(args[args.length - 1]!);
  };
  after(() => {
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  });

  void test('a full disk for the cache: the measurement is right, the write is dropped, no temporary file stays', async () => {
    const root = rootfs(Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`etc/f${i}`, `file ${i}`])));
    const dir = join(tmp, 'small-cache');
    mkdirSync(dir);
    mount(['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir]);
    const m = await measure(root, new DigestCache(cacheConfig({ dir })));
    assert.equal(m.measurement, (await measure(root)).measurement);
    assert.match(m.cache!.note ?? '', /cannot write .*(ENOSPC|no space)/i);
    assert.deepEqual(readdirSync(join(dir, 'digests')), []);
  });

  void test('a rootfs on tmpfs is not cached (a shared mapping can change it without changing its times)', async () => {
    const dir = join(tmp, 'tmpfs-root');
    mkdirSync(dir);
    mount(['-t', 'tmpfs', 'tmpfs', dir]);
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin/app'), 'x');
    const m = await measure(dir, new DigestCache(cacheConfig()));
    assert.match(m.cache!.untrusted ?? '', /tmpfs is not a file system the cache trusts/);
    assert.equal(m.cache!.hits + m.cache!.recorded, 0);
  });

  void test('overlay: two mounts of the same layers share digests; a copied-up file (size and mtime kept) is hashed', async () => {
    const lower = rootfs({ 'etc/conf': 'setting=1\n' });
    const mk = (name: string): string => {
      const base = join(tmp, name);
      for (const d of ['upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true });
      mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${base}/upper,workdir=${base}/work`, join(base, 'merged')]);
      return join(base, 'merged');
    };
    const config = cacheConfig();
    const a = mk('ovl-a');
    const cold = await measure(a, new DigestCache(config));
    assert.equal(cold.cache!.untrusted, undefined);
    assert.ok(cold.cache!.recorded >= 3);
    const b = mk('ovl-b');
    assert.notEqual(statSync(a).dev, statSync(b).dev);
    const warm = await measure(b, new DigestCache(config));
    assert.equal(warm.measurement, cold.measurement);
    assert.equal(warm.cache!.misses, 0, 'the second mount of the same layers hits');
    // Copy up etc/conf in b with one byte changed, size and mtime restored.
    const conf = join(b, 'etc/conf');
    const st = statSync(conf, { bigint: true });
    writeFileSync(conf, 'setting=2\n');
    touchBack(conf, st.mtimeNs);
    assert.equal(statSync(conf, { bigint: true }).mtimeNs, st.mtimeNs);
    const changed = await measure(b, new DigestCache(config));
    assert.notEqual(changed.measurement, cold.measurement);
    assert.equal(changed.measurement, (await measure(b)).measurement);
    // a is unchanged and still hits.
    const again = await measure(a, new DigestCache(config));
    assert.equal(again.measurement, cold.measurement);
  });

  void test('an entrypoint on a volume of another file system (a wasm module) is cached in that file system\'s volume', async () => {
    const lower = rootfs();
    const base = join(tmp, 'ovl-entry');
    for (const d of ['upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true });
    mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${base}/upper,workdir=${base}/work`, join(base, 'merged')]);
    const volume = join(tmp, 'module-volume');
    mkdirSync(volume);
    writeFileSync(join(volume, 'app.wasm'), Buffer.alloc(2_000_000, 9));
    const w = { ...workload(join(base, 'merged')), entrypoint: { inContainer: '/w/app.wasm', host: join(volume, 'app.wasm') }, mounts: [{ destination: '/w', source: volume, type: 'bind' }] };
    const config = cacheConfig();
    const plain = await measureWorkload(w, sys);
    await measureWorkload(w, sys, { cache: new DigestCache(config) });
    assert.equal(new DigestCache(config).list().length, 2, 'one volume for the overlay, one for the module\'s file system');
    const warm = await measureWorkload(w, sys, { cache: new DigestCache(config) });
    assert.equal(warm.measurement, plain.measurement);
    assert.equal(warm.input.entrypointDigest, plain.input.entrypointDigest);
  });
});
