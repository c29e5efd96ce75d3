/** The host-side pieces of enclave containers: configuration, path resolution in the rootfs, measurement. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEnclaveConfig } from '../../../src/rune/enclave/config.ts';
import { findEntrypoint, resolveInContainer, resolveInRootfs } from '../../../src/rune/enclave/rootfs-path.ts';
import { canonicalDescription, computeMeasurement, type MeasurementInput } from '../../../src/rune/enclave/measurement.ts';
import { withBundle } from '../../../src/rune/enclave/lifecycle.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'enclave-unit-'));
  mkdirSync(join(dir, 'rootfs/bin'), { recursive: true });
  mkdirSync(join(dir, 'rootfs/usr'), { recursive: true });
  writeFileSync(join(dir, 'rootfs/bin/busybox'), 'x');
  symlinkSync('busybox', join(dir, 'rootfs/bin/sh'));
  symlinkSync('/bin', join(dir, 'rootfs/usr/bin'));
  symlinkSync('/etc/passwd', join(dir, 'rootfs/bin/escape'));
  symlinkSync('../../../../../../etc', join(dir, 'rootfs/bin/up'));
  mkdirSync(join(dir, 'volume'));
  writeFileSync(join(dir, 'volume/app.wasm'), 'w');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('readEnclaveConfig() takes the env first, removes the consumed settings, and turns commas into spaces', () => {
  const config = readEnclaveConfig({
    process: { env: ['PATH=/bin', 'ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm', 'ENCLAVE_RUNTIME_ARGS=preopen=/data,preopen=/tmp', 'A=1'] },
    annotations: { 'enclave.type': 'intelSgx', 'enclave.runtime.loglevel': 'debug' },
  });
  assert.deepEqual(config, { type: 'sim', runtime: 'wasm', runtimeArgs: 'preopen=/data preopen=/tmp', logLevel: 'debug', workloadEnv: ['PATH=/bin', 'A=1'] });
  assert.equal(readEnclaveConfig({ process: { env: ['ENCLAVE_TYPE='] } }), undefined);
  assert.equal(readEnclaveConfig({}), undefined);
  for (const [env, code] of [
    [['ENCLAVE_TYPE=bogus', 'ENCLAVE_RUNTIME_PATH=sim'], /Invalid enclave type "bogus"/],
    [['ENCLAVE_TYPE=sim'], /Missing enclave runtime/],
    [['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim', 'ENCLAVE_RA_TYPE=epid'], /Invalid attestation type "epid"/],
  ] as const) {
    assert.throws(() => readEnclaveConfig({ process: { env: [...env] } }), (e) => isInclavareError(e, 'RUNE_ERR_ENCLAVE_CONFIG') && code.test(e.message));
  }
});

test('resolveInRootfs() follows symlinks inside the rootfs and never out of it', () => {
  const rootfs = join(dir, 'rootfs');
  assert.equal(resolveInRootfs(rootfs, '/bin/sh'), join(rootfs, 'bin/busybox'));
  assert.equal(resolveInRootfs(rootfs, '/usr/bin/sh'), join(rootfs, 'bin/busybox'));
  assert.equal(resolveInRootfs(rootfs, '/bin/escape'), join(rootfs, 'etc/passwd'));
  assert.equal(resolveInRootfs(rootfs, '/bin/up/passwd'), join(rootfs, 'etc/passwd'));
  assert.equal(resolveInRootfs(rootfs, '/../../etc/shadow'), join(rootfs, 'etc/shadow'));
});

test('findEntrypoint() searches PATH like runc and looks through bind mounts (longest destination first)', () => {
  const rootfs = join(dir, 'rootfs');
  assert.deepEqual(findEntrypoint(rootfs, 'sh', ['PATH=/usr/bin:/bin']), { inContainer: '/usr/bin/sh', host: join(rootfs, 'bin/busybox') });
  assert.equal(findEntrypoint(rootfs, 'nope', ['PATH=/bin']), undefined);
  const mounts = [
    { destination: '/w', type: 'bind', source: join(dir, 'rootfs'), options: ['rbind'] },
    { destination: '/w/mod', type: 'none', source: join(dir, 'volume'), options: ['rbind', 'ro'] },
  ];
  assert.equal(resolveInContainer(rootfs, mounts, '/w/mod/app.wasm'), join(dir, 'volume/app.wasm'));
  assert.deepEqual(findEntrypoint(rootfs, '/w/mod/app.wasm', [], '/', mounts)?.host, join(dir, 'volume/app.wasm'));
});

test('computeMeasurement() is a SHA-384 over a canonical description that changes with every input', () => {
  const base: MeasurementInput = {
    type: 'sim', runtime: 'sim', runtimeDigest: '', runtimeArgs: '', entrypoint: '/bin/sh', entrypointDigest: 'ab',
    args: ['sh', '-c', 'echo'], env: ['B=1', 'A=1'], cwd: '/', rootfs: 'cd', excluded: ['/dev'],
  };
  assert.equal(
    canonicalDescription(base),
    '{"version":2,"type":"sim","runtime":"sim","runtimeDigest":"","runtimeArgs":"","entrypoint":"/bin/sh","entrypointDigest":"ab","args":["sh","-c","echo"],"env":["A=1","B=1"],"cwd":"/","rootfs":"cd","excluded":["/dev"]}',
  );
  const m = computeMeasurement(base);
  assert.match(m, /^[0-9a-f]{96}$/);
  for (const change of [{ args: ['sh', '-c', 'echo x'] }, { env: ['A=2'] }, { entrypointDigest: 'ac' }, { runtime: 'wasm' }, { cwd: '/tmp' }, { runtimeArgs: 'x' }, { rootfs: 'ce' }, { excluded: ['/dev', '/w'] }, { env: ['A=1', 'B=1', 'A=2'] }]) {
    assert.notEqual(computeMeasurement({ ...base, ...change }), m, JSON.stringify(change));
  }
});

test("withBundle() replaces the engine's --bundle in every spelling", () => {
  for (const raw of [['create', '--bundle', '/b', 'id'], ['create', '-b', '/b', 'id'], ['create', '--bundle=/b', 'id'], ['create', 'id']]) {
    assert.deepEqual(withBundle(raw, '/derived'), ['create', '--bundle', '/derived', 'id']);
  }
});
