/**
 * rune's commands against the OS seam's fake (src/sys/fake.ts): what is spawned with which argv, what is
 * written where (and atomically), what is left behind on failure. No root, no runc, no kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { create } from '../../../src/rune/commands/create.ts';
import { deleteContainer } from '../../../src/rune/commands/delete.ts';
import { exec } from '../../../src/rune/commands/exec.ts';
import { features } from '../../../src/rune/commands/features.ts';
import { forwarded } from '../../../src/rune/commands/forwarded.ts';
import { kill } from '../../../src/rune/commands/kill.ts';
import { list } from '../../../src/rune/commands/list.ts';
import { spec } from '../../../src/rune/commands/spec.ts';
import { start } from '../../../src/rune/commands/start.ts';
import { state } from '../../../src/rune/commands/state.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { findBackend } from '../../../src/rune/backend.ts';
import { RuneLog } from '../../../src/rune/log.ts';
import { FakeSys } from '../../../src/sys/fake.ts';
import { addBundle, fakeHost, ROOT, RUNC } from './support/fake-runc.ts';

const code = (c: string) => (err: unknown): boolean => isInclavareError(err) && err.code === c;

test('create of a plain container claims ROOT/ID (0700) and runs the backend once with its own root and the engine\'s argv verbatim', async () => {
  const { sys, ctx } = fakeHost();
  addBundle(sys, '/b');
  const raw = ['create', '--bundle', '/b', '--pid-file', '/p', 'c1'];
  assert.equal(await create({ id: 'c1', raw, bundle: '/b' }, ctx), 0);
  assert.deepEqual(sys.callsOf('mkdir').map((c) => [c.path, c.mode.toString(8), c.recursive]), [[ROOT, '700', true], [join(ROOT, 'c1'), '700', false]]);
  const runs = sys.callsOf('run');
  assert.equal(runs.length, 1);
  assert.equal(runs[0]!.file, RUNC);
  assert.deepEqual(runs[0]!.args, ['--root', join(ROOT, 'c1/runc'), ...raw]);
  assert.equal(runs[0]!.extraFds, 0);
  assert.ok(runs[0]!.forwardSignals.includes('SIGTERM') && runs[0]!.forwardSignals.includes('SIGWINCH'), 'signals reach the backend');
  assert.ok(sys.has(join(ROOT, 'c1/runc/c1')), 'the backend keeps its state inside rune\'s');
  assert.equal(sys.callsOf('writeFile').length + sys.callsOf('writeFileAtomic').length, 0, 'a plain container has no files of rune\'s');
});

test('create passes --preserve-fds and $LISTEN_FDS through as extra descriptors, and the global flags before the command', async () => {
  const { sys, ctx } = fakeHost();
  sys.env.LISTEN_FDS = '2';
  addBundle(sys, '/b');
  ctx.globals = { log: '/l.json', logFormat: 'json', systemdCgroup: true, rootless: 'false' };
  await create({ id: 'c1', raw: ['create', '--preserve-fds', '3', '--bundle', '/b', 'c1'], bundle: '/b', preserveFds: '3' }, ctx);
  const [run] = sys.callsOf('run');
  assert.equal(run!.extraFds, 5);
  assert.deepEqual(run!.args.slice(0, 9), ['--root', join(ROOT, 'c1/runc'), '--log', '/l.json', '--log-format', 'json', '--systemd-cgroup', '--rootless', 'false']);
});

test('a failed backend create leaves no state behind and returns the backend\'s status', async () => {
  const { sys, ctx } = fakeHost({ fail: { create: 3 } });
  addBundle(sys, '/b');
  assert.equal(await create({ id: 'c1', raw: ['create', '--bundle', '/b', 'c1'], bundle: '/b' }, ctx), 3);
  assert.equal(sys.has(join(ROOT, 'c1')), false);
  assert.deepEqual(sys.callsOf('remove').map((c) => c.path), [join(ROOT, 'c1')]);
  assert.equal(sys.err, 'runc create failed\n', 'the backend\'s message reaches the user');
});

test('a backend that cannot be started: status 1 with the reason, and no state', async () => {
  const { sys, ctx } = fakeHost();
  addBundle(sys, '/b');
  const spawn = sys.spawn;
  sys.spawn = (file, args, kind) => (kind === 'run' ? { error: new Error('spawn EACCES') } : spawn(file, args, kind));
  assert.equal(await create({ id: 'c1', raw: ['create', '--bundle', '/b', 'c1'], bundle: '/b' }, ctx), 1);
  assert.match(sys.err, /rune: cannot start the backend runtime \/usr\/sbin\/runc: spawn EACCES/);
  assert.equal(sys.has(join(ROOT, 'c1')), false);
});

test('create without a backend fails with RUNE_ERR_BACKEND_MISSING before it claims the id', async () => {
  const { sys, ctx } = fakeHost();
  sys.drop(RUNC);
  addBundle(sys, '/b');
  await assert.rejects(create({ id: 'c1', raw: ['create', 'c1'], bundle: '/b' }, ctx), code('RUNE_ERR_BACKEND_MISSING'));
  assert.equal(sys.has(ROOT), false);
  assert.equal(sys.callsOf('run').length, 0);
});

test('findBackend() looks at --backend, then $RUNE_BACKEND, then PATH, then the usual locations', () => {
  const sys = new FakeSys({ env: { PATH: '/opt/bin:relative:/usr/bin' } });
  sys.addFile('/usr/bin/runc', '', { executable: true }).addFile('/usr/local/sbin/runc', '', { executable: true }).addFile('/x/crun', '', { executable: true });
  assert.equal(findBackend(sys, undefined), '/usr/bin/runc');
  sys.addFile('/opt/bin/runc', '', { executable: false });
  assert.equal(findBackend(sys, undefined), '/usr/bin/runc', 'a file that is not executable is skipped');
  sys.env.RUNE_BACKEND = '/x/crun';
  assert.equal(findBackend(sys, undefined), '/x/crun');
  assert.throws(() => findBackend(sys, '/nope'), (err: unknown) => code('RUNE_ERR_BACKEND_MISSING')(err) && /Cannot use backend runtime \/nope/.test((err as Error).message));
  sys.env.RUNE_BACKEND = '';
  sys.env.PATH = '';
  assert.equal(findBackend(sys, undefined), '/usr/local/sbin/runc');
});

test('create refuses a bad id and an id in use, touching nothing for the bad id', async () => {
  const { sys, ctx } = fakeHost();
  addBundle(sys, '/b');
  for (const id of ['..', 'a/b', '', 'x y']) {
    await assert.rejects(create({ id, raw: ['create', id], bundle: '/b' }, ctx), code('RUNE_ERR_INVALID_ID'));
  }
  assert.equal(sys.calls.length, 0);
  await create({ id: 'c1', raw: ['create', 'c1'], bundle: '/b' }, ctx);
  await assert.rejects(create({ id: 'c1', raw: ['create', 'c1'], bundle: '/b' }, ctx), code('RUNE_ERR_ALREADY_EXISTS'));
  assert.ok(sys.has(join(ROOT, 'c1/runc/c1')), 'the first container is untouched');
});

test('create reports a missing bundle or config.json, and an invalid enclave type, before it claims the id', async () => {
  const { sys, ctx } = fakeHost();
  await assert.rejects(create({ id: 'c1', raw: [], bundle: '/nope' }, ctx), code('RUNE_ERR_BUNDLE'));
  sys.addDir('/empty');
  await assert.rejects(create({ id: 'c1', raw: [], bundle: '/empty' }, ctx), code('RUNE_ERR_CONFIG'));
  addBundle(sys, '/b', { env: ['ENCLAVE_TYPE=bogus'] });
  await assert.rejects(create({ id: 'c1', raw: [], bundle: '/b' }, ctx), code('RUNE_ERR_ENCLAVE_CONFIG'));
  assert.equal(sys.has(ROOT), false);
});

test('run in the foreground removes the state once the backend has none; run --detach and --keep keep it', async () => {
  const { sys, ctx } = fakeHost({ exitCode: 7 });
  addBundle(sys, '/b');
  // The fake runc keeps a stopped container's state after run; a real `runc run` without --keep deletes it.
  const spawn = sys.spawn;
  sys.spawn = (file, args, kind) => {
    const answer = spawn(file, args, kind);
    if (args.includes('run') && !args.includes('--keep') && !args.includes('-d')) sys.drop(join(ROOT, 'c1/runc/c1'));
    return answer;
  };
  assert.equal(await create({ id: 'c1', raw: ['run', '--bundle', '/b', 'c1'], bundle: '/b', run: true }, ctx), 7);
  assert.equal(sys.has(join(ROOT, 'c1')), false);
  assert.equal(await create({ id: 'c2', raw: ['run', '--keep', '--bundle', '/b', 'c2'], bundle: '/b', run: true, keep: true }, ctx), 7);
  assert.ok(sys.has(join(ROOT, 'c2')));
});

test('start, kill, pause, state and delete of a plain container are the backend\'s, run against the container\'s own root', async () => {
  const { sys, ctx } = fakeHost();
  addBundle(sys, '/b');
  await create({ id: 'c1', raw: ['create', '--bundle', '/b', 'c1'], bundle: '/b' }, ctx);
  assert.equal(await start({ id: 'c1', raw: ['start', 'c1'] }, ctx), 0);
  assert.equal(await state({ id: 'c1', raw: ['state', 'c1'] }, ctx), 0);
  assert.equal(await forwarded({ id: 'c1', raw: ['pause', 'c1'] }, ctx), 0);
  assert.equal(await kill({ id: 'c1', raw: ['kill', '--all', 'c1', 'KILL'], signal: 'KILL' }, ctx), 0);
  assert.equal(await deleteContainer({ id: 'c1', raw: ['delete', 'c1'] }, ctx), 0);
  const backendRoot = join(ROOT, 'c1/runc');
  assert.deepEqual(sys.callsOf('run').slice(1).map((c) => c.args), [
    ['--root', backendRoot, 'start', 'c1'],
    ['--root', backendRoot, 'state', 'c1'],
    ['--root', backendRoot, 'pause', 'c1'],
    ['--root', backendRoot, 'kill', '--all', 'c1', 'KILL'],
    ['--root', backendRoot, 'delete', 'c1'],
  ]);
  assert.equal(sys.has(join(ROOT, 'c1')), false, 'delete removes rune\'s state');
});

test('kill refuses an invalid signal before it reaches the backend; commands on an unknown id are RUNE_ERR_NOT_FOUND', async () => {
  const { sys, ctx } = fakeHost();
  addBundle(sys, '/b');
  await create({ id: 'c1', raw: ['create', 'c1'], bundle: '/b' }, ctx);
  const before = sys.calls.length;
  await assert.rejects(kill({ id: 'c1', raw: ['kill', 'c1', 'SIGNOPE'], signal: 'SIGNOPE' }, ctx), code('RUNE_ERR_INVALID_SIGNAL'));
  assert.equal(sys.calls.length, before);
  for (const command of [start, state, deleteContainer, forwarded]) {
    await assert.rejects(command({ id: 'gone', raw: ['x', 'gone'] }, ctx), code('RUNE_ERR_NOT_FOUND'));
  }
  await assert.rejects(start({ id: '../etc', raw: [] }, ctx), code('RUNE_ERR_INVALID_ID'));
});

test('delete keeps rune\'s state while the backend still has the container (a running one without --force)', async () => {
  const { sys, ctx } = fakeHost();
  addBundle(sys, '/b');
  await create({ id: 'c1', raw: ['create', 'c1'], bundle: '/b' }, ctx);
  await start({ id: 'c1', raw: ['start', 'c1'] }, ctx);
  assert.equal(await deleteContainer({ id: 'c1', raw: ['delete', 'c1'] }, ctx), 1);
  assert.ok(sys.has(join(ROOT, 'c1/runc')));
  assert.equal(await deleteContainer({ id: 'c1', raw: ['delete', '--force', 'c1'] }, ctx), 0);
  assert.equal(sys.has(join(ROOT, 'c1')), false);
});

test('delete of a container whose backend state was lost still removes rune\'s state', async () => {
  const { sys, ctx } = fakeHost();
  sys.addDir(join(ROOT, 'lost/runc'));
  assert.equal(await deleteContainer({ id: 'lost', raw: ['delete', 'lost'] }, ctx), 0);
  assert.equal(sys.has(join(ROOT, 'lost')), false);
});

test('list asks the backend for each container with state, skips half-created ones, and prints runc\'s JSON', async () => {
  const { sys, ctx } = fakeHost();
  addBundle(sys, '/b');
  await create({ id: 'b2', raw: ['create', '--bundle', '/b', 'b2'], bundle: '/b' }, ctx);
  await create({ id: 'a1', raw: ['create', '--bundle', '/b', 'a1'], bundle: '/b' }, ctx);
  sys.addDir(join(ROOT, 'half/runc'));
  sys.addFile(join(ROOT, '.host-node.json'), '{}');
  assert.equal(list({ format: 'json', quiet: false }, ctx), 0);
  const listed = JSON.parse(sys.out) as { id: string; status: string; bundle: string }[];
  assert.deepEqual(listed.map((c) => [c.id, c.status, c.bundle]), [['a1', 'created', '/b'], ['b2', 'created', '/b']]);
  assert.deepEqual(sys.callsOf('capture').map((c) => c.args.join(' ')), [`--root ${ROOT}/a1/runc state a1`, `--root ${ROOT}/b2/runc state b2`]);
  sys.out = '';
  list({ format: 'table', quiet: true }, ctx);
  assert.equal(sys.out, 'a1\nb2\n');
  sys.out = '';
  const empty = fakeHost();
  list({ format: 'json', quiet: false }, empty.ctx);
  assert.equal(empty.sys.out, 'null\n', 'no root yet: runc\'s null');
  assert.throws(() => list({ format: 'yaml', quiet: false }, ctx), code('RUNE_ERR_USAGE'));
});

test('features prints the backend\'s document and returns its status', () => {
  const { sys, ctx } = fakeHost();
  sys.spawn = () => ({ stdout: '{"ociVersionMin":"1.0.0"}\n', stderr: 'warn\n', status: 0 });
  assert.equal(features(ctx), 0);
  assert.equal(sys.out, '{"ociVersionMin":"1.0.0"}\n');
  assert.equal(sys.err, 'warn\n');
  sys.spawn = () => ({ error: new Error('ENOENT') });
  assert.throws(() => features(ctx), code('RUNE_ERR_BACKEND_EXEC'));
});

test('exec in a plain container passes every argument through verbatim', async () => {
  const { sys, ctx } = fakeHost();
  addBundle(sys, '/b');
  await create({ id: 'c1', raw: ['create', 'c1'], bundle: '/b' }, ctx);
  const raw = ['exec', '--env', 'A=a b', 'c1', 'sh', '-c', 'echo "x y"'];
  await exec({ id: 'c1', raw, command: ['sh', '-c', 'echo "x y"'] }, ctx);
  assert.deepEqual(sys.callsOf('run').at(-1)!.args, ['--root', join(ROOT, 'c1/runc'), ...raw]);
});

test('RuneLog writes runc-style lines to --log through the seam, and errors to stderr', () => {
  const sys = new FakeSys();
  sys.addDir('/var/log');
  const log = new RuneLog({ path: '/var/log/rune.json', format: 'json', debug: false, sys });
  log.debug('hidden');
  log.error('Cannot do it');
  assert.equal(sys.err, 'rune: Cannot do it\n');
  const line = JSON.parse(sys.text('/var/log/rune.json')!) as { level: string; msg: string };
  assert.deepEqual([line.level, line.msg], ['error', 'Cannot do it']);
  const broken = new RuneLog({ path: '/nope/rune.log', format: 'text', debug: true, sys });
  broken.debug('x');
  assert.match(sys.err, /rune: cannot write log file \/nope\/rune\.log/);
});

test('spec writes config.json into the bundle exclusively, and refuses to overwrite one', () => {
  const sys = new FakeSys();
  sys.addDir('/b');
  assert.equal(spec({ bundle: '/b', enclave: { type: 'sim', runtimePath: 'sim' } }, { sys }), 0);
  assert.deepEqual(sys.callsOf('writeFile'), [{ op: 'writeFile', path: '/b/config.json', mode: 0o644, exclusive: true }]);
  assert.equal((JSON.parse(sys.text('/b/config.json')!) as { annotations: Record<string, string> }).annotations['enclave.type'], 'sim');
  assert.throws(() => spec({ bundle: '/b' }, { sys }), code('RUNE_ERR_SPEC_EXISTS'));
  assert.throws(() => spec({ bundle: '/nope' }, { sys }), (err: unknown) => code('RUNE_ERR_SPEC')(err) && /the bundle directory does not exist/.test((err as Error).message));
});
