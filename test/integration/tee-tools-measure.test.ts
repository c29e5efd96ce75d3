/**
 * issue #12 item 3 - `tee-tools measure BUNDLE` prints, before the container runs, the measurement that
 * `rune create` computes and `rune attest` reports, on several bundles (busybox, an image with an extra
 * script, wasm modules in the rootfs and from a volume); and bundles that differ in one script differ.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBundle, makeBusyboxRootfs } from '../support/busybox.ts';
import { inclavaredEnv, stopInclavared } from '../support/fixtures.ts';
import { buildWasm } from '../support/wasm.ts';
import type { OciConfig } from '../../src/oci/config.ts';

const repo = new URL('../..', import.meta.url).pathname;
const RUNE = join(repo, 'dist/rune');
const TEE_TOOLS = join(repo, 'dist/tee-tools.mjs');
const SIM = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'];

let work: string;
let root: string;
let n = 0;

function rune(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const out = join(work, 'stdout');
  const err = join(work, 'stderr');
  const outFd = openSync(out, 'w');
  const errFd = openSync(err, 'w');
  try {
    const res = spawnSync(RUNE, ['--root', root, ...args], { cwd: work, timeout: 60_000, stdio: ['ignore', outFd, errFd], env: { ...process.env, ...env } });
    return { code: res.status, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
}

function teeTools(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [TEE_TOOLS, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** The measurement `tee-tools measure` predicts for a bundle. */
function predicted(bundle: string, extra: string[] = []): string {
  const r = teeTools(['measure', bundle, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^[0-9a-f]{96}\n$/);
  return r.stdout.trim();
}

/** rune create + attest: what rune recorded and what the evidence carries (they must agree), then delete. */
function actual(bundle: string, env: Record<string, string> = {}, onCreated: (id: string) => void = () => undefined): string {
  const id = `m${++n}`;
  const created = rune(['--debug', '--log', join(work, `${id}.log`), 'create', '--bundle', bundle, id], env);
  assert.equal(created.code, 0, created.stderr);
  onCreated(id);
  try {
    const recorded = (JSON.parse(readFileSync(join(root, id, 'enclave.json'), 'utf8')) as { measurement: string }).measurement;
    const attested = rune(['attest', id, '--report-data', '00', '--out', join(work, `${id}.bin`), '--json']);
    assert.equal(attested.code, 0, attested.stderr);
    assert.equal((JSON.parse(attested.stdout) as { measurement: string }).measurement, recorded, 'rune attest reports what rune recorded');
    return recorded;
  } finally {
    rune(['delete', '--force', id]);
  }
}

function rootfsWith(files: Record<string, string | Uint8Array>): string {
  const dir = mkdtempSync(join(work, 'rootfs-'));
  makeBusyboxRootfs(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
    chmodSync(join(dir, path), 0o755);
  }
  return dir;
}

before(() => {
  assert.ok(existsSync(RUNE), 'dist/rune is missing: run `npm run build` first');
  work = mkdtempSync(join(tmpdir(), 'tee-tools-measure-'));
  Object.assign(process.env, inclavaredEnv(work));
  root = join(work, 'root');
});
after(async () => {
  for (const id of existsSync(root) ? readdirSync(root) : []) rune(['delete', '--force', id]);
  await stopInclavared(process.env);
  delete process.env.INCLAVARED_ROOT;
  delete process.env.INCLAVARED_DATA_DIR;
  rmSync(work, { recursive: true, force: true });
});

describe('tee-tools measure of a bundle equals what rune computes and attests', () => {
  test('a plain busybox sim bundle', () => {
    const b = makeBundle(join(work, 'busybox'), { args: ['sh', '-c', 'sleep 1000'], env: SIM });
    assert.equal(predicted(b), actual(b));
  });

  test('an image with an extra script: equal to rune, and different from the same image with another script', () => {
    const rootfs1 = rootfsWith({ 'app/run.sh': '#!/bin/sh\necho one\nsleep 1000\n' });
    const rootfs2 = rootfsWith({ 'app/run.sh': '#!/bin/sh\necho two\nsleep 1000\n' });
    const one = makeBundle(join(work, 'script-1'), { rootfs: rootfs1, args: ['/app/run.sh'], env: SIM });
    const two = makeBundle(join(work, 'script-2'), { rootfs: rootfs2, args: ['/app/run.sh'], env: SIM });
    const m1 = predicted(one);
    assert.equal(m1, actual(one));
    assert.equal(predicted(two), actual(two));
    assert.notEqual(predicted(two), m1, 'two images differing in a script measure differently');
    // sh running a script it reads: version 1 could not tell these apart (same entrypoint /bin/sh).
    const viaShell = (dir: string, rootfs: string): string => makeBundle(join(work, dir), { rootfs, args: ['sh', '/app/run.sh'], env: SIM });
    const sh1 = viaShell('sh-1', rootfs1);
    assert.equal(predicted(sh1), actual(sh1));
    assert.notEqual(predicted(sh1), predicted(viaShell('sh-2', rootfs2)));
  });

  test('a wasm module in the rootfs, and one from a volume (bind mount) that the rootfs digest excludes', async () => {
    const module = await buildWasm('hello');
    const inRootfs = makeBundle(join(work, 'wasm-1'), { rootfs: rootfsWith({ 'hello.wasm': module }), args: ['/hello.wasm'], env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm'] });
    assert.equal(predicted(inRootfs), actual(inRootfs));
    const volume = mkdtempSync(join(work, 'volume-'));
    writeFileSync(join(volume, 'hello.wasm'), module);
    const rootfs = rootfsWith({});
    const edit = (c: OciConfig): void => void (c.mounts as unknown[]).push({ destination: '/w', type: 'bind', source: volume, options: ['rbind', 'ro'] });
    const fromVolume = makeBundle(join(work, 'wasm-2'), { rootfs, args: ['/w/hello.wasm'], env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm'], edit });
    const m = predicted(fromVolume);
    assert.equal(m, actual(fromVolume));
    writeFileSync(join(volume, 'other'), 'not measured: under the mount point');
    mkdirSync(join(rootfs, 'w'), { recursive: true });
    writeFileSync(join(rootfs, 'w', 'hidden'), 'hidden by the volume');
    assert.equal(predicted(fromVolume), m, 'what lies under a mount point does not count');
    cpSync(join(volume, 'hello.wasm'), join(volume, 'copy.wasm'));
    writeFileSync(join(volume, 'hello.wasm'), Buffer.concat([module, Buffer.from([0, 1, 0x78, 0])]));
    assert.notEqual(predicted(fromVolume), m, 'the module itself always counts');
  });

  test('mount points and a working directory that the backend makes during create: measured while it runs, the same as measured first', () => {
    const volume = mkdtempSync(join(work, 'volume-'));
    writeFileSync(join(volume, 'data'), 'under a mount point: not measured');
    // Mount points under directories the image does not have, and a working directory it does not have:
    // runc makes them in the rootfs while it creates the container, which rune measures meanwhile.
    const edit = (c: OciConfig): void => {
      c.root!.readonly = false; // as podman's and containerd's rootfs
      c.process!.cwd = '/srv/app';
      (c.mounts as unknown[]).push(
        { destination: '/new/deep/volume', type: 'bind', source: volume, options: ['rbind', 'ro'] },
        { destination: '/opt/cache', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] },
        { destination: '/etc/extra.conf', type: 'bind', source: join(volume, 'data'), options: ['rbind', 'ro'] },
      );
    };
    const bundleAt = (name: string): { bundle: string; rootfs: string } => {
      const rootfs = rootfsWith({});
      return { bundle: makeBundle(join(work, name), { rootfs, args: ['sh', '-c', 'sleep 1000'], env: SIM, edit }), rootfs };
    };
    const made = ['new', 'opt', 'etc/extra.conf'];
    const one = bundleAt('made-1');
    for (const path of made) assert.ok(!existsSync(join(one.rootfs, path)), `${path} is not in the image`);
    const prediction = predicted(one.bundle);
    const log = (id: string): string => readFileSync(join(work, `${id}.log`), 'utf8');
    let overlappedId = '';
    const overlapped = actual(one.bundle, {}, (id) => {
      overlappedId = id;
      for (const path of made) assert.ok(existsSync(join(one.rootfs, path)), `the backend made ${path} during create`);
    });
    assert.match(log(overlappedId), /while the backend created the container/, 'create measured while the backend ran');
    const two = bundleAt('made-2');
    let firstId = '';
    const measuredFirst = actual(two.bundle, { RUNE_CREATE_OVERLAP: '0' }, (id) => void (firstId = id));
    assert.doesNotMatch(log(firstId), /while the backend created the container/);
    assert.equal(overlapped, prediction, 'measured while the backend ran = tee-tools prediction');
    assert.equal(measuredFirst, prediction, 'measured before the backend ran = tee-tools prediction');
    // Once they are in the image (here: left by the first container), they count like any other path.
    assert.notEqual(predicted(one.bundle), prediction);
  });

  test('overrides: --env, --cwd and a command replace what the bundle says; a bundle without enclave settings is refused', () => {
    const b = makeBundle(join(work, 'plain'), { args: ['sh', '-c', 'sleep 1000'] });
    const refused = teeTools(['measure', b]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /configures no enclave/);
    const withSim = makeBundle(join(work, 'with-sim'), { args: ['sh', '-c', 'sleep 1000'], env: SIM, edit: (c) => void (c.process!.cwd = '/tmp') });
    assert.equal(predicted(b, ['--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim', '--cwd', '/tmp']), actual(withSim));
    assert.equal(predicted(b, ['--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim', '--cwd', '/tmp', '--', 'sh', '-c', 'sleep 1000']), predicted(withSim));
    const json = JSON.parse(teeTools(['measure', withSim, '--json']).stdout) as { measurement: string; description: { rootfs: string; excluded: string[] }; rootfsEntries: number };
    assert.equal(json.measurement, predicted(withSim));
    assert.ok(json.rootfsEntries > 100);
    assert.ok(json.description.excluded.includes('/proc'));
  });
});
