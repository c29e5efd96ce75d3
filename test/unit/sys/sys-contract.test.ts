/**
 * The OS seam's contract, run against both implementations: linuxSys() in a temporary directory and
 * FakeSys. A fake that answers differently from the kernel would make rune's unit tests lie.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeSys } from '../../../src/sys/fake.ts';
import { linuxSys } from '../../../src/sys/linux.ts';
import type { Sys } from '../../../src/sys/sys.ts';

const real = mkdtempSync(join(tmpdir(), 'sys-contract-'));
after(() => rmSync(real, { recursive: true, force: true }));

const implementations: [string, Sys, string][] = [
  ['linuxSys', linuxSys(), real],
  ['FakeSys', new FakeSys().addDir('/work'), '/work'],
];

const errno = (code: string) => (err: unknown): boolean => (err as NodeJS.ErrnoException).code === code;

for (const [name, sys, base] of implementations) {
  describe(`${name} keeps the Sys contract`, () => {
    test('mkdir: EEXIST for an existing path, ENOENT for a missing parent, recursive makes parents and accepts a directory', () => {
      sys.mkdir(join(base, 'd'), { mode: 0o700 });
      assert.equal(sys.stat(join(base, 'd'))?.type, 'directory');
      assert.equal(sys.stat(join(base, 'd'))?.mode, 0o700);
      assert.throws(() => sys.mkdir(join(base, 'd'), { mode: 0o700 }), errno('EEXIST'));
      assert.throws(() => sys.mkdir(join(base, 'x/y'), { mode: 0o700 }), errno('ENOENT'));
      sys.mkdir(join(base, 'p/q/r'), { mode: 0o755, recursive: true });
      sys.mkdir(join(base, 'p/q/r'), { mode: 0o755, recursive: true });
      assert.equal(sys.stat(join(base, 'p/q'))?.type, 'directory');
    });

    test('files: written in place or atomically with their mode, read back, listed, removed', () => {
      const file = join(base, 'd/f');
      assert.equal(sys.stat(file), undefined);
      assert.throws(() => sys.readFile(file), errno('ENOENT'));
      sys.writeFile(file, 'one', { mode: 0o600, exclusive: true });
      assert.throws(() => sys.writeFile(file, 'two', { exclusive: true }), errno('EEXIST'));
      sys.writeFileAtomic(join(base, 'd/g'), 'atomic', { mode: 0o644 });
      assert.equal(sys.readFile(join(base, 'd/g')).toString(), 'atomic');
      assert.equal(sys.stat(join(base, 'd/g'))?.mode, 0o644);
      assert.deepEqual(sys.readHead(file, 2).toString(), 'on');
      sys.appendFile(file, '+more');
      assert.equal(sys.readFile(file).toString(), 'one+more');
      assert.deepEqual(sys.readDir(join(base, 'd')).map((e) => [e.name, e.type]).sort(), [['f', 'file'], ['g', 'file']]);
      assert.throws(() => sys.writeFile(join(base, 'nope/f'), 'x'), errno('ENOENT'));
      sys.remove(join(base, 'd'));
      sys.remove(join(base, 'd'));
      assert.equal(sys.stat(join(base, 'd')), undefined);
    });

    test('a FIFO nobody reads refuses a non-blocking write with ENXIO', () => {
      const fifo = join(base, 'fifo');
      sys.mkfifo(fifo, 0o600);
      assert.equal(sys.lstat(fifo)?.type, 'fifo');
      assert.throws(() => sys.writeFifo(fifo, Buffer.from([1])), errno('ENXIO'));
    });
  });
}

test('linuxSys() reports exit statuses as a shell does and captures output', async () => {
  const sys = linuxSys();
  assert.equal(await sys.run('/bin/sh', ['-c', 'exit 3']), 3);
  assert.equal(await sys.run('/bin/sh', ['-c', 'kill -TERM $$']), 128 + 15);
  await assert.rejects(sys.run('/nonexistent/program', []), errno('ENOENT'));
  assert.deepEqual(sys.capture('/bin/sh', ['-c', 'echo out; echo err >&2; exit 2']), { status: 2, stdout: 'out\n', stderr: 'err\n' });
  assert.ok(sys.capture('/nonexistent/program', []).error);
  assert.equal(sys.isExecutable('/bin/sh'), true);
  assert.equal(sys.isExecutable('/etc/passwd'), false);
});
