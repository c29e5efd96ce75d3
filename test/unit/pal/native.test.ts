/** The native PAL loader against a skeleton PAL (test/fixtures/pal/skeleton.c) compiled here in v1, v2 and v3. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEnclaveRuntime } from '../../../src/pal/registry.ts';
import { PAL_ERR_ARGS, PAL_ERR_CALL, PAL_ERR_LOAD, PAL_ERR_STATE, PAL_ERR_UNSUPPORTED } from '../../../src/pal/codes.ts';
import type { EnclaveRuntime, PalInitOptions } from '../../../src/pal/types.ts';
import { CapturedStdio, rejectsWith, TempDir, waitFor } from './support.ts';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/pal');
const dir = new TempDir();
const lib = (name: string): string => dir.file(name);

function compile(source: string, out: string, defines: string[]): void {
  execFileSync(process.env.CC ?? 'cc', ['-shared', '-fPIC', '-O1', '-Wall', '-Wextra', '-Werror', ...defines, '-o', lib(out), join(fixtures, source)]);
}

before(() => {
  for (const v of [1, 2, 3]) compile('skeleton.c', `liberpal-skeleton-v${v}.so`, [`-DPAL_VERSION=${v}`]);
  compile('skeleton.c', 'liberpal-nokill.so', ['-DPAL_VERSION=2', '-DOMIT_KILL']);
  compile('not-a-pal.c', 'libnot-a-pal.so', []);
  writeFileSync(lib('libtext.so'), 'this is not an ELF file\n');
});
after(() => dir.remove());

const initOpts = (args = '', extra: Partial<PalInitOptions> = {}): PalInitOptions => ({ args, logLevel: 'debug', ...extra });

/** Loads, inits, creates and execs one process; returns its exit code and output. */
async function runOnce(rt: EnclaveRuntime, name: string, argv: string[], env: string[] = []): Promise<{ code: number; out: string; err: string }> {
  const io = new CapturedStdio(dir, name);
  try {
    const pid = await rt.createProcess({ path: '/bin/workload', argv, env, stdio: io.stdio });
    const code = await rt.exec(pid);
    return { code, out: io.stdout, err: io.stderr };
  } finally {
    io.close();
  }
}

describe('native PAL v1', () => {
  test('a library without pal_get_version is v1; exec passes path, argv and stdio, and returns the exit value', async () => {
    const rt = await loadEnclaveRuntime(lib('liberpal-skeleton-v1.so'));
    assert.equal(rt.version, 1);
    assert.equal(rt.name, lib('liberpal-skeleton-v1.so'));
    assert.equal(rt.getLocalReport, undefined);
    await rt.init(initOpts());
    const r = await runOnce(rt, 'v1', ['workload', 'an argument with spaces', 'exit=5', 'stderr=to stderr'], ['IGNORED=1']);
    assert.equal(r.code, 5);
    assert.equal(r.out, 'skeleton v1 ok path=/bin/workload argv=workload|an argument with spaces|exit=5|stderr=to stderr env= log=debug fd=-1 addr=0\n');
    assert.equal(r.err, 'to stderr\n');
    await rejectsWith(rt.kill(-1, 15), PAL_ERR_UNSUPPORTED, /PAL API v1 has no pal_kill/);
    await rt.destroy();
  });

  test('a v1 library cannot take a pooled enclave (v3 only)', async () => {
    const rt = await loadEnclaveRuntime(lib('liberpal-skeleton-v1.so'));
    await rejectsWith(rt.init(initOpts('', { enclaveFd: 5 })), PAL_ERR_UNSUPPORTED, /needs PAL API v3/);
    await rt.destroy();
  });
});

describe('native PAL v2', () => {
  test('create_process passes argv and env through the packed struct; exec returns the exit value', async () => {
    const rt = await loadEnclaveRuntime(lib('liberpal-skeleton-v2.so'));
    assert.equal(rt.version, 2);
    await rt.init(initOpts());
    const r = await runOnce(rt, 'v2', ['workload', 'exit=42'], ['A=1', 'B=two words']);
    assert.equal(r.code, 42);
    assert.equal(r.out, 'skeleton v2 ok path=/bin/workload argv=workload|exit=42 env=A=1|B=two words log=debug fd=-1 addr=0\n');
    const again = await runOnce(rt, 'v2b', ['workload']);
    assert.equal(again.code, 0);
    await rt.destroy();
  });

  test('pal init() failing with -EINVAL is PAL_ERR_CALL with the original message; init may then be retried', async () => {
    const rt = await loadEnclaveRuntime(lib('liberpal-skeleton-v2.so'));
    await rejectsWith(rt.init(initOpts('fail_init')), PAL_ERR_CALL, 'pal init() failed with -22 (EINVAL)');
    await rejectsWith(rt.createProcess({ path: '/x', argv: [], env: [], stdio: { stdin: 0, stdout: 1, stderr: 2 } }), PAL_ERR_STATE);
    await rt.init(initOpts());
    await rt.destroy();
  });

  test('kill while exec runs (wait_timeout) ends the workload with 128+sig, and the main thread stays free', async () => {
    const rt = await loadEnclaveRuntime(lib('liberpal-skeleton-v2.so'));
    await rt.init(initOpts('wait_timeout 20'));
    const io = new CapturedStdio(dir, 'v2-kill');
    const pid = await rt.createProcess({ path: '/bin/workload', argv: ['workload'], env: [], stdio: io.stdio });
    const started = Date.now();
    const exec = rt.exec(pid);
    await waitFor(() => io.stdout, (s) => s.includes('skeleton v2 ok'));
    await rt.kill(pid, 0);
    await rt.kill(pid, 15);
    assert.equal(await exec, 143);
    assert.ok(Date.now() - started < 5000);
    io.close();
    await rejectsWith(rt.kill(12345, 15), PAL_ERR_CALL, 'pal kill() failed with -3 (ESRCH)');
    await rt.destroy();
  });

  test('kill(-1) reaches every process, and destroy ends a workload that is still running', async () => {
    const rt = await loadEnclaveRuntime(lib('liberpal-skeleton-v2.so'));
    await rt.init(initOpts('wait_timeout=20'));
    const io = new CapturedStdio(dir, 'v2-all');
    const pid = await rt.createProcess({ path: '/bin/workload', argv: ['workload'], env: [], stdio: io.stdio });
    const exec = rt.exec(pid);
    await waitFor(() => io.stdout, (s) => s.length > 0);
    await rt.kill(-1, 2);
    assert.equal(await exec, 130);

    const pid2 = await rt.createProcess({ path: '/bin/workload', argv: ['workload'], env: [], stdio: io.stdio });
    const exec2 = rt.exec(pid2);
    await waitFor(() => io.stdout, (s) => s.split('\n').length > 2);
    await rt.destroy();
    assert.equal(await exec2, 137);
    io.close();
    await rejectsWith(rt.exec(pid2), PAL_ERR_STATE, /destroyed/);
    await rt.destroy();
  });

  test('invalid init options are rejected before the library is called', async () => {
    const rt = await loadEnclaveRuntime(lib('liberpal-skeleton-v2.so'));
    await rejectsWith(rt.init({ args: '', logLevel: 'loud' as 'info' }), PAL_ERR_ARGS, /log level "loud"/);
    await rt.destroy();
  });
});

describe('native PAL v3', () => {
  test('init attr v3 carries the pooled enclave fd and address; get_local_report returns a 432-byte report', async () => {
    const rt = await loadEnclaveRuntime(lib('liberpal-skeleton-v3.so'));
    assert.equal(rt.version, 3);
    await rt.init(initOpts('', { enclaveFd: 9, enclaveAddr: 0x7f0000000000n, logLevel: 'off' }));
    const r = await runOnce(rt, 'v3', ['workload', 'exit=3'], ['K=v']);
    assert.equal(r.code, 3);
    assert.equal(r.out, `skeleton v3 ok path=/bin/workload argv=workload|exit=3 env=K=v log=off fd=9 addr=${0x7f0000000000n}\n`);
    assert.ok(rt.getLocalReport);
    const target = new Uint8Array(512).map((_, i) => i & 0xff);
    const report = await rt.getLocalReport(target);
    assert.equal(report.length, 432);
    assert.equal(Buffer.from(report.subarray(0, 15)).toString(), 'SKELETON-REPORT');
    assert.deepEqual(report.subarray(64, 128), target.subarray(0, 64));
    await rejectsWith(rt.getLocalReport(new Uint8Array(10)), PAL_ERR_CALL, 'pal get_local_report() failed with -22 (EINVAL)');
    await rt.destroy();
  });

  test('without a pooled enclave, fd is -1 and addr 0', async () => {
    const rt = await loadEnclaveRuntime(lib('liberpal-skeleton-v3.so'));
    await rt.init(initOpts());
    const r = await runOnce(rt, 'v3-nopool', ['workload']);
    assert.match(r.out, / fd=-1 addr=0\n$/);
    await rt.destroy();
  });
});

describe('loading a native PAL', () => {
  const cases: [string, () => string, RegExp][] = [
    ['a shared library without PAL symbols', () => lib('libnot-a-pal.so'), /is not a PAL library: it does not export pal_init, pal_exec, pal_destroy/],
    ['a v2 library without pal_kill', () => lib('liberpal-nokill.so'), /does not export pal_kill \(required by PAL API v2\)$/],
    ['a file that is not ELF', () => lib('libtext.so'), /is not a shared library/],
    ['a path that does not exist', () => lib('libmissing.so'), /does not exist/],
    ['a directory', () => dir.path, /is not a regular file/],
    ['a relative path', () => 'liberpal-skeleton.so', /expected sim, wasm or the absolute path of a PAL library/],
  ];
  for (const [what, path, message] of cases) {
    test(`loadEnclaveRuntime() rejects ${what} with PAL_ERR_LOAD`, async () => {
      await rejectsWith(loadEnclaveRuntime(path()), PAL_ERR_LOAD, message);
    });
  }
});
