/**
 * The enclave container lifecycle against the OS seam's fake: create (derived bundle, control FIFO, state
 * files written atomically, attestation registration, PAL init), start through the FIFO, state as the engine
 * must see it, delete, run, exec, and the failure paths that must leave nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { create } from '../../../src/rune/commands/create.ts';
import { deleteContainer } from '../../../src/rune/commands/delete.ts';
import { exec } from '../../../src/rune/commands/exec.ts';
import { list } from '../../../src/rune/commands/list.ts';
import { start } from '../../../src/rune/commands/start.ts';
import { state } from '../../../src/rune/commands/state.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import type { EnclaveDescription } from '../../../src/runelet/description.ts';
import { addBundle, DIST, fakeHost, ROOT, RUNC, SIM } from './support/fake-runc.ts';

const code = (c: string) => (err: unknown): boolean => isInclavareError(err) && err.code === c;
const dir = join(ROOT, 'e1');

async function createSim(options: Parameters<typeof fakeHost>[0] = {}, edit?: (c: Record<string, unknown>) => void): Promise<ReturnType<typeof fakeHost>> {
  const host = fakeHost(options);
  addBundle(host.sys, '/b', { env: SIM, edit });
  assert.equal(await create({ id: 'e1', raw: ['create', '--bundle', '/b', '--pid-file', '/p', 'e1'], bundle: '/b' }, host.ctx), 0);
  return host;
}

test('create of a sim enclave container writes its state atomically, derives the bundle and has the backend create and start init-runelet in one call', async () => {
  const { sys, attestation } = await createSim();
  assert.deepEqual(sys.callsOf('writeFileAtomic').map((c) => [c.path, c.mode.toString(8)]), [
    [join(ROOT, '.host-node.json'), '600'],
    [join(dir, 'attestation'), '600'],
    // PID 1 is init-runelet-sim: what it runs, in its own form.
    [join(dir, 'control/launch'), '644'],
    [join(dir, 'enclave.json'), '644'],
    [join(dir, 'bundle/config.json'), '644'],
    // Measured while the backend created the container: the description again, with the measurement.
    [join(dir, 'enclave.json'), '644'],
  ]);
  assert.deepEqual(sys.callsOf('writeFile'), [], 'nothing of rune\'s state is written in place');
  assert.deepEqual(sys.callsOf('mkfifo').map((c) => [c.path, c.mode.toString(8)]), [[join(dir, 'control/start'), '600']]);
  assert.deepEqual(sys.callsOf('chown'), [], 'a root workload needs no chown');
  assert.ok(sys.has('/b/rootfs/.rune'), 'the /.rune mount point is made from the host');
  assert.equal(sys.text('/b/config.json')!.includes('"bundle"'), false, 'the engine\'s bundle is not written to');

  const description = JSON.parse(sys.text(join(dir, 'enclave.json'))!) as EnclaveDescription;
  assert.equal(description.bundle, '/b');
  assert.equal(description.process.path, '/bin/sh');
  assert.match(description.measurement, /^[0-9a-f]{96}$/);
  assert.equal(description.attestationSocket, '/.rune/attest/attest.sock');
  assert.equal(sys.text(join(dir, 'attestation')), `/run/inclavared/control.sock\n${attestation.registered[0]}\n`, 'the launcher reads the same two lines');
  assert.deepEqual(attestation.bound, [`${attestation.registered[0]}=${description.measurement}`], 'registered pending, then bound to the measurement');

  const derived = JSON.parse(sys.text(join(dir, 'bundle/config.json'))!) as { process: { args: string[]; env: string[] }; root: { path: string }; mounts: { destination: string; source: string }[] };
  assert.deepEqual(derived.process.args, ['/.rune/lib/ld-linux-x86-64.so.2', '--library-path', '/.rune/lib', '/.rune/init-runelet-sim']);
  assert.deepEqual(derived.process.env, ['UV_THREADPOOL_SIZE=1']);
  assert.equal(derived.root.path, '/b/rootfs');
  const mounts = new Map(derived.mounts.map((m) => [m.destination, m.source]));
  assert.equal(mounts.get('/.rune/init-runelet-sim'), join(DIST, 'init-runelet-sim'));
  assert.equal(mounts.get('/.rune/init-runelet.mjs'), join(DIST, 'init-runelet.mjs'), '`rune exec` still runs the Node.js runelet');
  const launch = sys.readFile(join(dir, 'control/launch')).toString('utf8').split('\0');
  assert.deepEqual(launch.slice(0, 7), ['inclavare-init-sim/1', 'id', 'e1', 'path', '/bin/sh', 'cwd', '/']);
  assert.ok(launch.includes(`INCLAVARE_ATTESTATION_SOCKET=${description.attestationSocket}`), 'the workload env names its attestation socket');
  assert.equal(mounts.get('/.rune/enclave.json'), join(dir, 'enclave.json'));
  assert.equal(mounts.get('/.rune/control'), join(dir, 'control'));
  assert.equal(mounts.get('/.rune/attest'), `/run/inclavared/containers/${attestation.registered[0]}`);

  const backendRoot = join(dir, 'runc');
  // Measured while the backend creates the container: `run --detach` starts init-runelet in the same call.
  assert.deepEqual(sys.callsOf('run').map((c) => c.args), [['--root', backendRoot, 'run', '--detach', '--bundle', join(dir, 'bundle'), '--pid-file', '/p', 'e1']]);
  assert.deepEqual(sys.callsOf('capture').filter((c) => c.file === RUNC).map((c) => c.args), [], 'no separate start');
});

test('PID 1 is the Node.js init-runelet for a sim container with secrets or startContainer hooks, and with RUNE_SIM_INIT=node', async () => {
  const nodeInit = ['/.rune/lib/ld-linux-x86-64.so.2', '--library-path', '/.rune/lib', '/.rune/node', '--v8-pool-size=1', '/.rune/init-runelet.mjs'];
  const withHooks = (c: Record<string, unknown>): void => {
    c.hooks = { startContainer: [{ path: '/bin/true' }] };
  };
  const cases: [string, Parameters<typeof createSim>[0], ((c: Record<string, unknown>) => void) | undefined][] = [
    ['RUNE_SIM_INIT=node', { env: { RUNE_SIM_INIT: 'node' } }, undefined],
    ['startContainer hooks', {}, withHooks],
  ];
  for (const [what, options, edit] of cases) {
    const { sys } = await createSim(options, edit);
    const derived = JSON.parse(sys.text(join(dir, 'bundle/config.json'))!) as { process: { args: string[] }; mounts: { destination: string }[] };
    assert.deepEqual(derived.process.args, nodeInit, what);
    assert.equal(derived.mounts.some((m) => m.destination === '/.rune/init-runelet-sim'), false, what);
    assert.equal(sys.has(join(dir, 'control/launch')), false, what);
  }
});

test('issue #15 - RUNE_CREATE_OVERLAP=0 measures before anything else, registers with the measurement, and gives the same measurement', async () => {
  const overlapped = await createSim();
  const first = await createSim({ env: { RUNE_CREATE_OVERLAP: '0' } });
  assert.deepEqual(first.sys.callsOf('writeFileAtomic').map((c) => c.path), [join(ROOT, '.host-node.json'), join(dir, 'attestation'), join(dir, 'control/launch'), join(dir, 'enclave.json'), join(dir, 'bundle/config.json')]);
  assert.deepEqual(first.attestation.bound, [], 'registered with the measurement: nothing to bind');
  assert.deepEqual(first.sys.callsOf('run').map((c) => c.args[2]), ['create'], 'the backend creates; init-runelet starts once measured');
  assert.deepEqual(first.sys.callsOf('capture').filter((c) => c.file === RUNC).map((c) => c.args[2]), ['start']);
  const measurement = (h: ReturnType<typeof fakeHost>): string => (JSON.parse(h.sys.text(join(dir, 'enclave.json'))!) as EnclaveDescription).measurement;
  assert.equal(measurement(first), measurement(overlapped));
});

test('issue #15 - a native PAL container is measured while the backend creates it, but its init-runelet (pal_init) starts only once measured', async () => {
  const host = fakeHost();
  host.sys.addFile('/lib/liberpal-test.so', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]));
  addBundle(host.sys, '/b', { env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=/lib/liberpal-test.so'] });
  assert.equal(await create({ id: 'e1', raw: ['create', '--bundle', '/b', 'e1'], bundle: '/b' }, host.ctx), 0);
  assert.equal(host.attestation.bound.length, 1, 'registered pending, then bound: overlapped');
  assert.deepEqual(host.sys.callsOf('run').map((c) => c.args[2]), ['create']);
  assert.deepEqual(host.sys.callsOf('capture').filter((c) => c.file === RUNC).map((c) => c.args[2]), ['start']);
});

test('issue #15 - OCI hooks that run during create, or secrets, make create measure first', async () => {
  for (const edit of [
    (c: Record<string, unknown>) => void (c.hooks = { createRuntime: [{ path: '/bin/true' }] }),
    (c: Record<string, unknown>) => void (c.hooks = { poststart: [{ path: '/bin/true' }] }),
  ]) {
    const host = await createSim({}, edit);
    assert.deepEqual(host.attestation.bound, []);
    assert.equal(host.sys.callsOf('writeFileAtomic').filter((c) => c.path === join(dir, 'enclave.json')).length, 1);
    assert.deepEqual(host.sys.callsOf('run').map((c) => c.args[2]), ['create'], 'its hooks run as runc create and start run them');
  }
});

test('the host node\'s libraries come from ldd until the cache beside the state can be written, then from the cache', async () => {
  const host = await createSim();
  const ldd = (): number => host.sys.callsOf('capture').filter((c) => c.file === 'ldd').length;
  assert.equal(ldd(), 1);
  assert.equal(host.sys.has(join(ROOT, '.host-node.json')), false, 'the first create finds no ROOT to cache in (the cache is an optimisation)');
  for (const id of ['e2', 'e3']) {
    addBundle(host.sys, `/${id}`, { env: SIM });
    await create({ id, raw: ['create', '--bundle', `/${id}`, id], bundle: `/${id}` }, host.ctx);
  }
  assert.equal(ldd(), 2);
  assert.ok(host.sys.has(join(ROOT, '.host-node.json')));
});

test('a non-root workload under a user namespace gets the control FIFO chowned to its host ids', async () => {
  const { sys } = await createSim({}, (c) => {
    (c.process as Record<string, unknown>).user = { uid: 1000, gid: 1000 };
    (c.linux as Record<string, unknown>).namespaces = [{ type: 'user' }, { type: 'mount' }];
    (c.linux as Record<string, unknown>).uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    (c.linux as Record<string, unknown>).gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
  });
  assert.deepEqual(sys.callsOf('chown').map((c) => [c.path, c.uid, c.gid]), [
    [join(dir, 'control'), 101000, 201000],
    [join(dir, 'control/start'), 101000, 201000],
  ]);
});

test('state of an enclave container is "created" until rune start and names the engine\'s bundle; start writes one byte to the FIFO and a marker', async () => {
  const { sys, ctx } = await createSim();
  assert.equal(await state({ id: 'e1', raw: ['state', 'e1'] }, ctx), 0);
  const before = JSON.parse(sys.out) as { status: string; bundle: string };
  assert.deepEqual([before.status, before.bundle], ['created', '/b'], 'init-runelet runs, the workload does not yet');
  assert.equal(await start({ id: 'e1', raw: ['start', 'e1'] }, ctx), 0);
  assert.deepEqual(sys.callsOf('writeFifo'), [{ op: 'writeFifo', path: join(dir, 'control/start'), data: [1] }]);
  assert.ok(sys.callsOf('writeFileAtomic').some((c) => c.path === join(dir, 'started')));
  sys.out = '';
  await state({ id: 'e1', raw: ['state', 'e1'] }, ctx);
  assert.equal((JSON.parse(sys.out) as { status: string }).status, 'running');
  assert.equal(sys.callsOf('run').length, 1, 'start and state of an enclave container do not hand the terminal to the backend');
  await assert.rejects(start({ id: 'e1', raw: ['start', 'e1'] }, ctx), (err: unknown) => code('RUNE_ERR_WRONG_STATE')(err) && /already started/.test((err as Error).message));
});

test('startContainer hooks go into the enclave description (with the backend\'s spec version and the annotations), not into the derived config, and do not change the measurement', async () => {
  const hooks = [{ path: '/bin/hook', args: ['hook', 'x'], env: ['A=1'], timeout: 5 }];
  const plain = await createSim();
  const withHooks = await createSim({}, (c) => {
    c.hooks = { startContainer: hooks, poststop: [{ path: '/bin/post' }] };
    c.annotations = { 'org.example': 'a' };
  });
  const described = (sys: typeof plain.sys): EnclaveDescription => JSON.parse(sys.text(join(dir, 'enclave.json'))!) as EnclaveDescription;
  assert.deepEqual(described(withHooks.sys).startContainer, { hooks, ociVersion: '1.0.2-dev', annotations: { 'org.example': 'a' } });
  assert.equal(described(plain.sys).startContainer, undefined);
  assert.equal(described(withHooks.sys).measurement, described(plain.sys).measurement);
  assert.equal(withHooks.sys.text(join(dir, 'start-hooks')), '1\n', 'the launcher hands start of this container to Node.js');
  assert.equal(plain.sys.has(join(dir, 'start-hooks')), false);
  const derived = JSON.parse(withHooks.sys.text(join(dir, 'bundle/config.json'))!) as { hooks: Record<string, unknown> };
  assert.deepEqual(Object.keys(derived.hooks), ['poststop']);
});

test('start of a container with startContainer hooks waits for init-runelet\'s report; a failed hook still starts it, as runc does', async () => {
  for (const report of [{ state: 'running' }, { state: 'error', message: 'error running hook #0: boom' }]) {
    const { sys, ctx } = await createSim({}, (c) => {
      c.hooks = { startContainer: [{ path: '/bin/hook' }] };
    });
    sys.addFile(join(dir, 'control/started'), JSON.stringify(report));
    assert.equal(await start({ id: 'e1', raw: ['start', 'e1'] }, ctx), 0);
    assert.deepEqual(sys.callsOf('writeFifo').map((c) => c.path), [join(dir, 'control/start')]);
    assert.ok(sys.has(join(dir, 'started')));
  }
});

test('start fails with RUNE_ERR_WRONG_STATE when init-runelet no longer waits on its FIFO', async () => {
  const { sys, ctx } = await createSim();
  sys.node(join(dir, 'control/start'))!.reader = false;
  await assert.rejects(start({ id: 'e1', raw: ['start', 'e1'] }, ctx), (err: unknown) => code('RUNE_ERR_WRONG_STATE')(err) && /is not waiting/.test((err as Error).message));
  assert.equal(sys.has(join(dir, 'started')), false);
});

test('list shows an enclave container as the engine must see it', async () => {
  const { sys, ctx } = await createSim();
  list({ format: 'json', quiet: false }, ctx);
  const [listed] = JSON.parse(sys.out) as { id: string; status: string; bundle: string }[];
  assert.deepEqual([listed!.id, listed!.status, listed!.bundle], ['e1', 'created', '/b']);
});

test('delete of an enclave container unregisters its attestation socket and removes its state', async () => {
  const { sys, ctx, attestation } = await createSim();
  await start({ id: 'e1', raw: ['start', 'e1'] }, ctx);
  assert.equal(await deleteContainer({ id: 'e1', raw: ['delete', '--force', 'e1'] }, ctx), 0);
  assert.deepEqual(attestation.unregistered, attestation.registered);
  assert.equal(sys.has(dir), false);
});

test('a PAL init failure fails create with the runtime\'s message and leaves nothing: backend container deleted, socket unregistered, state removed', async () => {
  const host = fakeHost({ init: { state: 'error', message: 'PAL init failed: no enclave for you' } });
  addBundle(host.sys, '/b', { env: SIM });
  await assert.rejects(
    create({ id: 'e1', raw: ['create', '--bundle', '/b', 'e1'], bundle: '/b' }, host.ctx),
    (err: unknown) => code('RUNE_ERR_ENCLAVE_INIT')(err) && /no enclave for you/.test((err as Error).message),
  );
  // init-runelet was started by the backend's `run --detach`: the cleanup deletes the container.
  assert.deepEqual(host.sys.callsOf('capture').filter((c) => c.file === RUNC).map((c) => c.args.slice(2)), [['delete', '--force', 'e1']]);
  assert.deepEqual(host.attestation.unregistered, host.attestation.registered);
  assert.equal(host.sys.has(dir), false);
});

test('a failing backend create fails an enclave create with RUNE_ERR_BACKEND and leaves no state', async () => {
  // Overlapped (the default) the backend's call is `run --detach`; measuring first, `create`.
  for (const [call, env] of [['run', {}], ['create', { RUNE_CREATE_OVERLAP: '0' }]] as const) {
    const host = fakeHost({ fail: { [call]: 1 }, env });
    addBundle(host.sys, '/b', { env: SIM });
    await assert.rejects(create({ id: 'e1', raw: ['create', '--bundle', '/b', 'e1'], bundle: '/b' }, host.ctx), code('RUNE_ERR_BACKEND'));
    assert.equal(host.sys.callsOf('capture').filter((c) => c.file === RUNC).length, 0, 'nothing to delete at the backend');
    assert.deepEqual(host.attestation.unregistered, host.attestation.registered);
    assert.equal(host.sys.has(dir), false);
  }
});

test('enclave configurations rune cannot run are refused before anything is claimed or spawned', async () => {
  const cases: [string, string[], (c: Record<string, unknown>) => void, string][] = [
    ['a missing entrypoint', SIM, (c) => { (c.process as Record<string, unknown>).args = ['/bin/nope']; }, 'RUNE_ERR_ENTRYPOINT'],
    ['a wasm entrypoint that is not WebAssembly', ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm'], (c) => { (c.process as Record<string, unknown>).args = ['/bin/sh']; }, 'RUNE_ERR_ENTRYPOINT'],
    ['an SGX enclave on a host without SGX', ['ENCLAVE_TYPE=intelSgx', 'ENCLAVE_RUNTIME_PATH=/lib/liberpal-skeleton.so'], () => undefined, 'RUNE_ERR_ENCLAVE_CONFIG'],
    ['a user the user namespace does not map', SIM, (c) => {
      (c.process as Record<string, unknown>).user = { uid: 70000, gid: 0 };
      (c.linux as Record<string, unknown>).namespaces = [{ type: 'user' }];
      (c.linux as Record<string, unknown>).uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      (c.linux as Record<string, unknown>).gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    }, 'RUNE_ERR_ENCLAVE_CONFIG'],
  ];
  for (const [name, env, edit, expected] of cases) {
    const host = fakeHost();
    addBundle(host.sys, '/b', { env, edit });
    await assert.rejects(create({ id: 'e1', raw: ['create', 'e1'], bundle: '/b' }, host.ctx), code(expected), name);
    assert.equal(host.sys.has(ROOT), false, name);
    assert.equal(host.sys.callsOf('run').length, 0, name);
    assert.deepEqual(host.attestation.registered, [], name);
  }
});

test('an installation without dist/init-runelet.mjs is refused with RUNE_ERR_INSTALL before the id is claimed', async () => {
  const host = fakeHost();
  host.sys.drop(join(DIST, 'init-runelet.mjs'));
  addBundle(host.sys, '/b', { env: SIM });
  await assert.rejects(create({ id: 'e1', raw: ['create', 'e1'], bundle: '/b' }, host.ctx), code('RUNE_ERR_INSTALL'));
  assert.equal(host.sys.has(dir), false);
});

test('a /.rune in the rootfs that is not a directory is refused, and the failed create leaves nothing', async () => {
  const host = fakeHost();
  addBundle(host.sys, '/b', { env: SIM });
  host.sys.addSymlink('/b/rootfs/.rune', '/etc');
  await assert.rejects(create({ id: 'e1', raw: ['create', 'e1'], bundle: '/b' }, host.ctx), (err: unknown) => code('RUNE_ERR_MOUNT_POINT')(err) && /exists and is not a directory/.test((err as Error).message));
  assert.equal(host.sys.has(dir), false);
  assert.equal(host.sys.callsOf('run').length, 0);
});

test('run of an enclave container in the foreground forwards signals as backend kills and returns the workload\'s exit code, then cleans up', async () => {
  const host = fakeHost();
  const { sys, ctx } = host;
  addBundle(sys, '/b', { env: SIM });
  let polls = 0;
  const spawn = sys.spawn;
  sys.spawn = (file, args, kind) => {
    if (args.includes('state') && ++polls === 3) {
      sys.signal('SIGUSR1');
      sys.addFile(join(dir, 'control/exit'), JSON.stringify({ exitCode: 42 }));
    }
    return spawn(file, args, kind);
  };
  const code42 = await create({ id: 'e1', raw: ['run', '--bundle', '/b', 'e1'], bundle: '/b', run: true }, ctx);
  assert.equal(code42, 42);
  assert.ok(sys.callsOf('capture').some((c) => c.args.join(' ') === `--root ${dir}/runc kill e1 10`), 'SIGUSR1 went to the container');
  assert.ok(sys.callsOf('capture').some((c) => c.args.join(' ') === `--root ${dir}/runc delete --force e1`));
  assert.deepEqual(host.attestation.unregistered, host.attestation.registered);
  assert.equal(sys.has(dir), false);
  sys.signal('SIGUSR1');
  assert.equal(sys.callsOf('capture').filter((c) => c.args.includes('kill')).length, 1, 'no forwarding once run returned');
});

test('exec in an enclave container runs the command through a runelet, arguments kept as an argv', async () => {
  const { sys, ctx } = await createSim();
  const raw = ['exec', '-t', 'e1', 'sh', '-c', 'echo "a b"'];
  await exec({ id: 'e1', raw, command: ['sh', '-c', 'echo "a b"'] }, ctx);
  assert.deepEqual(sys.callsOf('run').at(-1)!.args, [
    '--root', join(dir, 'runc'), 'exec', '-t', 'e1',
    '/.rune/lib/ld-linux-x86-64.so.2', '--library-path', '/.rune/lib', '/.rune/node', '--v8-pool-size=1', '/.rune/init-runelet.mjs', '--runelet', '--', 'sh', '-c', 'echo "a b"',
  ]);
});

test('exec --process in an enclave container rewrites the process file into the state directory, atomically', async () => {
  const { sys, ctx } = await createSim();
  sys.addFile('/proc.json', JSON.stringify({ args: ['ls', '-l'], cwd: '/' }));
  await exec({ id: 'e1', raw: ['exec', '--process', '/proc.json', 'e1'], command: [], processFile: '/proc.json' }, ctx);
  const args = sys.callsOf('run').at(-1)!.args;
  const rewritten = args[args.indexOf('--process') + 1]!;
  assert.match(rewritten, new RegExp(`^${dir}/exec-[0-9a-f]{12}\\.json$`));
  assert.ok(sys.callsOf('writeFileAtomic').some((c) => c.path === rewritten && c.mode === 0o600));
  const spec = JSON.parse(sys.text(rewritten)!) as { args: string[]; cwd: string };
  assert.deepEqual(spec.args.slice(-4), ['--runelet', '--', 'ls', '-l']);
  assert.equal(spec.cwd, '/');
  await assert.rejects(exec({ id: 'e1', raw: ['exec', '-p', '/nope.json', 'e1'], command: [], processFile: '/nope.json' }, ctx), code('RUNE_ERR_USAGE'));
});
