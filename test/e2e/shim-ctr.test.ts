// containerd-shim-rune-v2 under ctr: `ctr run --runtime io.containerd.rune.v2` on a containerd these tests
// start (dist/ first on its PATH), for plain, sim and wasm containers: output, exit codes, exec, kill,
// pause/resume, ps, metrics, a terminal (ctr -t in a pty made by script(1)), OOM, and the events containerd
// received (forwarded over its ttrpc socket). Nothing may be left behind: no shim, no socket, no container.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startContainerd, type Containerd } from '../support/containerd.ts';
import {
  describeRun,
  listProcesses,
  makeOciImage,
  makeTempDir,
  removeNewCgroups,
  removeTempDir,
  repoRoot,
  requireTools,
  run,
  runInBackground,
  snapshotCgroups,
  waitFor,
  waitForOutput,
  type BackgroundProcess,
  type CgroupSnapshot,
} from '../support/fixtures.ts';
import { buildWasm } from '../support/wasm.ts';
import { shimSocketPath } from '../../src/shim/manager.ts';

const IMAGE = 'docker.io/inclavare/busybox:latest';
const NS = 'default';
const RUNTIME = 'io.containerd.rune.v2';
const DIST = path.join(repoRoot, 'dist');

void describe('containerd-shim-rune-v2 under ctr', { timeout: 300_000 }, () => {
  let tmp = '';
  let fifoDir = '';
  let configPath = '';
  let containerd: Containerd | undefined;
  let cgroups: CgroupSnapshot | undefined;
  let events: BackgroundProcess | undefined;
  const ids: string[] = [];

  const cd = (): Containerd => {
    assert.ok(containerd, 'containerd did not start');
    return containerd;
  };
  const ctrRun = (id: string, flags: readonly string[], cmd: readonly string[]): string[] => {
    ids.push(id);
    return ['run', '--fifo-dir', fifoDir, '--runtime', RUNTIME, '--runtime-config-path', configPath, ...flags, IMAGE, id, ...cmd];
  };
  const taskStatus = async (id: string): Promise<string | undefined> => {
    const ls = await cd().ctrOk(['tasks', 'ls'], { namespace: NS });
    return ls.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((cols) => cols[0] === id)?.[2];
  };
  const shimsOf = async (): Promise<number[]> =>
    (await listProcesses()).filter((p) => p.argv[0] === 'containerd-shim-rune-v2' && p.argv.includes(cd().address)).map((p) => p.pid);

  before(async () => {
    await requireTools([
      { bin: 'containerd', pkg: 'containerd' },
      { bin: 'ctr', pkg: 'containerd' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: 'script', pkg: 'bsdutils' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    assert.ok(existsSync(path.join(DIST, 'containerd-shim-rune-v2')), 'run npm run build first');
    cgroups = await snapshotCgroups();
    tmp = await makeTempDir('rune-e2e-shim-ctr-');
    fifoDir = path.join(tmp, 'fifo');
    await mkdir(fifoDir);
    configPath = path.join(tmp, 'shim.toml');
    await writeFile(configPath, [
      `root = ${JSON.stringify(path.join(tmp, 'containerd', 'rune-root'))}`,
      'log_level = "info"',
      '[enclave_runtime]',
      'log_level = "debug"',
      '',
    ].join('\n'));
    containerd = await startContainerd(tmp, { runtimeBinary: path.join(DIST, 'rune'), shim: { dir: DIST, configPath } });
    const image = await makeOciImage(path.join(tmp, 'image'), { name: IMAGE, cmd: ['sh'] });
    await containerd.importImage(image, NS);
    events = runInBackground('ctr', ['-a', containerd.address, 'events'], { timeoutMs: 600_000 });
  });

  after(async () => {
    if (tmp === '') return;
    events?.child.kill();
    await containerd?.stop();
    if (cgroups) await removeNewCgroups(cgroups, [NS]);
    await removeTempDir(tmp);
  });

  void test('ctr run: output, stderr and the exit code 6 of a plain container; the shim exits and removes its socket', async () => {
    const args = ctrRun('sc-exit', ['--rm'], ['sh', '-c', 'echo out; echo err >&2; exit 6']);
    const r = await cd().ctr(args, { namespace: NS, timeoutMs: 60_000 });
    assert.equal(r.code, 6, describeRun('ctr', args, r));
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    await waitFor('the shim to exit', async () => (await shimsOf()).length === 0);
    assert.equal(existsSync(shimSocketPath(cd().address, NS, 'sc-exit')), false, 'the shim left its socket');
  });

  void test('ctr run reads stdin from the fifo until EOF', async () => {
    const args = ctrRun('sc-stdin', ['--rm'], ['sh', '-c', 'wc -c']);
    const r = await run('ctr', ['-a', cd().address, '-n', NS, ...args], { input: 'twelve bytes', timeoutMs: 60_000 });
    assert.equal(r.code, 0, describeRun('ctr', args, r));
    assert.equal(r.stdout.trim(), '12', describeRun('ctr', args, r));
  });

  void test('ctr task exec/ps/pause/resume/metrics/kill on a detached plain container; execs die with the init', async () => {
    const args = ctrRun('sc-exec', ['-d'], ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.05; done']);
    await cd().ctrOk(args, { namespace: NS, timeoutMs: 60_000 });
    assert.equal(await taskStatus('sc-exec'), 'RUNNING');
    const ex = await cd().ctr(['tasks', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e1', 'sc-exec', 'sh', '-c', 'echo "exec says $((6 * 7))"; exit 4'], { namespace: NS });
    assert.equal(ex.code, 4, ex.stderr);
    assert.equal(ex.stdout, 'exec says 42\n');
    // A long-running exec, to see it in ps and to see it killed with the init.
    const longExec = runInBackground('ctr', ['-a', cd().address, '-n', NS, 'tasks', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e2', 'sc-exec', 'sh', '-c', 'echo up; sleep 1000'], { timeoutMs: 60_000 });
    await waitForOutput(longExec, 'up\n');
    const ps = await cd().ctrOk(['tasks', 'ps', 'sc-exec'], { namespace: NS });
    assert.ok(ps.stdout.trim().split('\n').length >= 3, ps.stdout);
    assert.match(ps.stdout, /e2/);
    const metrics = await cd().ctrOk(['tasks', 'metrics', 'sc-exec'], { namespace: NS });
    assert.match(metrics.stdout, /memory\.usage_in_bytes\s+[1-9]\d*/, metrics.stdout);
    assert.match(metrics.stdout, /pids\.current\s+[1-9]/, metrics.stdout);
    await cd().ctrOk(['tasks', 'pause', 'sc-exec'], { namespace: NS });
    assert.equal(await taskStatus('sc-exec'), 'PAUSED');
    await cd().ctrOk(['tasks', 'resume', 'sc-exec'], { namespace: NS });
    assert.equal(await taskStatus('sc-exec'), 'RUNNING');
    await cd().ctrOk(['tasks', 'kill', '--signal', 'SIGKILL', 'sc-exec'], { namespace: NS });
    await waitFor('sc-exec to stop', async () => (await taskStatus('sc-exec')) === 'STOPPED');
    const le = await longExec.exited;
    assert.notEqual(le.code, 0, 'the exec outlived its container');
    await cd().ctrOk(['tasks', 'delete', 'sc-exec'], { namespace: NS });
    await cd().ctrOk(['containers', 'delete', 'sc-exec'], { namespace: NS });
    assert.equal(existsSync(path.join(tmp, 'containerd', 'rune-root', NS, 'sc-exec')), false, 'rune state left behind');
  });

  void test('ctr task kill SIGTERM: the attached ctr run exits with the status the trap chose', async () => {
    const args = ctrRun('sc-kill', ['--rm'], ['sh', '-c', 'trap "exit 5" TERM; echo ready; while :; do sleep 0.05; done']);
    const child = runInBackground('ctr', ['-a', cd().address, '-n', NS, ...args], { timeoutMs: 60_000 });
    await waitForOutput(child, 'ready\n');
    await cd().ctrOk(['tasks', 'kill', '--signal', 'SIGTERM', 'sc-kill'], { namespace: NS });
    const r = await child.exited;
    assert.equal(r.code, 5, describeRun('ctr', args, r));
  });

  void test('ctr run -t: a terminal whose size follows the client (ResizePty)', async () => {
    const inner = ['ctr', '-a', cd().address, '-n', NS, ...ctrRun('sc-tty', ['--rm', '-t'], ['sh', '-c', 'tty; n=0; until s=$(stty size 2>/dev/null) && [ -n "$s" ] && [ "$s" != "0 0" ]; do sleep 0.1; n=$((n+1)); [ $n -ge 50 ] && break; done; echo "size $s"; exit 3'])];
    const cmd = `stty rows 33 cols 77; exec ${inner.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}`;
    const r = await run('script', ['-qec', cmd, '/dev/null'], { timeoutMs: 60_000 });
    assert.equal(r.code, 3, describeRun('script', ['-qec', cmd], r));
    assert.match(r.stdout, /\/dev\/(pts\/\d+|console)/);
    assert.match(r.stdout, /size 33 77/);
  });

  void test('a container over its memory limit is OOM-killed: exit 137 and a /tasks/oom event', async () => {
    const args = ctrRun('sc-oom', ['--rm', '--memory-limit', String(24 << 20)], ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived']);
    const r = await cd().ctr(args, { namespace: NS, timeoutMs: 60_000 });
    assert.equal(r.code, 137, describeRun('ctr', args, r));
    assert.ok(events);
    await waitFor('the oom event', () => /\/tasks\/oom/.test(events!.stdout()) && /sc-oom/.test(events!.stdout()), { timeoutMs: 10_000 });
  });

  void test('a sim enclave container: exec runs inside the enclave, SIGTERM ends it with its status, the config\'s enclave log level applies', async () => {
    const env = ['--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim'];
    const args = ctrRun('sc-sim', ['--rm', ...env], ['sh', '-c', 'trap "exit 8" TERM; echo ready; while :; do sleep 0.05; done']);
    const child = runInBackground('ctr', ['-a', cd().address, '-n', NS, ...args], { timeoutMs: 120_000 });
    await waitForOutput(child, 'ready\n', 90_000);
    const ex = await cd().ctr(['tasks', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e1', 'sc-sim', 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; exit 3'], { namespace: NS });
    assert.equal(ex.code, 3, ex.stderr);
    assert.match(ex.stdout, /\/\.rune\/init-runelet-sim/);
    const spec = await cd().ctrOk(['containers', 'info', 'sc-sim'], { namespace: NS });
    assert.match(spec.stdout, /ENCLAVE_TYPE=sim/);
    const bundles = path.join(tmp, 'containerd', 'state', 'io.containerd.runtime.v2.task', NS, 'sc-sim', 'config.json');
    const { readFile } = await import('node:fs/promises');
    assert.match(await readFile(bundles, 'utf8'), /ENCLAVE_RUNTIME_LOGLEVEL=debug/, 'the config\'s [enclave_runtime] log_level was not applied');
    await cd().ctrOk(['tasks', 'kill', '--signal', 'SIGTERM', 'sc-sim'], { namespace: NS });
    const r = await child.exited;
    assert.equal(r.code, 8, describeRun('ctr', args, r));
  });

  void test('a wasm enclave container prints its output and exits 0', async () => {
    const modules = path.join(tmp, 'wasm');
    await mkdir(modules, { recursive: true });
    await writeFile(path.join(modules, 'hello.wasm'), await buildWasm('hello'));
    const args = ctrRun('sc-wasm', ['--rm', '--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=wasm', '--mount', `type=bind,src=${modules},dst=/w,options=rbind:ro`], ['/w/hello.wasm']);
    const r = await cd().ctr(args, { namespace: NS, timeoutMs: 120_000 });
    assert.equal(r.code, 0, describeRun('ctr', args, r));
    assert.equal(r.stdout, 'hello from wasm\n');
  });

  void test('an unknown enclave type is an error from create, and the shim leaves nothing behind', async () => {
    const args = ctrRun('sc-bad-enclave', ['--rm', '--env', 'ENCLAVE_TYPE=sgx2000', '--env', 'ENCLAVE_RUNTIME_PATH=sim'], ['true']);
    const r = await cd().ctr(args, { namespace: NS, timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Invalid enclave type "sgx2000"/);
    await cd().ctr(['containers', 'delete', 'sc-bad-enclave'], { namespace: NS });
  });

  void test('containerd received the task events over its ttrpc socket, in order', async () => {
    assert.ok(events);
    const out = events.stdout();
    for (const topic of ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete', '/tasks/exec-added', '/tasks/exec-started', '/tasks/paused', '/tasks/resumed']) {
      assert.match(out, new RegExp(`${topic.replace(/\//g, '\\/')}`), `no ${topic} event:\n${out}`);
    }
    const lines = out.split('\n').filter((l) => l.includes('sc-exit'));
    const order = ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'].map((t) => lines.findIndex((l) => l.includes(` ${t} `)));
    assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)), `events of sc-exit out of order:\n${lines.join('\n')}`);
  });

  void test('nothing is left: no shim process, no shim socket, no rune state', async () => {
    await waitFor('every shim to exit', async () => (await shimsOf()).length === 0, { timeoutMs: 15_000 });
    for (const id of ids) assert.equal(existsSync(shimSocketPath(cd().address, NS, id)), false, `socket of ${id} left`);
    // rune keeps a cache of the host's node (.host-node.json) in its root; containers are directories.
    const left = (await readdir(path.join(tmp, 'containerd', 'rune-root', NS)).catch(() => [] as string[])).filter((f) => !f.startsWith('.'));
    assert.deepEqual(left, []);
  });
});
