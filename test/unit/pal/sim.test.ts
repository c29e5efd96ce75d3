/** The `sim` enclave runtime: workloads as plain child processes with the given stdio fds, argv, env and cwd. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { loadEnclaveRuntime } from '../../../src/pal/registry.ts';
import { PAL_ERR_ARGS, PAL_ERR_CALL, PAL_ERR_ENTRYPOINT, PAL_ERR_STATE } from '../../../src/pal/codes.ts';
import type { EnclaveRuntime, PalProcessSpec } from '../../../src/pal/types.ts';
import { CapturedStdio, rejectsWith, TempDir, waitFor } from './support.ts';

const dir = new TempDir();
after(() => dir.remove());

const PATH = 'PATH=/usr/local/bin:/usr/bin:/bin';

async function started(): Promise<EnclaveRuntime> {
  const rt = await loadEnclaveRuntime('sim');
  await rt.init({ args: '', logLevel: 'info' });
  return rt;
}

/** Runs one process to its end; returns exit code and captured output. */
async function run(rt: EnclaveRuntime, name: string, spec: Omit<PalProcessSpec, 'stdio'>, stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const io = new CapturedStdio(dir, name, stdin);
  try {
    const code = await rt.exec(await rt.createProcess({ ...spec, stdio: io.stdio }));
    return { code, out: io.stdout, err: io.stderr };
  } finally {
    io.close();
  }
}

describe('sim runtime', () => {
  test('stdout and stderr go to the given fds and the exit code comes back', async () => {
    const rt = await started();
    assert.equal(rt.name, 'sim');
    const r = await run(rt, 'out', { path: '/bin/sh', argv: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 3'], env: [PATH] });
    assert.deepEqual(r, { code: 3, out: 'to-out\n', err: 'to-err\n' });
    await rt.destroy();
  });

  test('argv is passed as is (argv[0] included, arguments with spaces intact) and stdin is the given fd', async () => {
    const rt = await started();
    const args = await run(rt, 'args', { path: '/bin/sh', argv: ['sh', '-c', 'printf "%s|" "$@"', 'zero', 'a b', ' c '], env: [PATH] });
    assert.equal(args.out, 'a b| c |');
    const argv0 = await run(rt, 'argv0', { path: '/bin/cat', argv: ['my-name', '/proc/self/cmdline'], env: [] });
    assert.equal(argv0.out, 'my-name\0/proc/self/cmdline\0');
    const stdin = await run(rt, 'stdin', { path: 'cat', argv: ['cat'], env: [PATH] }, 'from stdin\n');
    assert.equal(stdin.out, 'from stdin\n');
    await rt.destroy();
  });

  test('the env is exactly the given one (nothing of the runtime\'s own env leaks) and cwd is honoured', async () => {
    const rt = await started();
    const env = await run(rt, 'env', { path: '/usr/bin/env', argv: ['env'], env: ['FOO=bar baz', 'EMPTY='] });
    assert.equal(env.out, 'FOO=bar baz\nEMPTY=\n');
    const cwd = await run(rt, 'cwd', { path: 'pwd', argv: ['pwd'], env: [PATH], cwd: dir.path });
    assert.equal(cwd.out, `${dir.path}\n`);
    await rt.destroy();
  });

  test('it never starts programs through process.execPath (ld.so inside a container)', async () => {
    const rt = await started();
    const saved = process.execPath;
    process.execPath = '/nonexistent/ld-linux-x86-64.so.2';
    try {
      const r = await run(rt, 'execpath', { path: '/bin/sh', argv: ['sh', '-c', 'exit 0'], env: [] });
      assert.equal(r.code, 0);
    } finally {
      process.execPath = saved;
    }
    await rt.destroy();
  });

  test('kill while exec runs gives 128+sig; pid 0 is the current process and -1 every process', async () => {
    const rt = await started();
    const io = new CapturedStdio(dir, 'kill');
    const spec = { path: '/bin/sh', argv: ['sh', '-c', 'echo up; exec sleep 30'], env: [PATH], stdio: io.stdio };
    const a = await rt.createProcess(spec);
    const execA = rt.exec(a);
    await waitFor(() => io.stdout, (s) => s === 'up\n');
    await rt.kill(a, 0);
    await rt.kill(0, 15);
    assert.equal(await execA, 143);

    const b = await rt.createProcess(spec);
    const c = await rt.createProcess(spec);
    const execB = rt.exec(b);
    const execC = rt.exec(c);
    await waitFor(() => io.stdout, (s) => s === 'up\nup\nup\n');
    await rt.kill(-1, 9);
    assert.deepEqual(await Promise.all([execB, execC]), [137, 137]);
    io.close();
    await rejectsWith(rt.kill(b, 15), PAL_ERR_CALL, 'pal kill() failed with -3 (ESRCH)');
    await rejectsWith(rt.kill(-1, 99), PAL_ERR_CALL, 'pal kill() failed with -22 (EINVAL)');
    await rt.destroy();
  });

  test('a process killed before exec never starts and reports 128+sig; an ignored signal changes nothing', async () => {
    const rt = await started();
    const io = new CapturedStdio(dir, 'prekill');
    const pid = await rt.createProcess({ path: '/bin/sh', argv: ['sh', '-c', 'echo ran'], env: [PATH], stdio: io.stdio });
    await rt.kill(-1, 28); // SIGWINCH: default-ignored
    await rt.kill(-1, 15);
    assert.equal(await rt.exec(pid), 143);
    assert.equal(io.stdout, '');
    io.close();
    await rt.destroy();
  });

  test('destroy kills leftover processes', async () => {
    const rt = await started();
    const io = new CapturedStdio(dir, 'destroy');
    const pid = await rt.createProcess({ path: '/bin/sleep', argv: ['sleep', '30'], env: [], stdio: io.stdio });
    const exec = rt.exec(pid);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await rt.destroy();
    assert.equal(await exec, 137);
    io.close();
    await rt.destroy();
  });

  test('a missing, non-executable or unfindable entrypoint is PAL_ERR_ENTRYPOINT at createProcess', async () => {
    const rt = await started();
    const stdio = { stdin: 0, stdout: 1, stderr: 2 };
    writeFileSync(dir.file('not-exec'), '#!/bin/sh\n');
    chmodSync(dir.file('not-exec'), 0o644);
    await rejectsWith(rt.createProcess({ path: '/nonexistent/app', argv: ['app'], env: [], stdio }), PAL_ERR_ENTRYPOINT, 'Cannot create process: entrypoint /nonexistent/app does not exist');
    await rejectsWith(rt.createProcess({ path: 'no-such-program', argv: ['x'], env: [PATH], stdio }), PAL_ERR_ENTRYPOINT, /no-such-program in PATH does not exist/);
    await rejectsWith(rt.createProcess({ path: dir.path, argv: ['x'], env: [], stdio }), PAL_ERR_ENTRYPOINT, /is not a regular file/);
    if (process.getuid?.() !== 0) {
      await rejectsWith(rt.createProcess({ path: dir.file('not-exec'), argv: ['x'], env: [], stdio }), PAL_ERR_ENTRYPOINT, /is not executable/);
    }
    await rejectsWith(rt.createProcess({ path: '', argv: [], env: [], stdio }), PAL_ERR_ARGS, /path is empty/);
    await rejectsWith(rt.createProcess({ path: '/bin/sh', argv: ['sh'], env: [], stdio: { stdin: -1, stdout: 1, stderr: 2 } }), PAL_ERR_ARGS, /stdio/);
    await rt.destroy();
  });

  test('calls out of order are PAL_ERR_STATE, and sim takes no runtime arguments', async () => {
    const rt = await loadEnclaveRuntime('sim');
    const stdio = { stdin: 0, stdout: 1, stderr: 2 };
    await rejectsWith(rt.createProcess({ path: '/bin/true', argv: ['true'], env: [], stdio }), PAL_ERR_STATE, 'Cannot call createProcess() on enclave runtime sim: init() has not succeeded');
    await rejectsWith(rt.init({ args: 'preopen=/x', logLevel: 'info' }), PAL_ERR_ARGS, /takes no arguments/);
    await rt.init({ args: ' ', logLevel: 'info' });
    await rejectsWith(rt.init({ args: '', logLevel: 'info' }), PAL_ERR_STATE, /already initialized/);
    await rejectsWith(rt.exec(77), PAL_ERR_STATE, /no such process/);
    const pid = await rt.createProcess({ path: '/bin/true', argv: ['true'], env: [], stdio });
    assert.equal(await rt.exec(pid), 0);
    await rejectsWith(rt.exec(pid), PAL_ERR_STATE, /no such process/);
    await rt.destroy();
    await rt.destroy();
    await rejectsWith(rt.createProcess({ path: '/bin/true', argv: ['true'], env: [], stdio }), PAL_ERR_STATE, /destroyed/);
    await rejectsWith(rt.kill(-1, 15), PAL_ERR_STATE, /destroyed/);
  });
});
