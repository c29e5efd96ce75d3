/** rune's pure pieces: log lines, list rendering, signals, ids, enclave settings, the default spec. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLogLine, logTime } from '../../../src/rune/log.ts';
import { renderList, type ListedContainer } from '../../../src/rune/commands/list.ts';
import { parseSignal } from '../../../src/rune/commands/kill.ts';
import { validateId } from '../../../src/rune/state.ts';
import { enclaveSetting, enclaveType } from '../../../src/oci/config.ts';
import { defaultSpec } from '../../../src/oci/spec.ts';
import { backendArgs } from '../../../src/rune/backend.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';

const at = new Date('2026-11-27T10:11:12.345Z');

test('formatLogLine() writes runc-compatible JSON and text lines with second-precision UTC time', () => {
  assert.equal(logTime(at), '2026-11-27T10:11:12Z');
  assert.deepEqual(JSON.parse(formatLogLine('error', 'container "x" does not exist', 'json', at)), {
    level: 'error',
    msg: 'container "x" does not exist',
    time: '2026-11-27T10:11:12Z',
  });
  assert.equal(formatLogLine('error', 'a "quoted" msg', 'text', at), 'time="2026-11-27T10:11:12Z" level=error msg="a \\"quoted\\" msg"');
});

const container = (id: string, pid: number, status: string): ListedContainer => ({
  ociVersion: '1.0.2-dev', id, pid, status, bundle: `/b/${id}`, rootfs: `/b/${id}/rootfs`, created: '2026-11-27T10:11:12.000000001Z', owner: '',
});

test('renderList() prints runc\'s table, JSON (null when empty) and quiet formats', () => {
  assert.equal(renderList([], 'json', false), 'null\n');
  assert.equal(renderList([], 'table', false), 'ID          PID         STATUS      BUNDLE      CREATED     OWNER\n');
  const two = [container('a', 10, 'running'), container('bb', 0, 'stopped')];
  assert.equal(renderList(two, 'table', true), 'a\nbb\n');
  const table = renderList(two, 'table', false).split('\n');
  assert.equal(table[0], 'ID          PID         STATUS      BUNDLE      CREATED                          OWNER');
  assert.equal(table[1], 'a           10          running     /b/a        2026-11-27T10:11:12.000000001Z');
  assert.deepEqual((JSON.parse(renderList(two, 'json', false)) as ListedContainer[]).map((c) => c.id), ['a', 'bb']);
});

test('parseSignal() accepts names with or without SIG and numbers, and rejects anything else', () => {
  for (const [s, n] of [['TERM', 15], ['SIGTERM', 15], ['kill', 9], ['9', 9], ['SIGUSR1', 10], ['64', 64]] as const) assert.equal(parseSignal(s), n);
  for (const s of ['FOO', 'SIGFOO', '0', '65', '-1', '', '9x']) {
    assert.throws(() => parseSignal(s), (e) => isInclavareError(e, 'RUNE_ERR_INVALID_SIGNAL'));
  }
});

test('validateId() follows runc\'s id rule and refuses ids that would leave the state root', () => {
  for (const id of ['abc', 'a-b_c.d+e', '0123456789abcdef'.repeat(4)]) validateId(id);
  for (const id of ['', '.', '..', 'a/b', '../x', 'a b', 'a\nb', 'x'.repeat(1025)]) {
    assert.throws(() => validateId(id), (e) => isInclavareError(e, 'RUNE_ERR_INVALID_ID'));
  }
});

test('enclaveSetting() reads the process env first, then the annotation; an empty type is a plain container', () => {
  const config = {
    process: { env: ['PATH=/bin', 'ENCLAVE_TYPE=sim'] },
    annotations: { 'enclave.type': 'intelSgx', 'enclave.runtime.path': '/lib/pal.so' },
  };
  assert.equal(enclaveSetting(config, 'ENCLAVE_TYPE', 'enclave.type'), 'sim');
  assert.equal(enclaveSetting(config, 'ENCLAVE_RUNTIME_PATH', 'enclave.runtime.path'), '/lib/pal.so');
  assert.equal(enclaveSetting(config, 'ENCLAVE_RUNTIME_ARGS', 'enclave.runtime.args'), undefined);
  assert.equal(enclaveType(config), 'sim');
  assert.equal(enclaveType({ annotations: { 'enclave.type': '' } }), undefined);
  assert.equal(enclaveType(defaultSpec()), undefined, "rune spec's output is a plain container until a type is set");
  assert.equal(enclaveType(defaultSpec({ enclave: { type: 'sim' } })), 'sim');
});

test('defaultSpec({ rootless }) maps the caller into a user namespace and drops the network namespace', () => {
  const spec = defaultSpec({ rootless: true }) as { linux: { namespaces: { type: string }[]; uidMappings: unknown[]; resources?: unknown } };
  const types = spec.linux.namespaces.map((n) => n.type);
  assert.ok(types.includes('user') && !types.includes('network'));
  assert.equal(spec.linux.uidMappings.length, 1);
  assert.equal(spec.linux.resources, undefined);
});

test("backendArgs() puts the container's own root first and forwards the engine's arguments verbatim", () => {
  assert.deepEqual(
    backendArgs('/run/rune/c1/runc', { log: '/b/log.json', logFormat: 'json', debug: true }, ['exec', '--detach', 'c1', 'sh', '-c', 'echo a  b']),
    ['--root', '/run/rune/c1/runc', '--log', '/b/log.json', '--log-format', 'json', '--debug', 'exec', '--detach', 'c1', 'sh', '-c', 'echo a  b'],
  );
});
