/**
 * The C walk of the rootfs digest's warm path (src/rune/enclave/tree-walk.c through native-walk.ts): the same
 * digest, entries and bytes as treeDigest on any tree whose files are all in the digest cache; it gives up
 * (and leaves the cache session as it was) on anything else, and the measurement is then the JavaScript one.
 * Needs dist/lib/libinclavare-walk.so (npm run build; `npm test` builds first).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { DigestCache, type CacheSession, type DigestCacheConfig } from '../../../src/rune/enclave/digest-cache.ts';
import { loadNativeWalk, nativeTreeDigest, nativeWalkLibrary, rootfsDigest } from '../../../src/rune/enclave/native-walk.ts';
import { exclusionList, treeDigest, type TreeDigest } from '../../../src/rune/enclave/tree-digest.ts';
import { nodeTreeReader } from '../../../src/sys/tree.ts';

const isRoot = process.getuid?.() === 0;
/** A clock 10 s ahead and no racy margin: every file the test made may be recorded. */
const ahead = (): bigint => BigInt(Date.now() + 10_000) * 1_000_000n;

let tmp = '';
let n = 0;
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'native-walk-'));
  assert.ok(existsSync(nativeWalkLibrary()), `${nativeWalkLibrary()} is missing: run npm run build`);
  assert.equal(await loadNativeWalk(), true, 'the library loads');
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const config = (): DigestCacheConfig => ({ dir: join(tmp, `cache-${n++}`), maxBytes: 64 << 20, racyMarginNs: 0n, now: ahead });

/** The JavaScript digest, no cache: the reference. */
const reference = (root: string, excluded: readonly string[] = []): Promise<TreeDigest> => treeDigest(root, { excluded: exclusionList(excluded), reader: nodeTreeReader });

/** Fills the cache with every file of `root` (a cold JavaScript measurement) and returns a fresh session. */
async function warmed(cache: DigestCache, root: string, excluded: readonly string[] = []): Promise<CacheSession> {
  const cold = await cache.session(root);
  await treeDigest(root, { excluded: exclusionList(excluded), reader: nodeTreeReader, contents: cold });
  assert.equal(cold.save(), undefined);
  return cache.session(root);
}

/** A tree of every kind of entry the records know (devices need root). */
function sampleTree(): string {
  const root = join(tmp, `tree-${n++}`);
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc/ssl'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  writeFileSync(join(root, 'bin/busybox'), Buffer.alloc(100_000, 7), { mode: 0o755 });
  for (const name of ['sh', 'ls', 'cat']) linkSync(join(root, 'bin/busybox'), join(root, 'bin', name));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(join(root, 'etc/ssl/cert.pem'), 'pem');
  writeFileSync(join(root, 'etc/empty-file'), '');
  symlinkSync('/proc/mounts', join(root, 'etc/mtab-link'));
  symlinkSync('../bin/busybox', join(root, 'etc/relative'));
  chmodSync(join(root, 'etc/ssl'), 0o1750);
  assert.equal(spawnSync('mkfifo', [join(root, 'etc/fifo')]).status, 0);
  if (isRoot) {
    assert.equal(spawnSync('mknod', [join(root, 'etc/null'), 'c', '1', '3']).status, 0);
    assert.equal(spawnSync('mknod', [join(root, 'etc/loop'), 'b', '7', '300']).status, 0);
    assert.equal(spawnSync('chown', ['1234:5678', join(root, 'etc/passwd')]).status, 0);
  }
  return root;
}

void describe('the C walk of the warm path', () => {
  void test('equals treeDigest on every kind of entry, with exclusions and absent paths, and counts the hits', async () => {
    const root = sampleTree();
    for (const excluded of [[], ['/etc/ssl'], ['/bin/sh', '/empty']]) {
      const cache = new DigestCache(config());
      const session = await warmed(cache, root, excluded);
      const native = nativeTreeDigest(root, { excluded: exclusionList(excluded), absent: ['/missing/dir', '/etc/fifo'], session });
      assert.ok(native !== undefined, `the C walk answers (excluded ${excluded.join(',')})`);
      const js = await treeDigest(root, { excluded: exclusionList(excluded), absent: ['/missing/dir', '/etc/fifo'], reader: nodeTreeReader });
      assert.deepEqual(native, js);
      assert.equal(session.stats.hits, excluded.includes('/etc/ssl') ? 3 : 4, 'one hit per inode (busybox and its links once)');
      assert.equal(session.stats.misses, 0);
    }
  });

  void test('equals treeDigest on random trees (property)', async () => {
    const name = fc.stringMatching(/^[A-Za-z0-9._ -]{1,12}$/).filter((s) => s !== '.' && s !== '..');
    type Node = { kind: 'file'; data: string; mode: number } | { kind: 'dir'; children: [string, Node][] } | { kind: 'link'; target: string } | { kind: 'hard' };
    const node: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.record({ kind: fc.constant('file' as const), data: fc.string({ maxLength: 40 }), mode: fc.constantFrom(0o644, 0o755, 0o4755, 0o600) }),
        fc.record({ kind: fc.constant('link' as const), target: fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\0')) }),
        fc.constant({ kind: 'hard' as const }),
        fc.record({ kind: fc.constant('dir' as const), children: fc.uniqueArray(fc.tuple(name, tie('node')), { maxLength: 5, selector: ([k]) => k }) }),
      ),
    })).node;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(name, node), { minLength: 1, maxLength: 6, selector: ([k]) => k }), async (top) => {
        const root = join(tmp, `random-${n++}`);
        mkdirSync(root);
        // At least one regular file: with none, the cache's volume has no record and the C walk is not tried.
        writeFileSync(join(root, '~file'), 'always');
        let firstFile: string | undefined;
        const paths: string[] = [];
        const make = (dir: string, children: [string, Node][]): void => {
          for (const [k, v] of children) {
            const p = join(dir, k);
            paths.push(p.slice(root.length));
            if (v.kind === 'file') {
              writeFileSync(p, v.data);
              chmodSync(p, v.mode);
              firstFile ??= p;
            } else if (v.kind === 'link') symlinkSync(v.target, p);
            else if (v.kind === 'hard') {
              if (firstFile !== undefined) linkSync(firstFile, p);
              else writeFileSync(p, 'first');
              firstFile ??= p;
            } else {
              mkdirSync(p);
              make(p, v.children);
            }
          }
        };
        make(root, top);
        const excluded = paths.length > 1 ? [paths[paths.length >> 1]!] : [];
        const session = await warmed(new DigestCache(config()), root, excluded);
        const native = nativeTreeDigest(root, { excluded: exclusionList(excluded), session });
        assert.ok(native !== undefined);
        assert.deepEqual(native, await reference(root, excluded));
      }),
      { numRuns: 60 },
    );
  });

  void test('what the records cover changes the digest through the C walk too: mode, owner, link target, a new directory, a rename', async () => {
    const root = sampleTree();
    const cache = new DigestCache(config());
    const digest = async (): Promise<string> => {
      const session = await warmed(cache, root);
      const native = nativeTreeDigest(root, { excluded: [], session });
      assert.ok(native !== undefined, 'answered by the C walk');
      assert.deepEqual(native, await reference(root));
      return native.digest;
    };
    const seen = new Set([await digest()]);
    const changes: [string, () => void][] = [
      ['mode of a directory', () => chmodSync(join(root, 'etc/ssl'), 0o755)],
      ['mode of a file', () => chmodSync(join(root, 'etc/passwd'), 0o600)],
      ['link target', () => {
        rmSync(join(root, 'etc/relative'));
        symlinkSync('../bin/sh', join(root, 'etc/relative'));
      }],
      ['a new empty directory', () => mkdirSync(join(root, 'new'))],
      ['a rename', () => spawnSync('mv', [join(root, 'etc/ssl/cert.pem'), join(root, 'etc/ssl/cert2.pem')])],
      ...(isRoot ? ([['owner', () => spawnSync('chown', ['1:1', join(root, 'etc/empty-file')])]] as [string, () => void][]) : []),
    ];
    for (const [what, change] of changes) {
      change();
      const d = await digest();
      assert.ok(!seen.has(d), `${what} changes the digest`);
      seen.add(d);
    }
  });

  void test('gives up, leaving the session untouched, on a file not in the cache, a changed file or a non-ASCII name; rootfsDigest is then the JavaScript digest', async () => {
    const cases: [string, (root: string) => void][] = [
      ['a new file', (root) => writeFileSync(join(root, 'etc/new'), 'new')],
      ['a file rewritten with its size kept', (root) => writeFileSync(join(root, 'etc/passwd'), 'ROOT:x:0:0::/root:/bin/sh\n')],
      ['a hard link added (ctime changes)', (root) => linkSync(join(root, 'etc/passwd'), join(root, 'etc/passwd-'))],
      ['a non-ASCII name', (root) => mkdirSync(join(root, 'caf\u00e9'))],
    ];
    for (const [what, change] of cases) {
      const root = sampleTree();
      const cache = new DigestCache(config());
      await warmed(cache, root);
      change(root);
      const session = await cache.session(root);
      assert.equal(nativeTreeDigest(root, { excluded: [], session }), undefined, `${what}: the C walk gives up`);
      assert.deepEqual(session.stats, { hits: 0, hitBytes: 0, misses: 0, recorded: 0 }, `${what}: the session is untouched`);
      assert.deepEqual(await rootfsDigest(root, { excluded: [], reader: nodeTreeReader, contents: session }, session), await reference(root), what);
    }
  });

  void test('a records buffer too small is grown (the same digest)', async () => {
    const root = sampleTree();
    const session = await warmed(new DigestCache(config()), root);
    const native = nativeTreeDigest(root, { excluded: [], session, capacity: 16 });
    assert.deepEqual(native, await reference(root));
  });

  void test('the volume file: untouched when every record was used, rewritten with the used ones only when some were not', async () => {
    const root = sampleTree();
    const cache = new DigestCache(config());
    const all = await warmed(cache, root);
    const file = cache.list()[0]!.path;
    const before = readFileSync(file);
    assert.ok(nativeTreeDigest(root, { excluded: [], session: all }) !== undefined);
    assert.equal(all.save(), undefined);
    assert.deepEqual(readFileSync(file), before, 'not rewritten');
    const some = await cache.session(root);
    assert.ok(nativeTreeDigest(root, { excluded: ['/etc'], session: some }) !== undefined);
    assert.equal(some.save(), undefined);
    assert.equal(cache.list()[0]!.entries, 1, 'only busybox (the files below /etc were not used)');
    assert.ok(cache.list()[0]!.intact);
  });

  void test('RUNE_NATIVE_WALK=0 turns it off', async () => {
    assert.equal(await loadNativeWalk({ RUNE_NATIVE_WALK: '0' }), false);
  });
});

void describe('the C walk on an overlay (root: mounts)', { skip: !isRoot ? 'needs root' : false }, () => {
  const mounts: string[] = [];
  after(() => {
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  });
  const overlay = (lower: string): string => {
    const base = join(tmp, `ovl-${n++}`);
    for (const d of ['upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true });
    const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${base}/upper,workdir=${base}/work`, join(base, 'merged')]);
    assert.equal(r.status, 0, r.stderr.toString());
    mounts.push(join(base, 'merged'));
    return join(base, 'merged');
  };

  void test('a second mount of the same layers is answered by the C walk; a file copied up to the upper directory makes it give up', async () => {
    const lower = sampleTree();
    const config1 = config();
    const a = overlay(lower);
    await warmed(new DigestCache(config1), a);
    const b = overlay(lower);
    mkdirSync(join(b, 'mnt-point')); // a directory in the upper directory (as runc's mount points): no file to look up
    const session = await new DigestCache(config1).session(b);
    const native = nativeTreeDigest(b, { excluded: [], session });
    assert.ok(native !== undefined, 'answered');
    assert.deepEqual(native, await reference(b));
    // A copied-up file: the upper directory holds it (and its ctime is new), so it is never looked up.
    spawnSync('chown', ['0:0', join(b, 'etc/ssl/cert.pem')]);
    const again = await new DigestCache(config1).session(b);
    assert.equal(nativeTreeDigest(b, { excluded: [], session: again }), undefined, 'gives up on a copied-up file');
  });
});
