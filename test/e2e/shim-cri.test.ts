// The kubelet's path through containerd-shim-rune-v2: a CRI v1 client drives containerd's CRI plugin with
// runtime handler "rune" = runtime_type io.containerd.rune.v2 (options: ConfigPath), as docs/kubernetes.md
// configures it. One pod: a plain container and an enclave container selected by annotations (allowed by
// pod_annotations/container_annotations), ExecSync in both, their CRI logs, stop/remove; the pod's
// containers share one shim; a shim killed with -9 makes containerd see the task exit and leaves no process.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CRI_RUNTIME_HANDLER, startContainerd, type Containerd } from '../support/containerd.ts';
import { CriClient, type ContainerConfig, type PodSandboxConfig } from '../support/cri.ts';
import {
  isAlive,
  listProcesses,
  makeOciImage,
  makeTempDir,
  removeNewCgroups,
  removeTempDir,
  repoRoot,
  requireTools,
  snapshotCgroups,
  waitFor,
  type CgroupSnapshot,
} from '../support/fixtures.ts';
import { shimSocketPath } from '../../src/shim/manager.ts';

const IMAGE = 'docker.io/inclavare/busybox:latest';
const NS = 'k8s.io';
const DIST = path.join(repoRoot, 'dist');

void describe('containerd-shim-rune-v2 through CRI (runtime handler "rune")', { timeout: 300_000 }, () => {
  let tmp = '';
  let containerd: Containerd | undefined;
  let cri: CriClient | undefined;
  let cgroups: CgroupSnapshot | undefined;
  let sandbox: PodSandboxConfig | undefined;
  let podId = '';
  const containers: string[] = [];

  const client = (): CriClient => {
    assert.ok(cri, 'containerd did not start');
    return cri;
  };
  const shims = async (): Promise<{ pid: number; argv: string[] }[]> => {
    assert.ok(containerd);
    const address = containerd.address;
    return (await listProcesses()).filter((p) => p.argv[0] === 'containerd-shim-rune-v2' && p.argv.includes(address) && !p.argv.includes('delete') && !p.argv.includes('start'));
  };
  const container = (name: string, args: string, extra: Partial<ContainerConfig> = {}): ContainerConfig => ({
    metadata: { name, attempt: 0 },
    image: { image: IMAGE },
    command: ['sh', '-c'],
    args: [args],
    logPath: `${name}.log`,
    linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    ...extra,
  });
  const logOf = (name: string): Promise<string> => readFile(path.join(sandbox?.logDirectory ?? '', `${name}.log`), 'utf8').catch(() => '');

  before(async () => {
    await requireTools([
      { bin: 'containerd', pkg: 'containerd' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    assert.ok(existsSync(path.join(DIST, 'containerd-shim-rune-v2')), 'run npm run build first');
    cgroups = await snapshotCgroups();
    tmp = await makeTempDir('rune-e2e-shim-cri-');
    const configPath = path.join(tmp, 'rune-shim.toml');
    await writeFile(configPath, `root = ${JSON.stringify(path.join(tmp, 'containerd', 'rune-root'))}\n`);
    containerd = await startContainerd(tmp, { runtimeBinary: path.join(DIST, 'rune'), shim: { dir: DIST, configPath } });
    await containerd.importImage(await makeOciImage(path.join(tmp, 'image'), { name: IMAGE, cmd: ['sh'] }), NS);
    cri = new CriClient(containerd.address);
    const logDirectory = path.join(tmp, 'pod-logs');
    await mkdir(logDirectory);
    sandbox = {
      metadata: { name: 'confidential', uid: randomUUID(), namespace: 'default', attempt: 0 },
      logDirectory,
      annotations: { 'enclave.runtime.loglevel': 'info' },
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
    };
  });

  after(async () => {
    if (tmp === '') return;
    if (cri) {
      for (const id of containers) await cri.removeContainer(id).catch(() => undefined);
      if (podId !== '') {
        await cri.stopPodSandbox(podId).catch(() => undefined);
        await cri.removePodSandbox(podId).catch(() => undefined);
      }
      cri.close();
    }
    await containerd?.stop();
    if (cgroups) await removeNewCgroups(cgroups, [NS]);
    await removeTempDir(tmp);
  });

  void test('RunPodSandbox starts the pod through our shim: one shim daemon, on the socket of the sandbox id', async () => {
    assert.ok(sandbox && containerd);
    podId = await client().runPodSandbox(sandbox, CRI_RUNTIME_HANDLER);
    assert.equal((await client().podSandboxStatus(podId)).state, 'SANDBOX_READY');
    const s = await shims();
    assert.equal(s.length, 1, JSON.stringify(s));
    assert.ok(s[0]!.argv.includes(podId), 'the shim serves the sandbox id');
    assert.ok(existsSync(shimSocketPath(containerd.address, NS, podId)));
  });

  void test('a plain container and an enclave container (by annotations) run in the pod, on the same shim', async () => {
    assert.ok(sandbox && podId);
    const plain = await client().createContainer(podId, container('plain', 'trap "exit 42" TERM; echo "plain up"; while :; do sleep 0.05; done'), sandbox);
    containers.push(plain);
    await client().startContainer(plain);
    const enclave = await client().createContainer(podId, container('enclave', 'trap "exit 43" TERM; echo "enclave up"; while :; do sleep 0.05; done', {
      annotations: { 'enclave.type': 'sim', 'enclave.runtime.path': 'sim' },
    }), sandbox);
    containers.push(enclave);
    await client().startContainer(enclave);
    assert.equal((await client().containerStatus(plain)).state, 'CONTAINER_RUNNING');
    assert.equal((await client().containerStatus(enclave)).state, 'CONTAINER_RUNNING');
    await waitFor('both containers to log', async () => /stdout F plain up$/m.test(await logOf('plain')) && /stdout F enclave up$/m.test(await logOf('enclave')), { timeoutMs: 60_000 });
    assert.equal((await shims()).length, 1, 'the pod has more than one shim');
    assert.ok(existsSync(path.join(tmp, 'containerd', 'rune-root', NS, enclave, 'enclave.json')), 'rune did not run it as an enclave');
  });

  void test('ExecSync: stdout, stderr and exit code from the plain container; inside the enclave for the enclave container', async () => {
    const [plain, enclave] = containers as [string, string];
    const res = await client().execSync(plain, ['sh', '-c', 'echo "exec says $((6 * 7))"; echo oops >&2; exit 3'], 20);
    assert.equal(res.stdout.toString('utf8'), 'exec says 42\n');
    assert.equal(res.stderr.toString('utf8'), 'oops\n');
    assert.equal(res.exitCode, 3);
    const inside = await client().execSync(enclave, ['sh', '-c', 'tr "\\0" " " < /proc/1/cmdline'], 20);
    assert.equal(inside.exitCode, 0, inside.stderr.toString('utf8'));
    assert.match(inside.stdout.toString('utf8'), /\/\.rune\/init-runelet-sim/);
  });

  void test('UpdateContainerResources reaches the running container (the shim\'s Update: rune update)', async () => {
    const [plain] = containers as [string, string];
    const limit = 96 * 1024 * 1024;
    await client().updateContainerResources(plain, { memoryLimitInBytes: limit, cpuShares: 512 });
    const res = await client().execSync(plain, ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.shares'], 20);
    assert.equal(res.exitCode, 0, res.stderr.toString('utf8'));
    assert.deepEqual(res.stdout.toString('utf8').trim().split('\n'), [String(limit), '512']);
  });

  void test('StopContainer ends each with its trap\'s status; RemoveContainer removes them; the pod\'s shim stays', async () => {
    const [plain, enclave] = containers as [string, string];
    await client().stopContainer(plain, 10);
    await client().stopContainer(enclave, 10);
    assert.equal((await client().containerStatus(plain)).exitCode, 42);
    assert.equal((await client().containerStatus(enclave)).exitCode, 43);
    await client().removeContainer(plain);
    await client().removeContainer(enclave);
    containers.length = 0;
    assert.equal((await shims()).length, 1);
    assert.equal(existsSync(path.join(tmp, 'containerd', 'rune-root', NS, enclave)), false);
  });

  void test('the shim killed with -9: containerd sees the task exit, and no process or socket is left', async () => {
    assert.ok(sandbox && containerd);
    const marker = `victim-${randomUUID().slice(0, 8)}`;
    const victim = await client().createContainer(podId, container('victim', `echo ${marker}; exec sleep 1000`), sandbox);
    containers.push(victim);
    await client().startContainer(victim);
    await waitFor('the victim to run', async () => (await logOf('victim')).includes(marker));
    const [shim] = await shims();
    assert.ok(shim);
    process.kill(shim.pid, 'SIGKILL');
    await waitFor('containerd to see the task exit', async () => (await client().containerStatus(victim)).state === 'CONTAINER_EXITED', { timeoutMs: 30_000 });
    await waitFor('the shim to be gone', () => !isAlive(shim.pid));
    const left = async (): Promise<string[]> => (await listProcesses()).filter((p) => p.argv.some((a) => a.includes(tmp)) && (p.argv[0]?.endsWith('rune-shim-monitor') || p.argv.includes('1000'))).map((p) => p.argv.join(' '));
    await waitFor('every monitor and container process to be gone', async () => (await left()).length === 0, { timeoutMs: 20_000 }).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${(await left()).join('\n')}`);
    });
    const victimAlive = async (): Promise<boolean> => {
      for (const p of (await listProcesses()).filter((q) => q.argv.join(' ') === 'sleep 1000')) {
        if ((await readFile(`/proc/${p.pid}/cgroup`, 'utf8').catch(() => '')).includes(victim)) return true;
      }
      return false;
    };
    await waitFor('the victim container to be killed', async () => !(await victimAlive()), { timeoutMs: 20_000 });
    await client().removeContainer(victim);
    containers.length = 0;
  });

  void test('StopPodSandbox and RemovePodSandbox after that; no shim or socket is left', async () => {
    assert.ok(containerd);
    await client().stopPodSandbox(podId);
    await client().removePodSandbox(podId);
    const socket = shimSocketPath(containerd.address, NS, podId);
    podId = '';
    await waitFor('every shim to exit', async () => (await shims()).length === 0, { timeoutMs: 20_000 });
    await waitFor('the pod\'s shim socket to be removed', () => !existsSync(socket), { timeoutMs: 10_000 });
  });
});
