/** The shared file helpers: atomic durable writes and exclusive creation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectory, writeFileAtomic, writeFileExclusive } from '../../../src/sys/fs.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'inclavare-sys-fs-'));
}

test('writeFileAtomic() replaces a file with the given mode and leaves no temporary file', () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'state.json');
    writeFileSync(path, 'old');
    writeFileAtomic(path, 'new', { mode: 0o640 });
    assert.equal(readFileSync(path, 'utf8'), 'new');
    assert.equal(statSync(path).mode & 0o777, 0o640 & ~process.umask());
    assert.deepEqual(readdirSync(dir), ['state.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileExclusive() creates once; a second writer gets false and the first content stays', () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'key.pem');
    assert.equal(writeFileExclusive(path, Buffer.from('first')), true);
    assert.equal(writeFileExclusive(path, 'second'), false);
    assert.equal(readFileSync(path, 'utf8'), 'first');
    assert.equal(statSync(path).mode & 0o777, 0o600 & ~process.umask());
    assert.deepEqual(readdirSync(dir), ['key.pem']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('makeDirectory() creates parents with the mode and fails (never hangs) where it cannot create', () => {
  const dir = tempDir();
  try {
    makeDirectory(join(dir, 'a', 'b'), 0o700);
    assert.ok(statSync(join(dir, 'a', 'b')).isDirectory());
    makeDirectory(join(dir, 'a', 'b'), 0o700);
    assert.throws(() => makeDirectory('/proc/inclavare-test/x', 0o700));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomic({ durable: false }) still replaces atomically (no temporary file left, a reader never sees a torn file), without fsync', () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'state.json');
    const script = `import('${join(process.cwd(), 'src/sys/fs.ts')}').then((m) => { for (let i = 0; i < 50; i++) m.writeFileAtomic(${JSON.stringify(path)}, JSON.stringify({ i, pad: 'x'.repeat(8000) }), { durable: process.argv[1] === 'durable' }); })`;
    const traced = (mode: string): number => {
      const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=fsync,fdatasync', process.execPath, '--import', 'tsx', '-e', script, mode], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return (r.stderr.match(/^(\[pid +\d+\] )?f(data)?sync\(/gm) ?? []).length;
    };
    assert.ok(traced('durable') >= 100, 'a durable write fsyncs the file and its directory');
    assert.equal(traced('volatile'), 0, 'durable: false never fsyncs');
    assert.equal((JSON.parse(readFileSync(path, 'utf8')) as { i: number }).i, 49);
    assert.deepEqual(readdirSync(dir), ['state.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
