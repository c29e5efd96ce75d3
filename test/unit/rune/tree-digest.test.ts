/**
 * issue #12 item 3 - the rootfs file-tree digest: two trees that differ in any path, type, mode, owner,
 * content, link target or device number differ; excluded paths do not count; an independent
 * implementation of the documented encoding (Python, docs/enclave-containers.md) gives the same digest.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeTreeReader, splitDevice } from '../../../src/sys/tree.ts';
import { ALWAYS_EXCLUDED, exclusionList, treeDigest } from '../../../src/rune/enclave/tree-digest.ts';
import { missingAncestors } from '../../../src/rune/enclave/rootfs-path.ts';

const isRoot = process.getuid?.() === 0;

function baseTree(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'));
  mkdirSync(join(dir, 'app'));
  mkdirSync(join(dir, 'proc'));
  mkdirSync(join(dir, 'app/sub'));
  writeFileSync(join(dir, 'bin/tool'), Buffer.alloc(300_000, 7), { mode: 0o755 });
  writeFileSync(join(dir, 'app/run.sh'), 'echo one\n', { mode: 0o755 });
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  symlinkSync('tool', join(dir, 'bin/sh'));
}

const digestOf = async (dir: string, excluded: readonly string[] = exclusionList([])): Promise<string> => (await treeDigest(dir, { excluded, reader: nodeTreeReader })).digest;

const changes: { name: string; root?: boolean; change: (dir: string) => void }[] = [
  { name: 'the content of a file', change: (d) => writeFileSync(join(d, 'app/run.sh'), 'echo two\n') },
  { name: 'one byte of a large file', change: (d) => writeFileSync(join(d, 'bin/tool'), Buffer.concat([Buffer.alloc(299_999, 7), Buffer.from([8])])) },
  { name: 'the mode of a file', change: (d) => chmodSync(join(d, 'app/run.sh'), 0o644) },
  { name: 'the setuid bit', change: (d) => chmodSync(join(d, 'bin/tool'), 0o4755) },
  { name: 'the sticky bit of a directory', change: (d) => chmodSync(join(d, 'app'), 0o1755) },
  { name: 'the owner uid of a file', root: true, change: (d) => chownSync(join(d, 'etc/passwd'), 1000, 0) },
  { name: 'the owner gid of a directory', root: true, change: (d) => chownSync(join(d, 'app'), 0, 1000) },
  { name: 'a symlink target', change: (d) => { unlinkSync(join(d, 'bin/sh')); symlinkSync('/bin/tool', join(d, 'bin/sh')); } },
  { name: 'an added empty file', change: (d) => writeFileSync(join(d, 'app/empty'), '') },
  { name: 'an added empty directory', change: (d) => mkdirSync(join(d, 'app/empty')) },
  { name: 'a removed file', change: (d) => unlinkSync(join(d, 'etc/passwd')) },
  { name: 'a removed empty directory', change: (d) => rmSync(join(d, 'app/sub'), { recursive: true }) },
  { name: 'a renamed file', change: (d) => { cpSync(join(d, 'app/run.sh'), join(d, 'app/run2.sh'), { preserveTimestamps: true }); unlinkSync(join(d, 'app/run.sh')); } },
  { name: 'a file moved to another directory', change: (d) => { cpSync(join(d, 'app/run.sh'), join(d, 'etc/run.sh')); unlinkSync(join(d, 'app/run.sh')); } },
  { name: 'a file turned into a directory', change: (d) => { unlinkSync(join(d, 'etc/passwd')); mkdirSync(join(d, 'etc/passwd'), { mode: 0o644 }); chmodSync(join(d, 'etc/passwd'), 0o644); } },
  { name: 'a file turned into a FIFO', change: (d) => { unlinkSync(join(d, 'etc/passwd')); execFileSync('mkfifo', ['-m', '644', join(d, 'etc/passwd')]); } },
  { name: 'a char device\'s minor number', root: true, change: (d) => { rmSync(join(d, 'app/null')); execFileSync('mknod', ['-m', '666', join(d, 'app/null'), 'c', '1', '5']); } },
  { name: 'a char device turned into a block device', root: true, change: (d) => { rmSync(join(d, 'app/null')); execFileSync('mknod', ['-m', '666', join(d, 'app/null'), 'b', '1', '3']); } },
];

for (const c of changes) {
  test(`treeDigest() of two trees that differ only in ${c.name} differs`, { skip: c.root && !isRoot ? 'needs root' : false }, async () => {
    const a = mkdtempSync(join(tmpdir(), 'tree-a-'));
    const b = mkdtempSync(join(tmpdir(), 'tree-b-'));
    try {
      for (const d of [a, b]) {
        baseTree(d);
        if (isRoot) execFileSync('mknod', ['-m', '666', join(d, 'app/null'), 'c', '1', '3']);
      }
      assert.equal(await digestOf(a), await digestOf(b), 'identical trees');
      c.change(b);
      assert.notEqual(await digestOf(a), await digestOf(b));
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });
}

test('treeDigest() ignores excluded paths and everything below them, times, and whether two names are hard links', async () => {
  const a = mkdtempSync(join(tmpdir(), 'tree-a-'));
  const b = mkdtempSync(join(tmpdir(), 'tree-b-'));
  try {
    baseTree(a);
    baseTree(b);
    const excluded = exclusionList(['/app/data', '/proc/sys', '/dev/shm']);
    assert.deepEqual(excluded, ['/.rune', '/app/data', '/dev', '/etc/hostname', '/etc/hosts', '/etc/mtab', '/etc/resolv.conf', '/proc', '/run', '/sys']);
    const before = await digestOf(a, excluded);
    mkdirSync(join(b, 'proc/1'), { recursive: true });
    writeFileSync(join(b, 'proc/1/status'), 'x');
    mkdirSync(join(b, '.rune'));
    writeFileSync(join(b, 'etc/hostname'), 'box\n');
    mkdirSync(join(b, 'app/data'));
    writeFileSync(join(b, 'app/data/secret'), 'volume content');
    execFileSync('touch', ['-d', '2001-01-01', join(b, 'app/run.sh'), join(b, 'app')]);
    linkSync(join(b, 'bin/tool'), join(b, 'app/tool'));
    cpSync(join(a, 'bin/tool'), join(a, 'app/tool'));
    chmodSync(join(a, 'app/tool'), 0o755);
    assert.equal(await digestOf(b, excluded), await digestOf(a, excluded));
    assert.notEqual(before, await digestOf(a, excluded));
    const r = await treeDigest(b, { excluded, reader: nodeTreeReader });
    assert.equal(r.bytes, 300_000 + 'echo one\n'.length + 'root:x:0:0::/root:/bin/sh\n'.length, 'a hard-linked file is read once');
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test('exclusionList() resolves destinations through the rootfs, drops "/" and relative ones, and keeps only the topmost of nested paths', () => {
  assert.deepEqual(
    exclusionList(['/', 'rel', '/var/lib/x/', '/w', '/w/mod', '/dev/pts', '/var/run/y'], (d) => d.replace(/^\/var\/run/, '/run')),
    [...ALWAYS_EXCLUDED, '/var/lib/x', '/w'].sort(),
  );
});

test('splitDevice() splits dev_t as glibc does', () => {
  assert.deepEqual(splitDevice((1 << 8) | 3), { major: 1, minor: 3 });
  assert.deepEqual(splitDevice(0x310312), { major: 259, minor: 786 });
  assert.deepEqual(splitDevice(0x1_0000_0000 * 0x1000 + 0x10312), { major: 0x1103, minor: 0x12 });
});

// The documented encoding, written again from docs/enclave-containers.md only, in Python.
const PYTHON = String.raw`
import hashlib, os, stat, struct, sys
root, excluded = sys.argv[1].encode(), set(p.encode() for p in sys.argv[2:])
h = hashlib.sha384()
def walk(rel):
    for name in sorted(os.listdir(root + rel if rel != b'/' else root)):
        path = (rel if rel != b'/' else b'') + b'/' + name
        if path in excluded: continue
        st = os.lstat(root + path)
        m = st.st_mode
        t = b'f' if stat.S_ISREG(m) else b'd' if stat.S_ISDIR(m) else b'l' if stat.S_ISLNK(m) else b'c' if stat.S_ISCHR(m) else b'b' if stat.S_ISBLK(m) else b'p' if stat.S_ISFIFO(m) else b's'
        rec = struct.pack('>I', len(path)) + path + t + struct.pack('>III', stat.S_IMODE(m), st.st_uid, st.st_gid)
        if t == b'f': rec += hashlib.sha384(open(root + path, 'rb').read()).digest()
        elif t == b'l': target = os.readlink(root + path); rec += struct.pack('>I', len(target)) + target
        elif t in (b'c', b'b'): rec += struct.pack('>II', os.major(st.st_rdev), os.minor(st.st_rdev))
        h.update(rec)
        if t == b'd': walk(path)
walk(b'/')
print(h.hexdigest())
`;

test('treeDigest() equals an independent Python implementation of the documented encoding', { skip: spawnSync('python3', ['--version']).status !== 0 ? 'no python3' : false }, async () => {
  const a = mkdtempSync(join(tmpdir(), 'tree-py-'));
  try {
    baseTree(a);
    mkdirSync(join(a, 'app/d-e'));
    mkdirSync(join(a, 'app/d'));
    writeFileSync(join(a, 'app/d/x'), 'x');
    writeFileSync(Buffer.concat([Buffer.from(`${a}/app/`), Buffer.from([0xff, 0x0a])]), 'odd name');
    writeFileSync(Buffer.concat([Buffer.from(`${a}/app/`), Buffer.from([0xc3, 0xa9])]), 'utf-8 name');
    if (isRoot) execFileSync('mknod', ['-m', '600', join(a, 'app/blk'), 'b', '259', '786']);
    chmodSync(join(a, 'app'), 0o3775);
    const excluded = exclusionList(['/app/d']);
    const py = execFileSync('python3', ['-c', PYTHON, a, ...excluded], { encoding: 'utf8' }).trim();
    assert.equal(await digestOf(a, excluded), py);
  } finally {
    rmSync(a, { recursive: true, force: true });
  }
});

test('issue #15 - the synchronous metadata walk and the asynchronous one give the same digest, entries and bytes on random trees', async () => {
  const asyncOnly = { ...nodeTreeReader, sync: undefined };
  const name = fc.stringMatching(/^[a-z\u00e9.-]{1,6}$/).filter((n) => n !== '.' && n !== '..');
  type Spec = { name: string; kind: 'file' | 'dir' | 'link' | 'hardlink'; size: number; mode: number };
  const entry = fc.record({ name, kind: fc.constantFrom('file', 'dir', 'link', 'hardlink'), size: fc.integer({ min: 0, max: 70_000 }), mode: fc.constantFrom(0o644, 0o755, 0o4755, 0o600) }) as fc.Arbitrary<Spec>;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), entry), { maxLength: 25 }), async (specs) => {
      const dir = mkdtempSync(join(tmpdir(), 'tree-sync-'));
      try {
        const dirs = [dir];
        let firstFile: string | undefined;
        for (const [parent, spec] of specs) {
          const p = join(dirs[parent % dirs.length]!, spec.name);
          try {
            if (spec.kind === 'dir') {
              mkdirSync(p, { mode: 0o755 });
              dirs.push(p);
            } else if (spec.kind === 'link') symlinkSync(`../${spec.name}`, p);
            else if (spec.kind === 'hardlink' && firstFile !== undefined) linkSync(firstFile, p);
            else {
              writeFileSync(p, Buffer.alloc(spec.size, spec.name), { mode: spec.mode });
              chmodSync(p, spec.mode);
              firstFile ??= p;
            }
          } catch {
            // the name exists already: skip this entry
          }
        }
        const excluded = exclusionList(['/x']);
        const viaSync = await treeDigest(dir, { excluded, reader: nodeTreeReader });
        const viaAsync = await treeDigest(dir, { excluded, reader: asyncOnly });
        assert.deepEqual(viaSync, viaAsync);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 60 },
  );
});

test('issue #15 - both walks name the path that cannot be read, and a cache hit answers without reading', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tree-err-'));
  try {
    baseTree(dir);
    const failing = (which: 'sync' | 'async') => ({
      ...nodeTreeReader,
      ...(which === 'async' ? { sync: undefined } : {}),
      hashFile: async (p: Buffer, a: string) => (p.toString().endsWith('/etc/passwd') ? Promise.reject(new Error('EIO: i/o error')) : nodeTreeReader.hashFile(p, a)),
    });
    for (const which of ['sync', 'async'] as const) {
      await assert.rejects(treeDigest(dir, { excluded: [], reader: failing(which) }), (e: Error) => e.message.includes('/etc/passwd cannot be read (EIO: i/o error)'), which);
    }
    const real = await treeDigest(dir, { excluded: [], reader: nodeTreeReader });
    let reads = 0;
    const contents = {
      digest: (p: Buffer) => { reads++; return nodeTreeReader.hashFile(p, 'sha384'); },
      cached: (p: Buffer) => (p.toString().endsWith('/bin/tool') ? execFileSync('sha384sum', [p.toString()], { encoding: 'utf8' }).slice(0, 96) : undefined),
    };
    const withHits = await treeDigest(dir, { excluded: [], reader: nodeTreeReader, contents: { digest: contents.digest, cached: (p) => { const h = contents.cached(p); return h === undefined ? undefined : Buffer.from(h, 'hex'); } } });
    assert.equal(withHits.digest, real.digest);
    assert.equal(reads, 2, 'bin/tool came from the cache; run.sh and passwd were read');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('issue #15 - missingAncestors() names the first missing component of each path, through the rootfs symlinks; `absent` paths that appear later do not change the digest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tree-absent-'));
  try {
    baseTree(dir);
    symlinkSync('/app/sub', join(dir, 'linked'));
    symlinkSync('../../etc', join(dir, 'app/sub/up'));
    const destinations = [
      '/app/run.sh', // exists
      '/app/sub', // exists
      '/new/deep/volume', // /new is missing
      '/app/sub/x/y', // /app/sub/x
      '/linked/mnt/point', // through the link: /app/sub/mnt
      '/app/sub/up/conf.d/one', // through a relative link: /etc/conf.d
      '/app/run.sh/below', // a file where a directory should be: nothing
      'relative/path', // not absolute: nothing
      '/new/other', // same first missing component as another
    ];
    const missing = missingAncestors(dir, destinations);
    assert.deepEqual(missing, ['/app/sub/mnt', '/app/sub/x', '/etc/conf.d', '/new']);
    const before = await digestOf(dir);
    const excluded = exclusionList([]);
    const absentDigest = async (): Promise<string> => (await treeDigest(dir, { excluded, absent: missing, reader: nodeTreeReader })).digest;
    assert.equal(await absentDigest(), before, 'absent paths that do not exist change nothing');
    // What runc makes for these mount points while the measurement runs.
    mkdirSync(join(dir, 'new/deep/volume'), { recursive: true });
    mkdirSync(join(dir, 'app/sub/x/y'), { recursive: true });
    mkdirSync(join(dir, 'app/sub/mnt/point'), { recursive: true });
    mkdirSync(join(dir, 'etc/conf.d'));
    writeFileSync(join(dir, 'etc/conf.d/one'), '');
    assert.equal(await absentDigest(), before, 'made after the measurement began: the digest is the one taken before');
    assert.notEqual(await digestOf(dir), before, 'once in the image, they count');
    // Only the named paths: anything else that changes still changes the digest.
    writeFileSync(join(dir, 'app/run.sh'), 'echo two\n');
    assert.notEqual(await absentDigest(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
