/** startContainer hooks as init-runelet runs them: runc's argv, env, stdin, timeout and error messages. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStartContainerHooks } from '../../../src/init/start-hooks.ts';

test('each hook gets the state on stdin, its argv and its env (the default env when it has none), in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'start-hooks-'));
  try {
    const log = join(dir, 'log');
    const script = `{ cat /proc/$$/cmdline; echo "A=$A B=$B"; cat; echo; } >> ${log}`;
    const failure = await runStartContainerHooks(
      [
        { path: '/bin/sh', args: ['first', '-c', script, 'x'], env: ['A=1', 'A=2'] },
        { path: '/bin/sh', args: ['second', '-c', script, 'y'] },
      ],
      '{"id":"c"}',
      ['B=default'],
    );
    assert.equal(failure, undefined);
    assert.equal(readFileSync(log, 'utf8'), `first\0-c\0${script}\0x\0A=2 B=\n{"id":"c"}\nsecond\0-c\0${script}\0y\0A= B=default\n{"id":"c"}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing hook stops the rest and is described in runc\'s words', async () => {
  const later = { path: '/bin/sh', args: ['sh', '-c', 'echo must not run >&2; exit 9'] };
  assert.equal(
    await runStartContainerHooks([{ path: '/bin/true' }, { path: '/bin/sh', args: ['sh', '-c', 'echo hook-stderr >&2; echo hook-stdout; exit 3'] }, later], '{}', []),
    'error running hook #1: error running hook: exit status 3, stdout: hook-stdout\n, stderr: hook-stderr\n',
  );
  assert.equal(await runStartContainerHooks([{ path: '/nonexistent' }], '{}', []), 'error running hook #0: fork/exec /nonexistent: no such file or directory');
  assert.equal(await runStartContainerHooks([{ path: '/bin/sh', args: ['sh', '-c', 'kill -TERM $$'] }], '{}', []), 'error running hook #0: error running hook: signal: terminated, stdout: , stderr: ');
});

test('a hook past its timeout is killed', async () => {
  const t0 = Date.now();
  assert.equal(await runStartContainerHooks([{ path: '/bin/sleep', args: ['sleep', '10'], timeout: 1 }], '{}', []), 'error running hook #0: hook ran past specified timeout of 1.0s');
  assert.ok(Date.now() - t0 < 5000);
});
