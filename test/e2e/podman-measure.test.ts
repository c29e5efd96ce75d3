/**
 * issue #12 item 3 - reference values before the container runs: an OCI image built with umoci, run by
 * podman through rune as a sim enclave container; `tee-tools measure oci:LAYOUT:TAG` and `tee-tools measure
 * IMAGE` (podman's store) print the measurement rune computed and `rune attest` reports. Two images that
 * differ in one script measure differently.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  defaultRuntimeRoot, describeRun, isRunc, makeOciImage, makeTempDir, podmanEnv, podmanLoadImage, podmanReset, reapProcesses, removeTempDir,
  repoRoot, requireTools, run, runtimeBinary, type OciImage, type RunResult,
} from '../support/fixtures.ts';

const TEE_TOOLS = path.join(repoRoot, 'dist/tee-tools.mjs');
const SIM = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'];

void describe('tee-tools measure against podman --runtime rune', { timeout: 300_000, skip: isRunc() ? 'needs rune' : false }, () => {
  const runtime = runtimeBinary();
  const stateRoot = defaultRuntimeRoot(runtime);
  let tmp = '';
  let env: NodeJS.ProcessEnv = {};
  const images: OciImage[] = [];

  const podman = (args: readonly string[]): Promise<RunResult> => run('podman', ['--runtime', runtime, ...args], { env, timeoutMs: 120_000 });
  const teeTools = async (args: string[]): Promise<string> => {
    const r = await run(process.execPath, [TEE_TOOLS, 'measure', ...args], { env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, describeRun('tee-tools measure', args, r));
    return r.stdout.trim();
  };

  /** An image like makeOciImage's, with /app/run.sh holding `script`. */
  async function imageWithScript(name: string, script: string): Promise<OciImage> {
    const image = await makeOciImage(path.join(tmp, name), { name: `docker.io/inclavare/${name}:latest`, cmd: ['/app/run.sh'], files: { '/app/run.sh': { content: script, mode: 0o755 } } });
    await podmanLoadImage(env, image);
    return image;
  }

  /** podman run -d as a sim enclave container; the measurement rune recorded, and the one rune attest reports. */
  async function runEnclave(image: OciImage, name: string): Promise<{ recorded: string; env: string[] }> {
    const r = await podman(['run', '-d', '--pull', 'never', '--network', 'none', '--hostname', 'measured', '--name', name, ...SIM.flatMap((e) => ['-e', e]), image.reference]);
    assert.equal(r.code, 0, describeRun('podman run', [], r));
    const id = r.stdout.trim();
    const description = JSON.parse(await readFile(path.join(stateRoot, id, 'enclave.json'), 'utf8')) as { measurement: string; process: { env: string[] } };
    const attested = await run(runtime, ['attest', id, '--report-data', '00', '--out', path.join(tmp, `${name}.bin`), '--json'], { env, timeoutMs: 60_000 });
    assert.equal(attested.code, 0, describeRun('rune attest', [], attested));
    assert.equal((JSON.parse(attested.stdout) as { measurement: string }).measurement, description.measurement);
    return { recorded: description.measurement, env: description.process.env };
  }

  before(async () => {
    await requireTools([
      { bin: 'podman', pkg: 'podman' },
      { bin: 'conmon', pkg: 'conmon' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    tmp = await makeTempDir('rune-e2e-measure-');
    env = await podmanEnv(tmp, { runtimeBinary: runtime });
    images.push(await imageWithScript('script-one', '#!/bin/sh\necho one\nexec sleep 1000\n'));
    images.push(await imageWithScript('script-two', '#!/bin/sh\necho two\nexec sleep 1000\n'));
  });

  after(async () => {
    if (tmp === '') return;
    await podmanReset(env);
    await reapProcesses((p) => path.basename(p.argv[0] ?? '') === 'conmon' && p.argv.some((a) => a.startsWith(tmp)));
    await removeTempDir(tmp);
  });

  void test('tee-tools measure oci:LAYOUT:TAG and of the image in podman equal what rune computes and attests, and differ between the two images', async () => {
    const measured: string[] = [];
    for (const [i, image] of images.entries()) {
      const { recorded, env: workloadEnv } = await runEnclave(image, `measured-${i}`);
      // What podman adds to the image's env (container=podman, HOSTNAME, HOME, ...) is part of the env rune measures.
      const added = workloadEnv.filter((e) => !e.startsWith('PATH='));
      const flags = [...SIM, ...added].flatMap((e) => ['--env', e]);
      assert.equal(await teeTools([`oci:${image.layout}:${image.tag}`, ...flags]), recorded, `oci layout of ${image.reference}`);
      assert.equal(await teeTools([image.reference, ...flags]), recorded, `${image.reference} in podman's store`);
      measured.push(recorded);
    }
    assert.notEqual(measured[0], measured[1], 'the images differ only in /app/run.sh');
  });
});
