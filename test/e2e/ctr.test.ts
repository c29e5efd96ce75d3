// containerd's ctr drives the runtime under test through the stock runc shim
// (`ctr run --runc-binary <rune> --runc-root <root>`): the shim calls it as
// `<rune> --root <root>/<namespace> --log <bundle>/log.json --log-format json <command> ...`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startContainerd, type Containerd } from '../support/containerd.ts';
import {
  assertRuntimeStateDir,
  describeRun,
  isRunc,
  exists,
  makeOciImage,
  makeTempDir,
  removeNewCgroups,
  removeTempDir,
  requireTools,
  runInBackground,
  runtimeBinary,
  snapshotCgroups,
  waitFor,
  waitForOutput,
  type CgroupSnapshot,
} from '../support/fixtures.ts';
import { buildWasm } from '../support/wasm.ts';

const IMAGE = 'docker.io/inclavare/busybox:latest';
const NAMESPACE = 'default';

void describe(`ctr --runc-binary ${runtimeBinary()}`, { timeout: 120_000 }, () => {
  const runtime = runtimeBinary();
  let tmp = '';
  let gate = '';
  let fifoDir = '';
  let containerd: Containerd | undefined;
  let cgroups: CgroupSnapshot | undefined;

  const cd = (): Containerd => {
    assert.ok(containerd, 'containerd did not start');
    return containerd;
  };
  /** The runc shim passes `--root <runc-root>/<namespace>` to the runtime. */
  const stateRoot = (): string => path.join(cd().runtimeRoot, NAMESPACE);
  /** ctr's global flags: our containerd, our namespace. */
  const global = (): string[] => ['-a', cd().address, '-n', NAMESPACE];
  /** `ctr run` with the flags that select the runtime under test. */
  const ctrRun = (id: string, flags: readonly string[], cmd: readonly string[]): string[] => [
    'run', '--fifo-dir', fifoDir, '--runc-binary', runtime, '--runc-root', cd().runtimeRoot,
    ...flags, IMAGE, id, ...cmd,
  ];
  const taskStatus = async (id: string): Promise<string | undefined> => {
    const ls = await cd().ctrOk(['tasks', 'ls'], { namespace: NAMESPACE });
    const row = ls.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((cols) => cols[0] === id);
    return row?.[2];
  };

  before(async () => {
    await requireTools([
      { bin: 'containerd', pkg: 'containerd' },
      { bin: 'ctr', pkg: 'containerd' },
      { bin: 'containerd-shim-runc-v2', pkg: 'containerd' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    cgroups = await snapshotCgroups();
    tmp = await makeTempDir('rune-e2e-ctr-');
    gate = path.join(tmp, 'gate');
    fifoDir = path.join(tmp, 'fifo');
    await mkdir(gate);
    await mkdir(fifoDir);
    containerd = await startContainerd(tmp, { runtimeBinary: runtime });
    const image = await makeOciImage(path.join(tmp, 'image'), { name: IMAGE, cmd: ['sh'] });
    await containerd.importImage(image, NAMESPACE);
  });

  after(async () => {
    if (tmp === '') return;
    await containerd?.stop();
    if (cgroups) {
      // ctr places containers at /<namespace>/<id>; containerd leaves the parent behind.
      const left = await removeNewCgroups(cgroups, [NAMESPACE]);
      if (left.length > 0) console.error(`ctr e2e: cgroups left behind: ${left.join(', ')}`);
    }
    await removeTempDir(tmp);
  });

  void test('ctr run --rm propagates the exit code 6 of the container', async () => {
    const args = ctrRun('ct-exit', ['--rm', '--mount', `type=bind,src=${gate},dst=/gate,options=rbind:rw`], [
      'sh', '-c', 'echo started; while [ ! -e /gate/exit-go ]; do sleep 0.05; done; echo finishing; exit 6',
    ]);
    const child = runInBackground('ctr', [...global(), ...args], { timeoutMs: 60_000 });
    await waitForOutput(child, 'started\n');
    await assertRuntimeStateDir(stateRoot(), 'ct-exit');
    await writeFile(path.join(gate, 'exit-go'), '');
    const r = await child.exited;
    assert.equal(r.code, 6, describeRun('ctr', args, r));
    assert.match(r.stdout, /started\nfinishing\n/);
    assert.equal(await exists(path.join(stateRoot(), 'ct-exit')), false, 'ctr run --rm left the runtime state behind');
    const containers = await cd().ctrOk(['containers', 'ls', '-q'], { namespace: NAMESPACE });
    assert.doesNotMatch(containers.stdout, /^ct-exit$/m);
  });

  void test('ctr task exec runs a process in the running container, and pause/resume work', async () => {
    const args = ctrRun('ct-exec', ['-d'], ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.05; done']);
    const started = await cd().ctr(args, { namespace: NAMESPACE });
    assert.equal(started.code, 0, describeRun('ctr', args, started));
    await assertRuntimeStateDir(stateRoot(), 'ct-exec');
    assert.equal(await taskStatus('ct-exec'), 'RUNNING');

    const execArgs = ['tasks', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e1', 'ct-exec',
      'sh', '-c', 'echo "exec says $((6 * 7))"; cat /proc/1/cmdline | tr "\\0" " "; exit 4'];
    const ex = await cd().ctr(execArgs, { namespace: NAMESPACE });
    assert.equal(ex.code, 4, describeRun('ctr', execArgs, ex));
    assert.match(ex.stdout, /^exec says 42\nsh -c trap/);

    await cd().ctrOk(['tasks', 'pause', 'ct-exec'], { namespace: NAMESPACE });
    assert.equal(await taskStatus('ct-exec'), 'PAUSED');
    await cd().ctrOk(['tasks', 'resume', 'ct-exec'], { namespace: NAMESPACE });
    assert.equal(await taskStatus('ct-exec'), 'RUNNING');

    await cd().ctrOk(['tasks', 'kill', '--signal', 'SIGKILL', 'ct-exec'], { namespace: NAMESPACE });
    await waitFor('ct-exec to stop', async () => (await taskStatus('ct-exec')) === 'STOPPED');
    await cd().ctrOk(['tasks', 'delete', 'ct-exec'], { namespace: NAMESPACE });
    await cd().ctrOk(['containers', 'delete', 'ct-exec'], { namespace: NAMESPACE });
    assert.equal(await exists(path.join(stateRoot(), 'ct-exec')), false, 'ctr tasks delete left the runtime state behind');
  });

  void test('ctr task kill delivers SIGTERM and the attached ctr run exits with the status it caused', async () => {
    const args = ctrRun('ct-kill', ['--rm'], ['sh', '-c', 'trap "exit 5" TERM; echo ready; while :; do sleep 0.05; done']);
    const child = runInBackground('ctr', [...global(), ...args], { timeoutMs: 60_000 });
    await waitForOutput(child, 'ready\n');
    await assertRuntimeStateDir(stateRoot(), 'ct-kill');
    await cd().ctrOk(['tasks', 'kill', '--signal', 'SIGTERM', 'ct-kill'], { namespace: NAMESPACE });
    const r = await child.exited;
    assert.equal(r.code, 5, describeRun('ctr', args, r));
    assert.equal(await exists(path.join(stateRoot(), 'ct-kill')), false);
  });
  void (isRunc(runtime) ? test.skip : test)('ctr runs a sim enclave container configured by --env: exec runs inside it, SIGTERM ends it with its status', async (t) => {
    const env = ['--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim'];
    const out = path.join(tmp, 'enclave-out');
    await mkdir(out, { recursive: true });
    const args = ctrRun('ct-enclave', ['--rm', ...env, '--mount', `type=bind,src=${out},dst=/out,options=rbind:rw`], ['sh', '-c', 'trap "exit 8" TERM; echo ready; while :; do sleep 0.05; done']);
    const child = runInBackground('ctr', [...global(), ...args], { timeoutMs: 60_000 });
    await waitForOutput(child, 'ready\n');
    await assertRuntimeStateDir(stateRoot(), 'ct-enclave');
    assert.equal(await exists(path.join(stateRoot(), 'ct-enclave', 'enclave.json')), true);
    // PID 1's command line through a bind mount: ctr's exec stdout lost the output of this quick exec once
    // in CI (exit code right, stdout empty), so it is reported below but not relied on.
    const execArgs = ['tasks', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e2', 'ct-enclave', 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline | tee /out/pid1; exit 3'];
    const ex = await cd().ctr(execArgs, { namespace: NAMESPACE });
    assert.equal(ex.code, 3, describeRun('ctr', execArgs, ex));
    assert.match(await readFile(path.join(out, 'pid1'), 'utf8'), /\/\.rune\/init-runelet-sim/, 'PID 1 in the exec\'s view is init-runelet (its C build for sim)');
    if (!/init-runelet/.test(ex.stdout)) t.diagnostic(`ctr tasks exec printed no output: ${describeRun('ctr', execArgs, ex)}`);
    await cd().ctrOk(['tasks', 'kill', '--signal', 'SIGTERM', 'ct-enclave'], { namespace: NAMESPACE });
    const r = await child.exited;
    assert.equal(r.code, 8, describeRun('ctr', args, r));
    assert.equal(await exists(path.join(stateRoot(), 'ct-enclave')), false);
  });
  void (isRunc(runtime) ? test.skip : test)('ctr runs a wasm enclave container, the module from a bind mount', async () => {
    const modules = path.join(tmp, 'wasm');
    await mkdir(modules, { recursive: true });
    await writeFile(path.join(modules, 'hello.wasm'), await buildWasm('hello'));
    const args = ctrRun('ct-wasm', ['--rm', '--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=wasm',
      '--mount', `type=bind,src=${modules},dst=/w,options=rbind:ro`], ['/w/hello.wasm']);
    const r = await cd().ctr(args, { namespace: NAMESPACE });
    assert.equal(r.code, 0, describeRun('ctr', args, r));
    assert.equal(r.stdout, 'hello from wasm\n');
  });
});
