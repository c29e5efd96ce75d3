/** Hooks of enclave containers: wrapped so that the state on their stdin names the engine's bundle. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { deriveConfig, wrapHooks, type HostNode } from '../../../src/rune/enclave/bundle.ts';
import { startContainerHooks } from '../../../src/rune/enclave/lifecycle.ts';
import type { OciConfig } from '../../../src/oci/config.ts';

const host: HostNode = { node: '/usr/bin/node', loader: '/lib64/ld-linux-x86-64.so.2', libs: [] };
const HOOK_EXEC = join(new URL('../../..', import.meta.url).pathname, 'dist/hook-exec');

test('wrapHooks() runs each hook through hook-exec with its env and timeout kept', () => {
  const hooks = {
    prestart: [{ path: '/bin/hook', args: ['hook', 'a b'], env: ['X=1'], timeout: 7 }],
    poststop: [{ path: '/bin/bare' }],
  };
  const wrapped = wrapHooks(hooks, '/engine/bundle', '/opt/dist/hook-exec') as Record<string, { path: string; args: string[]; env?: string[]; timeout?: number }[]>;
  assert.deepEqual(wrapped.prestart, [
    { path: '/opt/dist/hook-exec', args: ['/opt/dist/hook-exec', '"/engine/bundle"', '/bin/hook', 'hook', 'a b'], env: ['X=1'], timeout: 7 },
  ]);
  assert.deepEqual(wrapped.poststop, [{ path: '/opt/dist/hook-exec', args: ['/opt/dist/hook-exec', '"/engine/bundle"', '/bin/bare'] }]);
  assert.deepEqual(hooks.prestart[0]!.args, ['hook', 'a b'], 'the engine config is not modified');
});

test('deriveConfig() leaves startContainer hooks to init-runelet (runc would run them at create) and wraps the others', () => {
  const config: OciConfig = {
    process: { args: ['sh'] },
    hooks: { startContainer: [{ path: '/in/container' }], poststart: [{ path: '/bin/post' }] },
  };
  const derived = deriveConfig(config, '/engine/bundle', { host, initScript: '/d/init-runelet.mjs', enclaveFile: '/s/enclave.json', controlDir: '/s/control', hookExec: '/d/hook-exec' });
  assert.deepEqual(derived.hooks, { poststart: [{ path: '/d/hook-exec', args: ['/d/hook-exec', '"/engine/bundle"', '/bin/post'] }] });
  assert.ok(!(derived.mounts as { destination: string }[]).some((m) => m.destination === '/.rune/hook-exec'), 'no hook-exec inside the container');
  assert.deepEqual((config.hooks as { startContainer: unknown }).startContainer, [{ path: '/in/container' }], 'the engine config is not modified');
});

test('startContainerHooks() takes the config\'s startContainer hooks and refuses what runc would not parse', () => {
  assert.equal(startContainerHooks({}), undefined);
  assert.equal(startContainerHooks({ hooks: { startContainer: [] } }), undefined);
  const hooks = [{ path: '/h', args: ['h', 'x'], env: ['A=1'], timeout: 3 }];
  assert.deepEqual(startContainerHooks({ hooks: { startContainer: hooks, prestart: [{ path: '/p' }] } }), hooks);
  assert.throws(() => startContainerHooks({ hooks: { startContainer: [{ args: ['x'] }] } }), /hooks\.startContainer\[0\] in config\.json is not a hook/);
  assert.throws(() => startContainerHooks({ hooks: { startContainer: [{ path: '/h', timeout: '3' }] } }), /hooks\.startContainer\[0\]/);
  assert.throws(() => startContainerHooks({ hooks: { startContainer: { path: '/h' } } }), /is not an array/);
});

test('hook-exec replaces the top-level bundle of the state and execs the hook with its argv and env', { skip: !existsSync(HOOK_EXEC) && 'dist/hook-exec is not built' }, () => {
  const state = JSON.stringify({ ociVersion: '1.0.2', id: 'c', status: 'creating', pid: 1, bundle: '/run/rune/c/bundle', annotations: { bundle: 'keep', x: '{"bundle":"}' } });
  const res = spawnSync(HOOK_EXEC, ['"/engine/b \\"q\\""', '/bin/sh', 'sh', '-c', 'echo "$0 $V"; cat'], { input: state, env: { V: 'v' }, encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const [first, rest] = [res.stdout.slice(0, res.stdout.indexOf('\n')), res.stdout.slice(res.stdout.indexOf('\n') + 1)];
  assert.equal(first, 'sh v');
  assert.deepEqual(JSON.parse(rest), { ...JSON.parse(state), bundle: '/engine/b "q"' });
});

test('hook-exec passes a state it cannot parse through unchanged, and exits 127 for a missing hook', { skip: !existsSync(HOOK_EXEC) && 'dist/hook-exec is not built' }, () => {
  const res = spawnSync(HOOK_EXEC, ['"/b"', '/bin/cat'], { input: 'not json', encoding: 'utf8' });
  assert.equal(res.stdout, 'not json');
  const missing = spawnSync(HOOK_EXEC, ['"/b"', '/nonexistent/hook'], { input: '{}', encoding: 'utf8' });
  assert.equal(missing.status, 127);
  assert.match(missing.stderr, /cannot execute hook \/nonexistent\/hook/);
});
