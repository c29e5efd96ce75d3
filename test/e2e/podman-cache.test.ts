/**
 * issue #15 items 2 and 5 - the digest cache through podman: sim enclave containers of one image, started by
 * `podman run` through rune, measure the same with the cache cold (every file recorded) and warm (every file
 * from the cache), and equal `tee-tools measure` (which never uses the cache); a damaged cache file only
 * means hashing again; `inclavared cache list` shows the image's overlay volume. The image's files must be
 * older than the cache's racy margin before they are recorded, so the test waits that long after loading.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  defaultRuntimeRoot, describeRun, isRunc, makeOciImage, makeTempDir, podmanEnv, podmanLoadImage, podmanReset, reapProcesses, removeTempDir,
  repoRoot, requireTools, run, runtimeBinary, type OciImage, type RunResult,
} from '../support/fixtures.ts';
import { writebackMarginNs } from '../../src/rune/enclave/digest-cache.ts';

const TEE_TOOLS = path.join(repoRoot, 'dist/tee-tools.mjs');
const INCLAVARED = path.join(repoRoot, 'dist/inclavared.mjs');
const SIM = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'];

interface CacheStats {
  hits: number;
  misses: number;
  recorded: number;
  untrusted?: string;
}

void describe('the digest cache with podman --runtime rune', { timeout: 600_000, skip: isRunc() ? 'needs rune' : false }, () => {
  const runtime = runtimeBinary();
  const stateRoot = defaultRuntimeRoot(runtime);
  let tmp = '';
  let env: NodeJS.ProcessEnv = {};
  let image: OciImage;
  let timings = '';
  let cacheDir = '';

  const podman = (args: readonly string[]): Promise<RunResult> => run('podman', ['--runtime', runtime, ...args], { env, timeoutMs: 120_000 });

  /** podman run -d of a sim enclave container: the measurement rune recorded and how the cache served it. */
  async function runEnclave(name: string): Promise<{ measurement: string; env: string[]; cache: CacheStats }> {
    const r = await podman(['run', '-d', '--pull', 'never', '--network', 'none', '--hostname', 'cached', '--name', name, ...SIM.flatMap((e) => ['-e', e]), image.reference]);
    assert.equal(r.code, 0, describeRun('podman run', [], r));
    const id = r.stdout.trim();
    const description = JSON.parse(await readFile(path.join(stateRoot, id, 'enclave.json'), 'utf8')) as { measurement: string; process: { env: string[] } };
    const created = JSON.parse(await readFile(path.join(timings, `${id}.create.json`), 'utf8')) as { measured: { cache?: CacheStats } };
    assert.ok(created.measured.cache !== undefined, 'the cache is on');
    await podman(['rm', '--force', '--time', '0', name]);
    return { measurement: description.measurement, env: description.process.env, cache: created.measured.cache };
  }

  before(async () => {
    await requireTools([
      { bin: 'podman', pkg: 'podman' },
      { bin: 'conmon', pkg: 'conmon' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    tmp = await makeTempDir('rune-e2e-cache-');
    env = await podmanEnv(tmp, { runtimeBinary: runtime });
    cacheDir = env.RUNE_CACHE_DIR!;
    timings = path.join(tmp, 'timings');
    mkdirSync(timings);
    // RUNE_TIMINGS for rune through conmon: its create writes how the cache served the measurement.
    const conf = await readFile(env.CONTAINERS_CONF!, 'utf8');
    await writeFile(env.CONTAINERS_CONF!, conf.replace(/^conmon_env_vars = \[(.*)\]$/m, (_, list: string) => `conmon_env_vars = [${list}, ${JSON.stringify(`RUNE_TIMINGS=${timings}`)}]`));
    image = await makeOciImage(path.join(tmp, 'cached'), { name: 'docker.io/inclavare/cached:latest', cmd: ['sleep', '1000'], files: { '/app/data.bin': { content: Buffer.alloc(3_000_000, 7) } } });
    await podmanLoadImage(env, image);
    await new Promise((r) => setTimeout(r, Number(writebackMarginNs() / 1_000_000n) + 1000));
  });

  after(async () => {
    if (tmp === '') return;
    await podmanReset(env);
    await reapProcesses((p) => path.basename(p.argv[0] ?? '') === 'conmon' && p.argv.some((a) => a.startsWith(tmp)));
    await removeTempDir(tmp);
  });

  void test('cold and warm measurements are equal and equal tee-tools measure; a damaged cache file means hashing again', async () => {
    const cold = await runEnclave('cache-cold');
    assert.equal(cold.cache.untrusted, undefined, 'podman\'s overlay rootfs is cached');
    assert.ok(cold.cache.recorded > 0 && cold.cache.hits === 0, JSON.stringify(cold.cache));
    const warm = await runEnclave('cache-warm');
    assert.equal(warm.measurement, cold.measurement);
    assert.equal(warm.cache.misses, 0, JSON.stringify(warm.cache));
    assert.ok(warm.cache.hits >= cold.cache.recorded);

    const added = cold.env.filter((e) => !e.startsWith('PATH='));
    const flags = [...SIM, ...added].flatMap((e) => ['--env', e]);
    const measured = await run(process.execPath, [TEE_TOOLS, 'measure', image.reference, ...flags], { env, timeoutMs: 120_000 });
    assert.equal(measured.code, 0, describeRun('tee-tools measure', [], measured));
    assert.equal(measured.stdout.trim(), cold.measurement);

    const listed = await run(process.execPath, [INCLAVARED, 'cache', 'list', '--json', '--cache-dir', cacheDir], { env });
    const entries = JSON.parse(listed.stdout) as { volume: string; entries: number; intact: boolean; path: string }[];
    const overlay = entries.find((e) => e.volume.startsWith('overlay '));
    assert.ok(overlay !== undefined && overlay.intact && overlay.entries > 0, listed.stdout);

    // Tampered: one byte of a recorded digest flipped; the checksum no longer holds, every file is hashed.
    const bytes = await readFile(overlay.path);
    bytes[bytes.length - 40]! ^= 0xff;
    await writeFile(overlay.path, bytes);
    const damaged = await runEnclave('cache-damaged');
    assert.equal(damaged.measurement, cold.measurement);
    assert.equal(damaged.cache.hits, 0);
    assert.deepEqual((await readdir(path.join(cacheDir, 'digests'))).filter((n) => n.includes('.tmp-')), [], 'no temporary file left');
    const again = await runEnclave('cache-again');
    assert.equal(again.measurement, cold.measurement);
    assert.equal(again.cache.misses, 0, 'the damaged file was replaced');
  });
});
