/**
 * Enclave containers run by rune against real runc: init-runelet is PID 1 (the host's node injected under
 * /.rune), the workload runs inside the enclave runtime, the PAL lifecycle follows create/start/kill/delete,
 * and bad enclave configurations fail at create with a clear error and nothing left behind.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBundle, makeBusyboxRootfs } from '../support/busybox.ts';
import { inclavaredEnv, stopInclavared } from '../support/fixtures.ts';
import { buildWasm } from '../support/wasm.ts';

const repo = new URL('../..', import.meta.url).pathname;
const RUNE = join(repo, 'dist/rune');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const SIM = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'];

let work: string;
let rootfs: string;
let root: string;
let n = 0;

/** Runs rune with stdout/stderr in files (a created container keeps its stdio open). */
function rune(args: string[], env: NodeJS.ProcessEnv = process.env): Result {
  const out = join(work, 'stdout');
  const err = join(work, 'stderr');
  const outFd = openSync(out, 'w');
  const errFd = openSync(err, 'w');
  try {
    const res = spawnSync(RUNE, ['--root', root, ...args], { cwd: work, env, timeout: 60_000, stdio: ['ignore', outFd, errFd] });
    return { code: res.status, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
}

function bundle(args: string[], opts: Omit<Parameters<typeof makeBundle>[1], 'args'> = {}): string {
  return makeBundle(join(work, `bundle-${++n}`), { rootfs, ...opts, args });
}

function status(id: string): string {
  return (JSON.parse(rune(['state', id]).stdout) as { status: string }).status;
}

async function waitFor(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(pred(), 'condition not reached in 10 s');
}

before(() => {
  assert.ok(existsSync(RUNE), 'dist/rune is missing: run `npm run build` first');
  work = mkdtempSync(join(tmpdir(), 'rune-enclave-'));
  // rune starts inclavared on demand; keep it (socket, state, platform key) in this test's temp dirs.
  Object.assign(process.env, inclavaredEnv(work));
  rootfs = join(work, 'rootfs');
  makeBusyboxRootfs(rootfs);
  root = join(work, 'root');
});
after(async () => {
  for (const id of existsSync(root) ? readdirSync(root) : []) rune(['delete', '--force', id]);
  await stopInclavared(process.env);
  delete process.env.INCLAVARED_ROOT;
  delete process.env.INCLAVARED_DATA_DIR;
  rmSync(work, { recursive: true, force: true });
});

describe('sim enclave containers', () => {
  test('rune run of a sim enclave: the workload runs under init-runelet and its exit code comes back', () => {
    const b = bundle(['sh', '-c', 'echo "in enclave: $(tr "\\0" " " < /proc/1/cmdline)"; env | grep -c ^ENCLAVE_; exit 7'], { env: SIM });
    const res = rune(['run', '--bundle', b, 'sim-run']);
    assert.equal(res.code, 7, res.stderr);
    const [first, second] = res.stdout.split('\n');
    assert.match(first!, /^in enclave: \/\.rune\/lib\/ld-linux\S+ --library-path \/\.rune\/lib \/\.rune\/init-runelet-sim $/);
    assert.equal(second, '0', 'the ENCLAVE_* settings rune consumed are removed from the workload env');
    assert.equal(existsSync(join(root, 'sim-run')), false);
  });

  test('RUNE_SIM_INIT=node makes the Node.js init-runelet PID 1 of a sim container; a value it does not know is refused', () => {
    const b = bundle(['sh', '-c', 'echo "in enclave: $(tr "\\0" " " < /proc/1/cmdline)"; exit 4'], { env: SIM });
    const res = rune(['run', '--bundle', b, 'sim-node-init'], { ...process.env, RUNE_SIM_INIT: 'node' });
    assert.equal(res.code, 4, res.stderr);
    assert.match(res.stdout, /^in enclave: \/\.rune\/lib\/ld-linux\S+ --library-path \/\.rune\/lib \/\.rune\/node (?:--\S+ )*\/\.rune\/init-runelet\.mjs/);
    const bad = rune(['run', '--bundle', b, 'sim-bad-init'], { ...process.env, RUNE_SIM_INIT: 'go' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid RUNE_SIM_INIT="go": it is "c" \(the default\) or "node"/);
    assert.equal(existsSync(join(root, 'sim-bad-init')), false, 'nothing is left of the refused create');
  });

  test('init-runelet reaps orphaned processes that exit inside the container (no zombies)', () => {
    const script = 'sh -c "sleep 0.2 &"; sleep 1.5; grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l';
    const b = bundle(['sh', '-c', script], { env: SIM });
    const res = rune(['run', '--bundle', b, 'sim-reap']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), '0');
  });

  test('rune run forwards SIGTERM to a workload that handles it, and the container exits with its code', async () => {
    const b = bundle(['sh', '-c', 'trap "exit 143" TERM; while :; do sleep 0.05; done'], { env: SIM });
    const child = spawn(RUNE, ['--root', root, 'run', '--bundle', b, 'sim-signal'], { stdio: 'ignore' });
    await waitFor(() => existsSync(join(root, 'sim-signal', 'started')));
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 143);
    assert.equal(existsSync(join(root, 'sim-signal')), false);
  });

  test('annotations configure an enclave as the env does', () => {
    const b = bundle(['sh', '-c', 'exit 3'], { annotations: { 'enclave.type': 'sim', 'enclave.runtime.path': 'sim' } });
    assert.equal(rune(['run', '--bundle', b, 'sim-annot']).code, 3);
  });

  test('create initialises the runtime and leaves the container "created"; start runs the workload; kill is forwarded', async () => {
    const b = bundle(['sh', '-c', 'trap "echo got TERM >> /tmp/log; exit 5" TERM; echo started > /tmp/log; while true; do sleep 0.1; done'], {
      env: SIM,
      edit: (c) => {
        c.root = { path: rootfs, readonly: false };
      },
    });
    const created = rune(['create', '--bundle', b, 'sim-life']);
    assert.equal(created.code, 0, created.stderr);
    const state = JSON.parse(rune(['state', 'sim-life']).stdout) as { status: string; bundle: string; pid: number };
    assert.equal(state.status, 'created');
    assert.equal(state.bundle, b, "state reports the engine's bundle");
    assert.ok(state.pid > 0);
    assert.equal(rune(['start', 'sim-life']).code, 0);
    assert.equal(status('sim-life'), 'running');
    await waitFor(() => rune(['exec', 'sim-life', 'cat', '/tmp/log']).stdout.includes('started'));

    const ex = rune(['exec', 'sim-life', 'sh', '-c', 'echo "$0|$1"', 'an argument with spaces', 'x']);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(ex.stdout, 'an argument with spaces|x\n');
    assert.equal(rune(['exec', 'sim-life', 'sh', '-c', 'exit 4']).code, 4);
    const listed = JSON.parse(rune(['list', '--format', 'json']).stdout) as { id: string; status: string }[];
    assert.deepEqual(listed.find((c) => c.id === 'sim-life')?.status, 'running');

    assert.equal(rune(['kill', 'sim-life', 'TERM']).code, 0);
    await waitFor(() => status('sim-life') === 'stopped');
    assert.match(readFileSync(join(rootfs, 'tmp/log'), 'utf8'), /got TERM/);
    assert.equal(rune(['delete', 'sim-life']).code, 0);
    assert.equal(existsSync(join(root, 'sim-life')), false);
  });
});

describe('attestation of enclave containers', () => {
  test('the workload sees its attestation socket; rune attest gets sim evidence that tee-tools verifies against the platform certificate', () => {
    const b = bundle(['sh', '-c', 'test -S "$INCLAVARE_ATTESTATION_SOCKET" && echo "socket at $INCLAVARE_ATTESTATION_SOCKET"; sleep 1000'], { env: SIM });
    assert.equal(rune(['create', '--bundle', b, 'attested']).code, 0);
    assert.equal(rune(['start', 'attested']).code, 0);
    const description = JSON.parse(readFileSync(join(root, 'attested', 'enclave.json'), 'utf8')) as { measurement: string };
    const nonce = 'c0ffee'.repeat(10);
    const out = join(work, 'evidence.bin');
    const attested = rune(['attest', 'attested', '--report-data', nonce, '--out', out, '--json']);
    assert.equal(attested.code, 0, attested.stderr);
    const result = JSON.parse(attested.stdout) as { tee: string; measurement: string; reportData: string };
    assert.equal(result.tee, 'sim');
    assert.equal(result.measurement, description.measurement);

    const cert = join(work, 'platform-cert.pem');
    writeFileSync(cert, execFileSync(process.execPath, [join(repo, 'dist/inclavared.mjs'), 'platform-cert', '--data-dir', process.env.INCLAVARED_DATA_DIR!], { encoding: 'utf8' }));
    const verify = spawnSync(process.execPath, [join(repo, 'dist/tee-tools.mjs'), 'verify', out, '--tee', 'sim', '--trust-anchor', cert, '--json'], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const verdict = JSON.parse(verify.stdout) as { verified: boolean; tee: string; claims: { measurements: { measurement: string }; reportData: string } };
    assert.equal(verdict.verified, true);
    assert.equal(verdict.claims.measurements.measurement, description.measurement, 'the evidence carries the host-computed measurement');
    assert.equal(verdict.claims.reportData, nonce.padEnd(128, '0'), 'and the report data asked for');

    const other = join(work, 'other-cert.pem');
    writeFileSync(other, execFileSync(process.execPath, [join(repo, 'dist/inclavared.mjs'), 'platform-cert', '--data-dir', join(work, 'other-data')], { encoding: 'utf8' }));
    const rejected = spawnSync(process.execPath, [join(repo, 'dist/tee-tools.mjs'), 'verify', out, '--tee', 'sim', '--trust-anchor', other, '--json'], { encoding: 'utf8' });
    assert.equal(rejected.status, 1, 'another platform key does not verify it');

    const socketDir = readFileSync(join(root, 'attested', 'attestation'), 'utf8').split('\n');
    const hostSocket = join(socketDir[0]!, '..', 'containers', socketDir[1]!, 'attest.sock');
    assert.equal(existsSync(hostSocket), true);
    assert.equal(rune(['delete', '--force', 'attested']).code, 0);
    assert.equal(existsSync(hostSocket), false, 'the attestation socket goes away at delete');
  });

  test('the workload finds its attestation socket through INCLAVARE_ATTESTATION_SOCKET', () => {
    const b = bundle(['sh', '-c', 'test -S "$INCLAVARE_ATTESTATION_SOCKET" && echo "$INCLAVARE_ATTESTATION_SOCKET"'], { env: SIM });
    const res = rune(['run', '--bundle', b, 'sees-socket']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, '/.rune/attest/attest.sock\n');
  });

  test('rune attest refuses a plain container and bad report data, naming the problem', () => {
    const b = bundle(['sleep', '1000']);
    assert.equal(rune(['create', '--bundle', b, 'plain-attest']).code, 0);
    assert.match(rune(['attest', 'plain-attest']).stderr, /Cannot attest container "plain-attest": it is not an enclave container/);
    assert.match(rune(['attest', 'plain-attest', '--report-data', 'xyz']).stderr, /Invalid --report-data "xyz"/);
    assert.equal(rune(['delete', '--force', 'plain-attest']).code, 0);
  });
});

describe('wasm enclave containers', () => {
  test('a WASI module runs as the workload with its args and env, and exits with its code', async () => {
    const wasmRoot = mkdtempSync(join(work, 'wasm-rootfs-'));
    makeBusyboxRootfs(wasmRoot);
    writeFileSync(join(wasmRoot, 'hello.wasm'), await buildWasm('hello'));
    const b = bundle(['/hello.wasm', 'first-arg'], { rootfs: wasmRoot, env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm', 'GREETING=hi'] });
    const res = rune(['run', '--bundle', b, 'wasm-run']);
    assert.equal(res.stderr, '');
    assert.equal(res.stdout, 'hello from wasm\n');
    assert.equal(res.code, 0);
  });

  test('a module with a function that does not validate, never called, is refused before it runs', async () => {
    const wasmRoot = mkdtempSync(join(work, 'wasm-rootfs-'));
    makeBusyboxRootfs(wasmRoot);
    writeFileSync(join(wasmRoot, 'hello.wasm'), await buildWasm('hello-invalid'));
    const b = bundle(['/hello.wasm'], { rootfs: wasmRoot, env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm'] });
    const res = rune(['run', '--bundle', b, 'wasm-invalid']);
    assert.notEqual(res.code, 0);
    assert.equal(res.stdout, '', 'its _start (valid) never ran');
    assert.match(res.stderr, /Compiling function #2 failed: type error/);
  });
});

describe('native PAL enclave containers (the skeleton PAL, compiled here)', () => {
  const libs: Record<string, string> = {};
  before(() => {
    const fixtures = join(repo, 'test/fixtures/pal');
    for (const version of [1, 2, 3]) {
      libs[`v${version}`] = join(work, `liberpal-skeleton-v${version}.so`);
      execFileSync('cc', ['-shared', '-fPIC', `-DPAL_VERSION=${version}`, '-o', libs[`v${version}`]!, join(fixtures, 'skeleton.c')]);
    }
    libs.none = join(work, 'libnot-a-pal.so');
    execFileSync('cc', ['-shared', '-fPIC', '-o', libs.none, join(fixtures, 'not-a-pal.c')]);
  });
  const env = (lib: string, args = ''): string[] => ['ENCLAVE_TYPE=sim', `ENCLAVE_RUNTIME_PATH=${lib}`, `ENCLAVE_RUNTIME_ARGS=${args}`];

  for (const version of ['v1', 'v2', 'v3']) {
    test(`a PAL ${version} library runs the workload through pal_exec and its exit value comes back`, () => {
      const b = bundle(['/bin/sh', 'exit=3'], { env: env(libs[version]!) });
      const res = rune(['run', '--bundle', b, `native-${version}`]);
      assert.equal(res.code, 3, res.stderr);
      assert.match(res.stdout, /\/bin\/sh/);
    });
  }

  test('rune kill reaches a running PAL v2 workload through pal_kill', async () => {
    const b = bundle(['/bin/sh'], { env: env(libs.v2!, 'wait_timeout,30') });
    assert.equal(rune(['create', '--bundle', b, 'native-kill']).code, 0);
    assert.equal(rune(['start', 'native-kill']).code, 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rune(['kill', 'native-kill', 'TERM']).code, 0);
    await waitFor(() => status('native-kill') === 'stopped');
    assert.equal(rune(['delete', 'native-kill']).code, 0);
  });

  test('rune exec into a PAL v2/v3 container runs in the container\'s runtime instance', async () => {
    for (const version of ['v2', 'v3']) {
      const id = `native-exec-${version}`;
      const b = bundle(['/bin/sh'], { env: env(libs[version]!, 'wait_timeout,30') });
      assert.equal(rune(['create', '--bundle', b, id]).code, 0);
      assert.equal(rune(['start', id]).code, 0);
      const first = rune(['exec', id, '/bin/tool', 'nowait', 'show=instance', 'exit=4']);
      const second = rune(['exec', id, '/bin/tool', 'nowait', 'show=instance', 'an arg with spaces']);
      assert.equal(first.code, 4, first.stderr);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(first.stderr + second.stderr, '');
      // PAL pids go on from the workload's (1000) in one instance; a second instance would start at 1000 again.
      const [, proc1, pid1] = /instance=(\d+)\/(\d+)/.exec(first.stdout) ?? [];
      const [, proc2, pid2] = /instance=(\d+)\/(\d+)/.exec(second.stdout) ?? [];
      assert.deepEqual([pid1, pid2], ['1001', '1002'], first.stdout + second.stdout);
      assert.equal(proc1, proc2);
      assert.match(second.stdout, /argv=\/bin\/tool\|nowait\|show=instance\|an arg with spaces env=/);
      // The exec gets the workload's env (as runc gives an exec the config's), not init-runelet's own.
      assert.match(second.stdout, / env=PATH=\/usr\/local\/sbin:[^ ]*\|TERM=xterm\|/);
      assert.doesNotMatch(second.stdout, /UV_THREADPOOL_SIZE/);
      assert.equal(rune(['kill', id, 'KILL']).code, 0);
      await waitFor(() => status(id) === 'stopped');
      assert.equal(rune(['delete', id]).code, 0);
    }
  });

  test('rune exec into a PAL v1 container says it runs in a second instance (v1 runs one process per instance)', async () => {
    const b = bundle(['/bin/sh'], { env: env(libs.v1!, 'wait_timeout,30') });
    assert.equal(rune(['create', '--bundle', b, 'native-exec-v1']).code, 0);
    assert.equal(rune(['start', 'native-exec-v1']).code, 0);
    const res = rune(['exec', 'native-exec-v1', '/bin/tool', 'nowait', 'exit=2']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /running \/bin\/tool in a second instance of the enclave runtime, not in the container's: .*PAL API v1/);
    assert.match(res.stdout, /skeleton v1 ok path=\/bin\/tool/);
    assert.equal(rune(['kill', 'native-exec-v1', 'KILL']).code, 0);
    await waitFor(() => status('native-exec-v1') === 'stopped');
    assert.equal(rune(['delete', 'native-exec-v1']).code, 0);
  });

  test('a PAL init that fails with -EINVAL fails rune create with the PAL message, leaving nothing', () => {
    const b = bundle(['/bin/sh'], { env: env(libs.v3!, 'fail_init') });
    const res = rune(['create', '--bundle', b, 'native-fail']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /Cannot create enclave container "native-fail": .*pal init\(\) failed with -22 \(EINVAL\)/);
    assert.equal(existsSync(join(root, 'native-fail')), false);
  });

  test('a shared library without the PAL symbols fails rune create naming the missing symbol', () => {
    const b = bundle(['/bin/sh'], { env: env(libs.none!) });
    const res = rune(['create', '--bundle', b, 'native-nosym']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /Cannot create enclave container "native-nosym": .*pal_/);
    assert.equal(existsSync(join(root, 'native-nosym')), false);
  });
});

describe('bad enclave configurations fail at create, naming the cause, leaving nothing behind', () => {
  const cases: { name: string; env?: string[]; args?: string[]; annotations?: Record<string, string>; expect: RegExp; setup?: (b: string) => void }[] = [
    { name: 'an unknown enclave type', env: ['ENCLAVE_TYPE=quantum', 'ENCLAVE_RUNTIME_PATH=sim'], expect: /Invalid enclave type "quantum" \(ENCLAVE_TYPE \/ enclave\.type\): use one of intelSgx, .*sim/ },
    { name: 'a missing runtime path', env: ['ENCLAVE_TYPE=sim'], expect: /Missing enclave runtime for enclave type sim: set ENCLAVE_RUNTIME_PATH/ },
    { name: 'a relative runtime path', env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=libpal.so'], expect: /Invalid enclave runtime "libpal\.so"/ },
    { name: 'an invalid log level', env: [...SIM, 'ENCLAVE_RUNTIME_LOGLEVEL=loud'], expect: /Invalid enclave runtime log level "loud"/ },
    { name: 'a hardware type this host lacks', env: ['ENCLAVE_TYPE=intelSgx', 'ENCLAVE_RUNTIME_PATH=sim'], expect: /Cannot run enclave type intelSgx: this host has no SGX device/ },
    { name: 'a missing entrypoint', env: SIM, args: ['no-such-program'], expect: /entrypoint "no-such-program" is not a file in the container's rootfs/ },
    { name: 'a .wasm entrypoint that is not WebAssembly', env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm'], args: ['/bin/busybox'], expect: /\/bin\/busybox is not a WebAssembly module/ },
    { name: 'a runtime library that does not exist', env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=/nonexistent/liberpal-x.so'], expect: /Cannot load enclave runtime \/nonexistent\/liberpal-x\.so: the file does not exist/ },
    { name: 'a runtime library that is not a shared library', env: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=/etc/hostname'], expect: /Cannot load enclave runtime \/etc\/hostname: it is not a shared library/ },
  ];
  for (const c of cases) {
    test(`rune create rejects ${c.name}`, () => {
      const b = bundle(c.args ?? ['true'], { ...(c.env ? { env: c.env } : {}), ...(c.annotations ? { annotations: c.annotations } : {}) });
      const id = `bad-${n}`;
      const res = rune(['create', '--bundle', b, id]);
      assert.equal(res.code, 1);
      const lines = res.stderr.trim().split('\n');
      assert.equal(lines.length, 1, res.stderr);
      assert.match(lines[0]!, c.expect);
      assert.equal(existsSync(join(root, id)), false, 'nothing is left behind');
    });
  }
});
