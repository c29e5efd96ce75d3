// podman drives the runtime under test (`podman --runtime <rune>`): podman calls it for create,
// start, state, exec, kill, pause/resume and delete, and conmon calls it for create/exec.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  assertRuntimeStateDir,
  defaultRuntimeRoot,
  describeRun,
  exists,
  guardHostDirs,
  isRunc,
  makeOciImage,
  makeTempDir,
  podmanEnv,
  podmanLoadImage,
  podmanReset,
  reapProcesses,
  removeNewCgroups,
  removeTempDir,
  repoRoot,
  requireTools,
  run,
  runInBackground,
  runtimeBinary,
  snapshotCgroups,
  waitFor,
  waitForOutput,
  type CgroupSnapshot,
  type RunOptions,
  type RunResult,
} from '../support/fixtures.ts';
import { buildWasm } from '../support/wasm.ts';
import { assemble, catStdinWat } from '../unit/pal/wasi-programs.ts';

const IMAGE = 'docker.io/inclavare/busybox:latest';
const BLOB_CACHE_DIR = '/var/lib/containers/cache';
/** Paths podman (4.3, as root) uses whatever containers.conf says. */
const FIXED_HOST_DIRS = [BLOB_CACHE_DIR, '/var/lib/containers', '/run/containers/networks', '/run/containers'];

void describe(`podman --runtime ${runtimeBinary()}`, { timeout: 120_000 }, () => {
  const runtime = runtimeBinary();
  // podman passes no --root, and `--runtime-flag root=...` is not handed on to the cleanup process
  // conmon spawns (its `delete` would miss the container), so the runtime keeps its default root.
  const stateRoot = defaultRuntimeRoot(runtime);
  let tmp = '';
  let gate = '';
  let env: NodeJS.ProcessEnv = {};
  let cgroups: CgroupSnapshot | undefined;
  let hadBlobCache = true;
  let restoreHostDirs = async (): Promise<void> => undefined;

  const podman = (args: readonly string[], opts: RunOptions = {}): Promise<RunResult> =>
    run('podman', ['--runtime', runtime, ...args], { env, timeoutMs: 60_000, ...opts });
  const podmanOk = async (args: readonly string[], opts: RunOptions = {}): Promise<RunResult> => {
    const r = await podman(args, opts);
    assert.equal(r.code, 0, describeRun('podman', args, r));
    return r;
  };
  const inspect = async (name: string, format: string): Promise<string> =>
    (await podmanOk(['inspect', '--format', format, name])).stdout.trim();
  /** `podman run -d` a busybox script; resolves to the container id once the runtime has it. */
  const runDetached = async (name: string, script: string): Promise<string> => {
    const id = (await podmanOk(['run', '-d', '--pull', 'never', '--network', 'none', '--name', name, IMAGE, 'sh', '-c', script])).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await assertRuntimeStateDir(stateRoot, id);
    return id;
  };

  before(async () => {
    await requireTools([
      { bin: 'podman', pkg: 'podman' },
      { bin: 'conmon', pkg: 'conmon' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    hadBlobCache = await exists(BLOB_CACHE_DIR);
    restoreHostDirs = await guardHostDirs([...FIXED_HOST_DIRS, stateRoot]);
    cgroups = await snapshotCgroups();
    tmp = await makeTempDir('rune-e2e-podman-');
    gate = path.join(tmp, 'gate');
    await mkdir(gate);
    env = await podmanEnv(tmp, { runtimeBinary: runtime });
    const image = await makeOciImage(path.join(tmp, 'image'), { name: IMAGE, cmd: ['sh'] });
    await podmanLoadImage(env, image);
  });

  after(async () => {
    if (tmp === '') return;
    await podmanReset(env);
    // conmon outlives `podman rm` briefly; it must be gone before its cgroup can be removed.
    const killed = await reapProcesses((p) => path.basename(p.argv[0] ?? '') === 'conmon' && p.argv.some((a) => a.startsWith(tmp)));
    if (killed.length > 0) console.error(`podman e2e: killed lingering ${killed.join('; ')}`);
    if (cgroups) {
      const left = await removeNewCgroups(cgroups, ['libpod_parent']);
      if (left.length > 0) console.error(`podman e2e: cgroups left behind: ${left.join(', ')}`);
    }
    // containers/image keeps a blob-info cache at a fixed host path for root; drop it if we made it.
    if (!hadBlobCache) await rm(path.join(BLOB_CACHE_DIR, 'blob-info-cache-v1.boltdb'), { force: true });
    await restoreHostDirs();
    await removeTempDir(tmp);
  });

  void test('podman run --rm propagates the exit code 7 of the container', async () => {
    const cidfile = path.join(tmp, 'exit.cid');
    const args = [
      '--runtime', runtime, 'run', '--rm', '--pull', 'never', '--network', 'none', '--cidfile', cidfile,
      '-v', `${gate}:/gate`, IMAGE,
      'sh', '-c', 'echo started; while [ ! -e /gate/exit-go ]; do sleep 0.05; done; echo finishing; exit 7',
    ];
    const child = runInBackground('podman', args, { env, timeoutMs: 60_000 });
    await waitForOutput(child, 'started\n');
    const id = (await readFile(cidfile, 'utf8')).trim();
    await assertRuntimeStateDir(stateRoot, id);
    await writeFile(path.join(gate, 'exit-go'), '');
    const r = await child.exited;
    assert.equal(r.code, 7, describeRun('podman', args, r));
    assert.match(r.stdout, /started\nfinishing\n/);
    await waitFor('the runtime to forget the removed container', async () => !(await exists(path.join(stateRoot, id))));
  });

  void test('podman run -d, then exec shows the output and exit code, and stop delivers SIGTERM', async () => {
    const id = await runDetached('exec-stop', 'trap "exit 42" TERM; while :; do sleep 0.05; done');
    const ex = await podmanOk(['exec', 'exec-stop', 'sh', '-c', 'echo "exec says $((6 * 7))"; cat /proc/1/cmdline | tr "\\0" " "']);
    assert.match(ex.stdout, /^exec says 42\nsh -c trap/);
    const failing = await podman(['exec', 'exec-stop', 'sh', '-c', 'echo oops >&2; exit 4']);
    assert.equal(failing.code, 4, describeRun('podman exec', [], failing));
    assert.match(failing.stderr, /oops/);
    await podmanOk(['stop', '--time', '10', 'exec-stop']);
    assert.equal(await inspect('exec-stop', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 42');
    await podmanOk(['rm', 'exec-stop']);
    assert.equal(await exists(path.join(stateRoot, id)), false, 'podman rm left the runtime state behind');
  });

  void test('podman run -t gives the container a terminal', async () => {
    const cidfile = path.join(tmp, 'tty.cid');
    // stdin stays /dev/null: -t without -i works non-interactively (podman only warns).
    const args = [
      '--runtime', runtime, 'run', '--rm', '-t', '--pull', 'never', '--network', 'none', '--cidfile', cidfile,
      '-v', `${gate}:/gate`, IMAGE,
      'sh', '-c', 'if test -t 0 && test -t 1; then echo "tty $(tty)"; fi; while [ ! -e /gate/tty-go ]; do sleep 0.05; done',
    ];
    const child = runInBackground('podman', args, { env, timeoutMs: 60_000 });
    await waitForOutput(child, '\n');
    await assertRuntimeStateDir(stateRoot, (await readFile(cidfile, 'utf8')).trim());
    await writeFile(path.join(gate, 'tty-go'), '');
    const r = await child.exited;
    assert.equal(r.code, 0, describeRun('podman', args, r));
    // A terminal turns "\n" into "\r\n"; the console is a pts of the container's devpts.
    assert.match(r.stdout, /^tty \/dev\/(pts\/\d+|console)\r\n/);
  });

  void test('podman pause and unpause freeze and thaw the container', async () => {
    const id = await runDetached('pause', 'while :; do sleep 0.05; done');
    await podmanOk(['pause', 'pause']);
    assert.equal(await inspect('pause', '{{.State.Status}}'), 'paused');
    const frozen = await run(runtime, ['--root', stateRoot, 'state', id]);
    assert.equal((JSON.parse(frozen.stdout) as { status: string }).status, 'paused', describeRun(runtime, ['state', id], frozen));
    await podmanOk(['unpause', 'pause']);
    assert.equal(await inspect('pause', '{{.State.Status}}'), 'running');
    assert.match((await podmanOk(['exec', 'pause', 'echo', 'alive'])).stdout, /^alive\n$/);
    await podmanOk(['rm', '--force', '--time', '0', 'pause']);
  });

  void test('podman kill sends the requested signal, SIGKILL by default', async () => {
    await runDetached('kill-term', 'trap "exit 42" TERM; while :; do sleep 0.05; done');
    await podmanOk(['kill', '--signal', 'TERM', 'kill-term']);
    assert.equal((await podmanOk(['wait', 'kill-term'])).stdout.trim(), '42');

    await runDetached('kill-default', 'trap "exit 42" TERM; while :; do sleep 0.05; done');
    await podmanOk(['kill', 'kill-default']);
    assert.equal((await podmanOk(['wait', 'kill-default'])).stdout.trim(), '137');
    await podmanOk(['rm', 'kill-term', 'kill-default']);
  });
  // Enclave containers (issue #4): only meaningful through rune; runc would just run the workload.
  const enclaveTest = isRunc(runtime) ? test.skip : test;
  const SIM_ENV = ['--env', 'ENCLAVE_TYPE=sim', '--env', 'ENCLAVE_RUNTIME_PATH=sim'];

  void enclaveTest('podman runs a sim enclave container configured by --env: init-runelet is PID 1, the exit code comes back', async () => {
    const r = await podman(['run', '--rm', '--pull', 'never', '--network', 'none', ...SIM_ENV, IMAGE,
      'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; env | grep -c ^ENCLAVE_; exit 9']);
    assert.equal(r.code, 9, describeRun('podman run (sim enclave)', [], r));
    assert.match(r.stdout, /--library-path \/\.rune\/lib \/\.rune\/init-runelet-sim \n0\n/);
  });

  void enclaveTest('podman runs a wasm enclave container configured by annotations, the module from a volume', async () => {
    const modules = path.join(tmp, 'wasm');
    await mkdir(modules, { recursive: true });
    await writeFile(path.join(modules, 'hello.wasm'), await buildWasm('hello'));
    const r = await podman(['run', '--rm', '--pull', 'never', '--network', 'none',
      '--annotation', 'enclave.type=sim', '--annotation', 'enclave.runtime.path=wasm', '-v', `${modules}:/w:ro`, IMAGE, '/w/hello.wasm']);
    assert.equal(r.code, 0, describeRun('podman run (wasm enclave)', [], r));
    assert.equal(r.stdout, 'hello from wasm\n');
  });

  void enclaveTest('a wasm workload reads stdin (-i), and one waiting for input stops at once on SIGTERM', async () => {
    const modules = path.join(tmp, 'wasm-cat');
    await mkdir(modules, { recursive: true });
    await writeFile(path.join(modules, 'cat.wasm'), await assemble(catStdinWat));
    const wasmArgs = ['--pull', 'never', '--network', 'none', '--annotation', 'enclave.type=sim', '--annotation', 'enclave.runtime.path=wasm', '-v', `${modules}:/w:ro`, IMAGE, '/w/cat.wasm'];
    const piped = await podman(['run', '--rm', '-i', ...wasmArgs], { input: 'through the stdin bridge\n' });
    assert.equal(piped.code, 0, describeRun('podman run -i (wasm cat)', [], piped));
    assert.equal(piped.stdout, 'through the stdin bridge\n');

    // -d -i: stdin stays open and empty, so the module blocks in fd_read(0).
    await podmanOk(['run', '-d', '-i', '--name', 'wasm-wait', ...wasmArgs]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await inspect('wasm-wait', '{{.State.Status}}'), 'running');
    const t0 = Date.now();
    await podmanOk(['stop', '--time', '30', 'wasm-wait']);
    const took = Date.now() - t0;
    assert.equal(await inspect('wasm-wait', '{{.State.ExitCode}}'), '143');
    assert.ok(took < 10_000, `podman stop took ${took} ms: SIGTERM did not end the module (podman waited for its SIGKILL)`);
    await podmanOk(['rm', 'wasm-wait']);
  });

  void enclaveTest('podman run -t gives a sim enclave workload the terminal', async () => {
    const r = await podman(['run', '--rm', '-t', '--pull', 'never', '--network', 'none', ...SIM_ENV, IMAGE,
      'sh', '-c', 'if test -t 0 && test -t 1; then echo "tty $(tty)"; fi; exit 6']);
    assert.equal(r.code, 6, describeRun('podman run -t (sim enclave)', [], r));
    assert.match(r.stdout, /^tty \/dev\/pts\/\d+\r?\n/);
  });

  void enclaveTest('a RATS-TLS server in a sim enclave container is verified by a client outside, by its measurement', async () => {
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const serve = `exec /.rune/lib/ld-linux-x86-64.so.2 --library-path /.rune/lib /.rune/node /app/rats-tls.mjs server -a sim -v nullverifier -i 127.0.0.1 -p ${port} -l info`;
    const id = (await podmanOk(['run', '-d', '--name', 'tls-enclave', '--network', 'host', '--pull', 'never', ...SIM_ENV,
      '-v', `${path.join(repoRoot, 'dist')}:/app:ro`, IMAGE, 'sh', '-c', serve])).stdout.trim();
    const measurement = (JSON.parse(await readFile(path.join(stateRoot, id, 'enclave.json'), 'utf8')) as { measurement: string }).measurement;
    await waitFor('the server to listen', async () => { const l = await podman(['logs', 'tls-enclave']); return (l.stdout + l.stderr).includes('listening'); });
    const cert = path.join(tmp, 'platform-cert.pem');
    const pem = await run(process.execPath, [path.join(repoRoot, 'dist/inclavared.mjs'), 'platform-cert', '--data-dir', String(env.INCLAVARED_DATA_DIR)]);
    await writeFile(cert, pem.stdout);
    const client = (expect: string): Promise<RunResult> =>
      run(process.execPath, [path.join(repoRoot, 'dist/rats-tls.mjs'), 'client', '-v', 'sim', '--trust-anchor', cert, '--expect-measurement', expect, '-i', '127.0.0.1', '-p', port, '-l', 'info']);
    const ok = await client(measurement);
    assert.equal(ok.code, 0, describeRun('rats-tls client', [], ok));
    assert.match(ok.stderr + ok.stdout, new RegExp(`verified sim peer, measurement ${measurement}`));
    const refused = await client('00'.repeat(48));
    assert.equal(refused.code, 1, describeRun('rats-tls client (wrong measurement)', [], refused));
    await podmanOk(['rm', '--force', '--time', '5', 'tls-enclave']);
  });

  void enclaveTest('podman exec runs inside a sim enclave container, and podman stop ends it gracefully', async () => {
    const id = (await podmanOk(['run', '-d', '--pull', 'never', '--network', 'none', '--name', 'enclave-stop', ...SIM_ENV, IMAGE,
      'sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.05; done'])).stdout.trim();
    await assertRuntimeStateDir(stateRoot, id);
    assert.equal(await exists(path.join(stateRoot, id, 'enclave.json')), true);
    const ex = await podmanOk(['exec', 'enclave-stop', 'sh', '-c', 'echo "$0"', 'an argument with spaces']);
    assert.equal(ex.stdout, 'an argument with spaces\n');
    assert.equal((await podman(['exec', 'enclave-stop', 'sh', '-c', 'exit 4'])).code, 4);
    await podmanOk(['stop', '--time', '10', 'enclave-stop']);
    assert.equal(await inspect('enclave-stop', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 42');
    await podmanOk(['rm', 'enclave-stop']);
    assert.equal(await exists(path.join(stateRoot, id)), false);
  });
});
