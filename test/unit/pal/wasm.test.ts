/** The `wasm` enclave runtime with real WASI programs: stdio, args, env, exit codes, preopens, kill, errors. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { loadEnclaveRuntime } from '../../../src/pal/registry.ts';
import { PAL_ERR_ARGS, PAL_ERR_CALL, PAL_ERR_ENTRYPOINT, PAL_ERR_STATE, PAL_ERR_WASM } from '../../../src/pal/codes.ts';
import { WASM_TRAP_EXIT_CODE } from '../../../src/pal/wasm/runtime.ts';
import { webAssembly } from '../../../src/pal/wasm/webassembly.ts';
import type { EnclaveRuntime, PalProcessSpec } from '../../../src/pal/types.ts';
import { CapturedStdio, rejectsWith, TempDir, waitFor } from './support.ts';
import * as programs from './wasi-programs.ts';

const dir = new TempDir();
const modules: Record<string, string> = {};
const wasm = (name: string): string => {
  const path = modules[name];
  assert.ok(path, `module ${name} was not built`);
  return path;
};

before(async () => {
  const sources: Record<string, string> = {
    hello: programs.helloWat('hello from wasm\n', 'warning from wasm\n', 7),
    echo: programs.echoArgsEnvWat,
    catInside: programs.catFileWat('hello.txt'),
    catOutside: programs.catFileWat('../outside.txt'),
    spin: programs.spinWat,
    catStdin: programs.catStdinWat,
    ret: programs.returnWat,
    trap: programs.trapWat,
    noStart: programs.noStartWat,
    foreign: programs.foreignImportWat,
  };
  for (const [name, wat] of Object.entries(sources)) {
    modules[name] = dir.file(`${name}.wasm`);
    writeFileSync(modules[name], await programs.assemble(wat));
  }
  mkdirSync(dir.file('data'));
  writeFileSync(dir.file('data/hello.txt'), 'inside the preopen\n');
  writeFileSync(dir.file('outside.txt'), 'secret outside every preopen\n');
});
after(() => dir.remove());

async function started(args = ''): Promise<EnclaveRuntime> {
  const rt = await loadEnclaveRuntime('wasm');
  await rt.init({ args, logLevel: 'info' });
  return rt;
}

async function run(rt: EnclaveRuntime, name: string, spec: Omit<PalProcessSpec, 'stdio'>): Promise<{ code: number; out: string; err: string }> {
  const io = new CapturedStdio(dir, name);
  try {
    const code = await rt.exec(await rt.createProcess({ ...spec, stdio: io.stdio }));
    return { code, out: io.stdout, err: io.stderr };
  } finally {
    io.close();
  }
}

describe('wasm runtime', () => {
  test('a WASI program writes to the stdout and stderr fds and its proc_exit code is the exit code', async () => {
    const rt = await started();
    assert.equal(rt.name, 'wasm');
    const r = await run(rt, 'hello', { path: wasm('hello'), argv: ['hello'], env: [] });
    assert.deepEqual(r, { code: 7, out: 'hello from wasm\n', err: 'warning from wasm\n' });
    const ret = await run(rt, 'ret', { path: wasm('ret'), argv: ['ret'], env: [] });
    assert.equal(ret.code, 0);
    await rt.destroy();
  });

  test('args (argv[0] included, spaces intact) and env reach the module through args_get and environ_get', async () => {
    const rt = await started();
    const r = await run(rt, 'echo', { path: wasm('echo'), argv: ['echo.wasm', 'an argument with spaces', 'x'], env: ['GREETING=hi there', 'EMPTY='] });
    assert.equal(r.code, 3);
    assert.deepEqual(r.out.split('\0'), ['echo.wasm', 'an argument with spaces', 'x', '']);
    assert.deepEqual(r.err.split('\0'), ['GREETING=hi there', 'EMPTY=', '']);
    await rt.destroy();
  });

  test('a file inside a preopened directory can be opened; one outside every preopen cannot', async () => {
    const rt = await started(`preopen=/data:${dir.file('data')}`);
    const inside = await run(rt, 'inside', { path: wasm('catInside'), argv: ['cat'], env: [] });
    assert.deepEqual(inside, { code: 0, out: 'inside the preopen\n', err: '' });
    const outside = await run(rt, 'outside', { path: wasm('catOutside'), argv: ['cat'], env: [] });
    assert.equal(outside.code, 100 + 76, 'path_open fails with ENOTCAPABLE (76)');
    assert.equal(outside.out, '');
    await rt.destroy();
  });

  test('without preopens the module sees no directory at all', async () => {
    const rt = await started();
    const r = await run(rt, 'nopreopen', { path: wasm('catInside'), argv: ['cat'], env: [] });
    assert.equal(r.code, 100 + 8, 'path_open on fd 3 fails with EBADF (8)');
    await rt.destroy();
  });

  test('kill while the module runs terminates it with 128+sig; an ignored signal does not', async () => {
    const rt = await started();
    const io = new CapturedStdio(dir, 'spin');
    const pid = await rt.createProcess({ path: wasm('spin'), argv: ['spin'], env: [], stdio: io.stdio });
    const exec = rt.exec(pid);
    await waitFor(() => io.stdout, (s) => s === 'started\n');
    await rt.kill(-1, 28); // SIGWINCH: default-ignored, the module keeps running
    await rt.kill(pid, 0);
    await rt.kill(0, 15);
    assert.equal(await exec, 143);
    io.close();
    await rejectsWith(rt.kill(pid, 15), PAL_ERR_CALL, 'pal kill() failed with -3 (ESRCH)');
    await rt.destroy();
  });

  test('stdin reaches the module through the bridge, in pieces of any size, until EOF', async () => {
    const rt = await started();
    const input = `${'x'.repeat(150_000)}\nend\n`;
    const io = new CapturedStdio(dir, 'cat-stdin', input);
    const code = await rt.exec(await rt.createProcess({ path: wasm('catStdin'), argv: ['cat'], env: [], stdio: io.stdio }));
    assert.equal(code, 0);
    assert.equal(io.stdout, input);
    io.close();
    await rt.destroy();
  });

  test('a module blocked reading a stdin that never delivers is killed at once (not after the grace period)', async () => {
    // A FIFO opened read-write: reads block (no data) and never see EOF (we hold a writer), like an idle `-i`.
    const fifo = dir.file('stdin.fifo');
    execFileSync('mkfifo', [fifo]);
    const stdin = openSync(fifo, 'r+');
    const writer = openSync(fifo, 'r+');
    const io = new CapturedStdio(dir, 'cat-blocked');
    const rt = await loadEnclaveRuntime('wasm', { graceMs: 15_000 });
    try {
      await rt.init({ args: '', logLevel: 'info' });
      const exec = rt.exec(await rt.createProcess({ path: wasm('catStdin'), argv: ['cat'], env: [], stdio: { ...io.stdio, stdin } }));
      writeSync(writer, 'first line\n');
      await waitFor(() => io.stdout, (s) => s === 'first line\n');
      // Now blocked in fd_read(0) for good; only the terminate (not the 15 s grace timer) can end it quickly.
      const t0 = Date.now();
      await rt.kill(0, 15);
      assert.equal(await exec, 143);
      assert.ok(Date.now() - t0 < 5_000, `killed after ${Date.now() - t0} ms`);
    } finally {
      await rt.destroy();
      // Release whatever still reads the FIFO (a pool thread here; the module's own thread without the bridge).
      writeSync(writer, 'x\n');
      for (const fd of [stdin, writer]) closeSync(fd);
      io.close();
    }
  });

  test('destroy terminates modules still running', async () => {
    const rt = await started();
    const io = new CapturedStdio(dir, 'spin-destroy');
    const exec = rt.exec(await rt.createProcess({ path: wasm('spin'), argv: ['spin'], env: [], stdio: io.stdio }));
    await waitFor(() => io.stdout, (s) => s === 'started\n');
    await rt.destroy();
    assert.equal(await exec, 137);
    io.close();
  });

  test('a trap is reported on stderr with exit code 134', async () => {
    const rt = await started();
    const r = await run(rt, 'trap', { path: wasm('trap'), argv: ['trap'], env: [] });
    assert.equal(r.code, WASM_TRAP_EXIT_CODE);
    assert.match(r.err, /^wasm trap in .*trap\.wasm: unreachable/);
    await rt.destroy();
  });

  test('modules that are not WASI commands are PAL_ERR_WASM at createProcess; a missing file is PAL_ERR_ENTRYPOINT', async () => {
    const rt = await started();
    const stdio = { stdin: 0, stdout: 1, stderr: 2 };
    writeFileSync(dir.file('text.wasm'), 'not webassembly');
    await rejectsWith(rt.createProcess({ path: dir.file('text.wasm'), argv: [], env: [], stdio }), PAL_ERR_WASM, /is not a valid WebAssembly module/);
    await rejectsWith(rt.createProcess({ path: wasm('noStart'), argv: [], env: [], stdio }), PAL_ERR_WASM, /exports no _start function/);
    await rejectsWith(rt.createProcess({ path: wasm('foreign'), argv: [], env: [], stdio }), PAL_ERR_WASM, /imports function env\.host_secret/);
    await rejectsWith(rt.createProcess({ path: dir.file('missing.wasm'), argv: [], env: [], stdio }), PAL_ERR_ENTRYPOINT, /missing\.wasm does not exist$/);
    await rejectsWith(rt.createProcess({ path: dir.path, argv: [], env: [], stdio }), PAL_ERR_ENTRYPOINT, /is a directory$/);
    await rt.destroy();
  });

  test('wasmValidateFirst (init-runelet): a function body that is never called but invalid is refused at load, with V8\'s message; valid modules run; V8\'s lazy validation is off again afterwards', async () => {
    // _start (valid, returns) and function #2: i32.add on an empty stack (invalid), never called.
    const invalidBody = Uint8Array.from([
      0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
      1, 4, 1, 0x60, 0, 0, // type () -> ()
      3, 3, 2, 0, 0, // two functions
      5, 3, 1, 0, 1, // memory 1 page
      7, 19, 2, 6, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74, 0, 0, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 0, // exports _start, memory
      10, 8, 2, 2, 0, 0x0b, 3, 0, 0x6a, 0x0b, // bodies: end; i32.add end
    ]);
    writeFileSync(dir.file('invalid-body.wasm'), invalidBody);
    assert.equal(webAssembly.validate(invalidBody), false);
    const rt = await loadEnclaveRuntime('wasm', { wasmValidateFirst: true });
    await rt.init({ args: '', logLevel: 'info' });
    await rejectsWith(rt.createProcess({ path: dir.file('invalid-body.wasm'), argv: [], env: [], stdio: { stdin: 0, stdout: 1, stderr: 2 } }), PAL_ERR_WASM, /is not a valid WebAssembly module \(.*Compiling function #1 failed/);
    const r = await run(rt, 'hello-validated', { path: wasm('hello'), argv: ['hello'], env: [] });
    assert.deepEqual([r.code, r.out], [7, 'hello from wasm\n']);
    await rt.destroy();
    // Were lazy validation still on, this compile would succeed.
    await assert.rejects(webAssembly.compile(invalidBody), /Compiling function #1 failed/);
  });

  test('runtime arguments: unknown keys and missing preopen directories fail init with PAL_ERR_ARGS', async () => {
    const rt = await loadEnclaveRuntime('wasm');
    await rejectsWith(rt.init({ args: 'preopen=/data,mount=/x', logLevel: 'info' }), PAL_ERR_ARGS, /unknown key "mount" \(allowed: preopen\)/);
    await rejectsWith(rt.init({ args: `preopen=/data:${dir.file('nope')}`, logLevel: 'info' }), PAL_ERR_ARGS, /does not exist/);
    await rejectsWith(rt.init({ args: `preopen=/hello:${wasm('hello')}`, logLevel: 'info' }), PAL_ERR_ARGS, /is not a directory/);
    await rt.init({ args: `preopen=/data:${dir.file('data')} preopen=${dir.path}`, logLevel: 'info' });
    await rejectsWith(rt.init({ args: '', logLevel: 'info' }), PAL_ERR_STATE);
    await rt.destroy();
    await rejectsWith(rt.exec(1), PAL_ERR_STATE, /destroyed/);
  });
});
