// The kubelet's path: a CRI client drives containerd's CRI plugin with runtime_handler "rune", whose
// runc shim execs the runtime under test with `--root <Root>/k8s.io` for the sandbox (pause)
// container and for the workload container.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CRI_RUNTIME_HANDLER, startContainerd, type Containerd } from '../support/containerd.ts';
import { CriClient, isGrpcError, type ContainerConfig, type PodSandboxConfig } from '../support/cri.ts';
import { buildWasm } from '../support/wasm.ts';
import {
  assertRuntimeStateDir,
  exists,
  makeOciImage,
  makeTempDir,
  removeNewCgroups,
  removeTempDir,
  requireTools,
  isRunc,
  runtimeBinary,
  snapshotCgroups,
  waitFor,
  type CgroupSnapshot,
} from '../support/fixtures.ts';

const IMAGE = 'docker.io/inclavare/busybox:latest';
const CRI_NAMESPACE = 'k8s.io';

void describe(`CRI runtime_handler "${CRI_RUNTIME_HANDLER}" -> ${runtimeBinary()}`, { timeout: 120_000 }, () => {
  const runtime = runtimeBinary();
  let tmp = '';
  let containerd: Containerd | undefined;
  let cri: CriClient | undefined;
  let cgroups: CgroupSnapshot | undefined;
  let sandboxConfig: PodSandboxConfig | undefined;
  let podId = '';
  let containerId = '';

  const client = (): CriClient => {
    assert.ok(cri, 'containerd did not start');
    return cri;
  };
  const stateRoot = (): string => {
    assert.ok(containerd, 'containerd did not start');
    return path.join(containerd.runtimeRoot, CRI_NAMESPACE);
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
    tmp = await makeTempDir('rune-e2e-cri-');
    containerd = await startContainerd(tmp, { runtimeBinary: runtime });
    const image = await makeOciImage(path.join(tmp, 'image'), { name: IMAGE, cmd: ['sh'] });
    await containerd.importImage(image, CRI_NAMESPACE);
    cri = new CriClient(containerd.address);
    const logDirectory = path.join(tmp, 'pod-logs');
    await mkdir(logDirectory);
    sandboxConfig = {
      metadata: { name: 'rune-e2e', uid: randomUUID(), namespace: 'default', attempt: 0 },
      logDirectory,
      labels: { app: 'rune-e2e' },
      annotations: { 'inclavare.io/e2e': 'cri' },
      // Host network: no CNI plugin runs and no netns is created under /var/run/netns.
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
    };
  });

  after(async () => {
    if (tmp === '') return;
    if (cri) {
      // Best effort: the tests below remove everything themselves when they pass.
      if (containerId !== '') await cri.removeContainer(containerId).catch(() => undefined);
      if (podId !== '') {
        await cri.stopPodSandbox(podId).catch(() => undefined);
        await cri.removePodSandbox(podId).catch(() => undefined);
      }
      cri.close();
    }
    await containerd?.stop();
    if (cgroups) {
      const left = await removeNewCgroups(cgroups, [CRI_NAMESPACE]);
      if (left.length > 0) console.error(`CRI e2e: cgroups left behind: ${left.join(', ')}`);
    }
    await removeTempDir(tmp);
  });

  void test('Version answers over the CRI v1 API', async () => {
    const v = await client().version();
    assert.equal(v.runtimeName, 'containerd');
    assert.equal(v.runtimeApiVersion, 'v1');
  });

  void test(`RunPodSandbox with runtime_handler "${CRI_RUNTIME_HANDLER}" starts a ready sandbox`, async () => {
    assert.ok(sandboxConfig);
    podId = await client().runPodSandbox(sandboxConfig, CRI_RUNTIME_HANDLER);
    assert.match(podId, /^[0-9a-f]{64}$/);
    await assertRuntimeStateDir(stateRoot(), podId);
    const status = await client().podSandboxStatus(podId);
    assert.equal(status.state, 'SANDBOX_READY');
    assert.equal(status.runtimeHandler, CRI_RUNTIME_HANDLER);
    assert.equal(status.metadata?.name, 'rune-e2e');
    assert.equal(status.annotations['inclavare.io/e2e'], 'cri');
  });

  void test('CreateContainer and StartContainer run the workload, whose output reaches the CRI log', async () => {
    assert.ok(sandboxConfig && podId, 'no sandbox');
    const config: ContainerConfig = {
      metadata: { name: 'busybox', attempt: 0 },
      image: { image: IMAGE },
      command: ['sh', '-c'],
      args: ['trap "exit 42" TERM; echo "started as $E2E_GREETING"; while :; do sleep 0.05; done'],
      envs: [{ key: 'E2E_GREETING', value: 'hello' }],
      logPath: 'busybox.log',
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    containerId = await client().createContainer(podId, config, sandboxConfig);
    assert.match(containerId, /^[0-9a-f]{64}$/);
    assert.equal((await client().containerStatus(containerId)).state, 'CONTAINER_CREATED');
    // containerd's CRI only records the container here; the runtime's create comes with StartContainer.
    await client().startContainer(containerId);
    assert.equal((await client().containerStatus(containerId)).state, 'CONTAINER_RUNNING');
    await assertRuntimeStateDir(stateRoot(), containerId);
    const logFile = path.join(sandboxConfig.logDirectory ?? '', 'busybox.log');
    // CRI log lines: "<RFC3339Nano time> stdout F <line>".
    await waitFor('the container to log its greeting', async () =>
      /^\S+ stdout F started as hello$/m.test(await readFile(logFile, 'utf8').catch(() => '')),
    );
  });

  void test('ExecSync returns the stdout, stderr and exit code of the process', async () => {
    assert.ok(containerId, 'no container');
    const res = await client().execSync(containerId, ['sh', '-c', 'echo "exec says $((6 * 7))"; echo oops >&2; exit 3'], 10);
    assert.equal(res.stdout.toString('utf8'), 'exec says 42\n');
    assert.equal(res.stderr.toString('utf8'), 'oops\n');
    assert.equal(res.exitCode, 3);
    const ok = await client().execSync(containerId, ['cat', '/proc/1/cmdline'], 10);
    assert.equal(ok.exitCode, 0);
    assert.match(ok.stdout.toString('utf8'), /^sh\0-c\0trap/);
  });

  void test('StopContainer delivers SIGTERM and RemoveContainer deletes the container', async () => {
    assert.ok(containerId, 'no container');
    await client().stopContainer(containerId, 10);
    const status = await client().containerStatus(containerId);
    assert.equal(status.state, 'CONTAINER_EXITED');
    assert.equal(status.exitCode, 42, `exit code ${status.exitCode} (${status.reason}: ${status.message})`);
    await client().removeContainer(containerId);
    await assert.rejects(client().containerStatus(containerId), (e: Error) => isGrpcError(e.cause, grpc.status.NOT_FOUND));
    assert.equal(await exists(path.join(stateRoot(), containerId)), false, 'the runtime kept state of the removed container');
    containerId = '';
  });

  void (isRunc(runtimeBinary()) ? test.skip : test)('a sim enclave container in the pod: configured by envs, ExecSync runs inside it, StopContainer ends it gracefully', async () => {
    assert.ok(sandboxConfig && podId, 'no sandbox');
    const config: ContainerConfig = {
      metadata: { name: 'enclave', attempt: 0 },
      image: { image: IMAGE },
      command: ['sh', '-c'],
      args: ['trap "exit 43" TERM; echo "enclave started"; while :; do sleep 0.05; done'],
      envs: [{ key: 'ENCLAVE_TYPE', value: 'sim' }, { key: 'ENCLAVE_RUNTIME_PATH', value: 'sim' }],
      logPath: 'enclave.log',
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const id = await client().createContainer(podId, config, sandboxConfig);
    await client().startContainer(id);
    assert.equal((await client().containerStatus(id)).state, 'CONTAINER_RUNNING');
    assert.equal(await exists(path.join(stateRoot(), id, 'enclave.json')), true, 'rune runs it as an enclave container');
    const res = await client().execSync(id, ['sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; echo "$0"', 'an argument with spaces'], 10);
    assert.equal(res.exitCode, 0, res.stderr.toString('utf8'));
    assert.match(res.stdout.toString('utf8'), /\/\.rune\/init-runelet-sim \nan argument with spaces\n$/);
    await client().stopContainer(id, 10);
    const status = await client().containerStatus(id);
    assert.equal(status.exitCode, 43, `exit code ${status.exitCode} (${status.reason}: ${status.message})`);
    await client().removeContainer(id);
    assert.equal(await exists(path.join(stateRoot(), id)), false);
  });

  void (isRunc(runtimeBinary()) ? test.skip : test)('a wasm enclave container in the pod: the module from a mount, its output in the CRI log, its exit code', async () => {
    assert.ok(sandboxConfig && podId, 'no sandbox');
    const modules = path.join(tmp, 'cri-wasm');
    await mkdir(modules, { recursive: true });
    await writeFile(path.join(modules, 'hello.wasm'), await buildWasm('hello'));
    const config: ContainerConfig = {
      metadata: { name: 'wasm', attempt: 0 },
      image: { image: IMAGE },
      command: ['/w/hello.wasm'],
      // containerd's CRI hands container annotations to the runtime only when configured to; envs always work.
      envs: [{ key: 'ENCLAVE_TYPE', value: 'sim' }, { key: 'ENCLAVE_RUNTIME_PATH', value: 'wasm' }],
      mounts: [{ containerPath: '/w', hostPath: modules, readonly: true }],
      logPath: 'wasm.log',
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const id = await client().createContainer(podId, config, sandboxConfig);
    await client().startContainer(id);
    await waitFor('the wasm module to exit', async () => (await client().containerStatus(id)).state === 'CONTAINER_EXITED');
    const status = await client().containerStatus(id);
    assert.equal(status.exitCode, 0, `${status.reason}: ${status.message}`);
    const log = await readFile(path.join(sandboxConfig.logDirectory ?? '', 'wasm.log'), 'utf8');
    assert.match(log, /^\S+ stdout F hello from wasm$/m);
    await client().removeContainer(id);
    assert.equal(await exists(path.join(stateRoot(), id)), false);
  });

  void test('StopPodSandbox and RemovePodSandbox tear the sandbox down', async () => {
    assert.ok(podId, 'no sandbox');
    await client().stopPodSandbox(podId);
    assert.equal((await client().podSandboxStatus(podId)).state, 'SANDBOX_NOTREADY');
    await client().removePodSandbox(podId);
    await assert.rejects(client().podSandboxStatus(podId), (e: Error) => isGrpcError(e.cause, grpc.status.NOT_FOUND));
    assert.equal(await exists(path.join(stateRoot(), podId)), false, 'the runtime kept state of the removed sandbox');
    podId = '';
  });
});
