/**
 * rune driven directly, the way engines call runc, against real runc: every behaviour is checked twice,
 * through the launcher's fast path and through the Node.js implementation (RUNE_FAST_PATH=0), which must
 * give the same results.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBundle, makeBusyboxRootfs } from '../support/busybox.ts';

const repo = new URL('../..', import.meta.url).pathname;
const RUNE = join(repo, 'dist/rune');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let work: string;
let rootfs: string;

before(() => {
  assert.ok(existsSync(RUNE), 'dist/rune is missing: run `npm run build` first');
  work = mkdtempSync(join(tmpdir(), 'rune-cli-'));
  rootfs = join(work, 'rootfs');
  makeBusyboxRootfs(rootfs);
});
after(() => {
  rmSync(work, { recursive: true, force: true });
});

for (const mode of ['fast path', 'Node.js path'] as const) {
  describe(`rune (${mode})`, () => {
    const env = { ...process.env, RUNE_FAST_PATH: mode === 'fast path' ? '1' : '0' };
    let root: string;
    let n = 0;
    /**
     * Runs rune with stdout and stderr in files, not pipes: a created or detached container keeps its stdio
     * open, and a pipe would not see EOF until the container exits. Files of their own for each call: a
     * detached workload keeps writing to the files of the call that started it (a shared file would mix its
     * output, e.g. a TERM trap's echo, into a later call's JSON).
     */
    let calls = 0;
    const rune = (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Result => {
      const out = join(work, `stdout-${++calls}`);
      const err = join(work, `stderr-${calls}`);
      const outFd = openSync(out, 'w');
      const errFd = openSync(err, 'w');
      try {
        const res = spawnSync(RUNE, ['--root', root, ...args], {
          cwd: opts.cwd ?? work,
          env: opts.env ?? env,
          timeout: 30_000,
          stdio: ['ignore', outFd, errFd],
        });
        return { code: res.status, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
      } finally {
        closeSync(outFd);
        closeSync(errFd);
      }
    };
    const bundle = (args: string[], extra: Parameters<typeof makeBundle>[1] extends infer O ? Partial<O> : never = {}): string =>
      makeBundle(join(work, `bundle-${mode.split(' ')[0]}-${++n}`), { args, rootfs, ...extra });
    const sleeper = (): string => bundle(['sh', '-c', 'trap "echo got TERM; exit 3" TERM; while true; do sleep 0.1; done']);
    const status = (id: string): string => (JSON.parse(rune(['state', id]).stdout) as { status: string }).status;
    const waitFor = async (pred: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(pred(), 'condition not reached in 5 s');
    };

    before(() => {
      root = mkdtempSync(join(work, `root-${mode.split(' ')[0]}-`));
    });
    after(() => {
      for (const id of existsSync(root) ? readdirSync(root) : []) rune(['delete', '--force', id]);
    });

    test('rune --version names rune, the spec and the backend', () => {
      const res = rune(['--version']);
      assert.equal(res.code, 0);
      assert.match(res.stdout, /^rune version \d+\.\d+\.\d+/);
      assert.match(res.stdout, /spec: 1\.0\.2/);
      assert.match(res.stdout, /backend: \S*runc/);
    });

    test('rune spec writes a config.json with the enclave annotations and refuses to overwrite it', () => {
      const dir = mkdtempSync(join(work, 'spec-'));
      assert.equal(rune(['spec', '--bundle', dir]).code, 0);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { annotations: Record<string, string>; process: { args: string[] } };
      assert.deepEqual(Object.keys(config.annotations).sort(), ['enclave.runtime.args', 'enclave.runtime.loglevel', 'enclave.runtime.path', 'enclave.type']);
      assert.deepEqual(config.process.args, ['sh']);
      const again = rune(['spec', '--bundle', dir]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already exists/);
      assert.equal(rune(['spec', '--bundle', join(dir, 'sgx'), '--enclave-type', 'intelSgx']).code, 1);
    });

    test('rune run returns the exit code of a busybox workload that exits 7, and leaves no state', () => {
      const b = bundle(['sh', '-c', 'echo hello from rune; exit 7']);
      const res = rune(['run', '--bundle', b, 'exit7']);
      assert.equal(res.code, 7, res.stderr);
      assert.equal(res.stdout, 'hello from rune\n');
      assert.equal(existsSync(join(root, 'exit7')), false);
    });

    test('rune run in the foreground forwards SIGTERM to the workload and returns its exit code', async () => {
      const b = sleeper();
      const child = spawn(RUNE, ['--root', root, 'run', '--bundle', b, 'fwd'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor(() => rune(['state', 'fwd']).stdout.includes('"running"'));
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      assert.equal(code, 3);
      assert.equal(out, 'got TERM\n');
      assert.equal(existsSync(join(root, 'fwd')), false);
    });

    test('create, start, state, list, ps, exec, pause, resume, kill and delete behave as runc', async () => {
      const b = sleeper();
      const pidFile = join(work, `pid-${mode.split(' ')[0]}`);
      const created = rune(['create', '--bundle', b, '--pid-file', pidFile, 'life']);
      assert.equal(created.code, 0, created.stderr);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      const state = JSON.parse(rune(['state', 'life']).stdout) as { id: string; pid: number; status: string; bundle: string };
      assert.deepEqual([state.id, state.pid, state.status, state.bundle], ['life', pid, 'created', b]);
      assert.ok(existsSync(join(root, 'life', 'runc', 'life')), "the backend's state lives inside rune's state directory");

      assert.equal(rune(['start', 'life']).code, 0);
      assert.equal(status('life'), 'running');

      const listed = JSON.parse(rune(['list', '--format', 'json']).stdout) as { id: string; status: string; pid: number }[];
      assert.deepEqual(listed.map((c) => [c.id, c.status, c.pid]), [['life', 'running', pid]]);
      assert.equal(rune(['list', '-q']).stdout, 'life\n');
      assert.match(rune(['list']).stdout, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER\nlife\s+\d+\s+running\s+/);

      const ps = rune(['ps', '--format', 'json', 'life']);
      assert.ok((JSON.parse(ps.stdout) as number[]).includes(pid), ps.stdout);

      const ex = rune(['exec', '--env', 'GREETING=hi there', '--cwd', '/tmp', 'life', 'sh', '-c', 'echo "$GREETING" "$(pwd)" "$0"', 'an argument with spaces']);
      assert.equal(ex.code, 0, ex.stderr);
      assert.equal(ex.stdout, 'hi there /tmp an argument with spaces\n');
      assert.equal(rune(['exec', 'life', 'sh', '-c', 'exit 5']).code, 5);
      assert.equal(rune(['exec', '-u', '65534:65534', 'life', 'id', '-u']).stdout, '65534\n');
      const processFile = join(work, 'process.json');
      writeFileSync(processFile, JSON.stringify({ args: ['sh', '-c', 'echo from process.json'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } }));
      assert.equal(rune(['exec', '--process', processFile, 'life']).stdout, 'from process.json\n');
      const execPid = join(work, 'exec.pid');
      assert.equal(rune(['exec', '--detach', '--pid-file', execPid, 'life', 'sleep', '1']).code, 0);
      assert.ok(Number(readFileSync(execPid, 'utf8')) > 0);

      assert.equal(rune(['pause', 'life']).code, 0);
      assert.equal(status('life'), 'paused');
      assert.equal(rune(['resume', 'life']).code, 0);
      assert.equal(status('life'), 'running');

      assert.equal(rune(['kill', 'life', 'SIGTERM']).code, 0);
      await waitFor(() => status('life') === 'stopped');
      assert.equal(rune(['delete', 'life']).code, 0);
      assert.equal(existsSync(join(root, 'life')), false);
      assert.equal(rune(['list', '--format', 'json']).stdout, 'null\n');
    });

    test('kill --all with a signal number, then delete --force of a running container', async () => {
      const b = bundle(['sleep', '1000']);
      assert.equal(rune(['run', '--detach', '--bundle', b, 'forced']).code, 0);
      assert.equal(status('forced'), 'running');
      assert.equal(rune(['kill', '--all', 'forced', '9']).code, 0);
      await waitFor(() => status('forced') === 'stopped');
      const b2 = bundle(['sleep', '1000']);
      assert.equal(rune(['run', '-d', '--bundle', b2, 'forced2']).code, 0);
      assert.equal(rune(['delete', '--force', 'forced2']).code, 0);
      assert.equal(rune(['delete', 'forced']).code, 0);
      assert.deepEqual(readdirSync(root), []);
    });

    test('a terminal workload runs under rune run with a tty on stdin', () => {
      const b = bundle(['sh', '-c', 'test -t 0 && echo has-tty; exit 4'], { terminal: true });
      const res = spawnSync('script', ['-qec', `${RUNE} --root ${root} run --bundle ${b} tty1`, '/dev/null'], { encoding: 'utf8', env, timeout: 30_000 });
      assert.equal(res.status, 4, res.stdout + res.stderr);
      assert.match(res.stdout, /has-tty/);
    });

    test('--log with --log-format json receives runc-compatible lines, including the backend error', () => {
      const log = join(work, `log-${mode.split(' ')[0]}.json`);
      const b = bundle(['true']);
      assert.equal(rune(['--log', log, '--log-format', 'json', 'run', '--bundle', b, 'logged']).code, 0);
      const res = rune(['--log', log, '--log-format', 'json', 'start', 'nosuch']);
      assert.equal(res.code, 1);
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
      const last = lines.at(-1)!;
      assert.equal(last.level, 'error');
      assert.match(last.msg!, /"nosuch" does not exist/);
      assert.match(last.time!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });

    test("a backend's own error reaches the user and the log with its message intact", () => {
      const log = join(work, `backend-log-${mode.split(' ')[0]}.json`);
      const b = bundle(['true'], { edit: (c) => ((c.root = { path: '/nonexistent-rootfs', readonly: true }), undefined) });
      const res = rune(['--log', log, '--log-format', 'json', 'create', '--bundle', b, 'badroot']);
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /nonexistent-rootfs/);
      const last = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1)!) as { level: string; msg: string };
      assert.equal(last.level, 'error');
      assert.match(last.msg, /nonexistent-rootfs/);
      assert.equal(existsSync(join(root, 'badroot')), false, 'a failed create leaves nothing behind');
      assert.match(rune(['delete', 'badroot']).stderr, /does not exist/);
    });

    describe('bad input: a one-line error naming the problem, a JSON log line, non-zero exit, no state left', () => {
      const cases: { name: string; args: (b: string) => string[]; expect: RegExp; env?: NodeJS.ProcessEnv; setup?: () => void }[] = [
        { name: 'missing config.json', args: () => ['create', '--bundle', mkdtempSync(join(work, 'empty-')), 'bad1'], expect: /config\.json: it does not exist/ },
        {
          name: 'invalid config.json',
          args: () => {
            const dir = mkdtempSync(join(work, 'invalid-'));
            writeFileSync(join(dir, 'config.json'), '{"ociVersion": "1.0.2", "process": ');
            return ['create', '--bundle', dir, 'bad2'];
          },
          expect: /config\.json: it is not valid JSON/,
        },
        {
          name: 'config.json that is not an object',
          args: () => {
            const dir = mkdtempSync(join(work, 'array-'));
            writeFileSync(join(dir, 'config.json'), '[1, 2]');
            return ['create', '--bundle', dir, 'bad3'];
          },
          expect: /must hold a JSON object/,
        },
        { name: 'missing bundle', args: () => ['create', '--bundle', join(work, 'no-such-bundle'), 'bad4'], expect: /no-such-bundle: it does not exist/ },
        { name: 'unknown container id (start)', args: () => ['start', 'ghost'], expect: /"ghost" does not exist/ },
        { name: 'unknown container id (kill)', args: () => ['kill', 'ghost', 'KILL'], expect: /"ghost" does not exist/ },
        { name: 'unknown container id (state)', args: () => ['state', 'ghost'], expect: /"ghost" does not exist/ },
        { name: 'unknown container id (delete)', args: () => ['delete', 'ghost'], expect: /"ghost" does not exist/ },
        { name: 'missing backend (--backend)', args: (b) => ['--backend', '/nonexistent/runc', 'create', '--bundle', b, 'bad5'], expect: /\/nonexistent\/runc: it does not exist/ },
        {
          name: 'missing backend (RUNE_BACKEND)',
          args: (b) => ['create', '--bundle', b, 'bad6'],
          env: { RUNE_BACKEND: '/nonexistent/runc' },
          expect: /\/nonexistent\/runc: it does not exist/,
        },
        { name: 'an unknown flag', args: (b) => ['create', '--bundle', b, '--frobnicate', 'bad7'], expect: /unknown option '--frobnicate'/ },
        { name: 'an unknown command', args: () => ['frobnicate', 'bad8'], expect: /unknown command 'frobnicate'/ },
        { name: 'a missing container id', args: () => ['start'], expect: /missing required argument 'container-id'/ },
        { name: 'an invalid container id', args: (b) => ['create', '--bundle', b, '../escape'], expect: /Invalid container id "\.\.\/escape"/ },
        { name: 'an invalid signal', args: () => ['kill', 'dup', 'SIGFROB'], expect: /Invalid signal "SIGFROB"/ },
        { name: 'too many arguments', args: () => ['start', 'dup', 'extra'], expect: /too many arguments/ },
        { name: 'a duplicate id', args: (b) => ['create', '--bundle', b, 'dup'], expect: /"dup": a container with this id already exists/ },
      ];
      before(() => {
        const b = bundle(['sleep', '1000']);
        assert.equal(rune(['create', '--bundle', b, 'dup']).code, 0);
      });
      after(() => {
        rune(['delete', '--force', 'dup']);
      });
      for (const c of cases) {
        test(`rune rejects ${c.name}`, () => {
          const b = bundle(['true']);
          const before = readdirSync(root).sort();
          const log = join(work, `bad-${mode.split(' ')[0]}-${++n}.json`);
          const res = rune(['--log', log, '--log-format', 'json', ...c.args(b)], { env: { ...env, ...c.env } });
          assert.notEqual(res.code, 0);
          assert.equal(res.code, 1);
          const lines = res.stderr.trim().split('\n');
          assert.equal(lines.length, 1, `one line expected, got: ${res.stderr}`);
          assert.match(lines[0]!, c.expect);
          const logged = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
          assert.equal(logged.at(-1)!.level, 'error');
          assert.match(logged.at(-1)!.msg, c.expect);
          assert.deepEqual(readdirSync(root).sort(), before, 'no state is left behind');
          assert.equal(status('dup'), 'created', 'an existing container is untouched');
        });
      }
    });
  });
}
