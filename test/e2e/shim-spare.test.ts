// containerd-shim-rune-v2's spare daemon (docs/shim.md "The spare daemon") on a containerd these tests start:
// a running shim starts a spare, the next `ctr run`'s start hands its shim to it (shim.pid is the spare's pid)
// and a new spare appears; the control socket is 0600 in a 0700 dir; two concurrent runs both work; `spare =
// false` starts none; a garbage request is refused and the launcher falls back; a spare of another build is
// never used; a spare whose containerd's socket is gone exits; nothing is left behind.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, utimesSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startContainerd, type Containerd } from '../support/containerd.ts';
import { describeRun, isAlive, listProcesses, makeOciImage, makeTempDir, removeNewCgroups, removeTempDir, repoRoot, requireTools, snapshotCgroups, waitFor, type CgroupSnapshot } from '../support/fixtures.ts';
import { SPARE_ARGV0, SPARE_DIR } from '../../src/shim/spare.ts';

const IMAGE = 'docker.io/inclavare/busybox:latest';
const NS = 'default';
const RUNTIME = 'io.containerd.rune.v2';
const DIST = path.join(repoRoot, 'dist');
const SCRIPT = path.join(DIST, 'containerd-shim-rune-v2.mjs');

void describe('containerd-shim-rune-v2: the spare daemon', { timeout: 300_000 }, () => {
  let tmp = '';
  let fifoDir = '';
  let configPath = '';
  let noSpareConfig = '';
  let containerd: Containerd | undefined;
  let cgroups: CgroupSnapshot | undefined;
  const extra: number[] = [];

  const cd = (): Containerd => {
    assert.ok(containerd, 'containerd did not start');
    return containerd;
  };
  const runArgs = (id: string, flags: readonly string[], cmd: readonly string[], config = configPath): string[] =>
    ['run', '--fifo-dir', fifoDir, '--runtime', RUNTIME, '--runtime-config-path', config, ...flags, IMAGE, id, ...cmd];
  /** Waiting spares of this containerd: pid and control socket (from its environment). */
  const spares = async (address = cd().address): Promise<{ pid: number; control: string }[]> =>
    (await listProcesses())
      .filter((p) => p.argv[0] === SPARE_ARGV0 && p.argv.includes(address) && isAlive(p.pid))
      .map((p) => {
        let control = '';
        try {
          control = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('RUNE_SHIM_SPARE='))?.slice('RUNE_SHIM_SPARE='.length) ?? '';
        } catch {
          // gone
        }
        return { pid: p.pid, control };
      });
  /** The inode of the socket listening at `control` (/proc/net/unix: Num RefCount Protocol Flags Type St Inode Path), if any. */
  const listeningInode = (control: string): string | undefined =>
    readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[7] === control && f[3] === '00010000')?.[6];
  /** True when process `pid` holds the socket `inode`. */
  const holdsSocket = (pid: number, inode: string): boolean => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  };
  /**
   * The spare that listens: the process holding the control socket. Not merely a spare whose control path
   * exists: a second spare may be starting (it leaves when it finds the socket taken), and signalling it
   * would leave the socket to the first.
   */
  const readySpare = async (): Promise<{ pid: number; control: string }> => {
    let found: { pid: number; control: string } | undefined;
    await waitFor('a spare to listen', async () => {
      found = (await spares()).find((s) => {
        const inode = s.control !== '' ? listeningInode(s.control) : undefined;
        return inode !== undefined && holdsSocket(s.pid, inode);
      });
      return found !== undefined;
    }, { timeoutMs: 20_000 });
    return found!;
  };
  const bundle = (id: string): string => path.join(tmp, 'containerd', 'state', 'io.containerd.runtime.v2.task', NS, id);
  const shimPid = async (id: string): Promise<number> => Number(await readFile(path.join(bundle(id), 'shim.pid'), 'utf8'));
  const stopDetached = async (id: string): Promise<void> => {
    await cd().ctrOk(['tasks', 'kill', '--signal', 'SIGKILL', id], { namespace: NS });
    await waitFor(`${id} to stop`, async () => /STOPPED/.test((await cd().ctrOk(['tasks', 'ls'], { namespace: NS })).stdout.split('\n').find((l) => l.startsWith(id)) ?? ''));
    await cd().ctrOk(['tasks', 'delete', id], { namespace: NS });
    await cd().ctrOk(['containers', 'delete', id], { namespace: NS });
  };

  before(async () => {
    await requireTools([
      { bin: 'containerd', pkg: 'containerd' },
      { bin: 'ctr', pkg: 'containerd' },
      { bin: 'umoci', pkg: 'umoci' },
    ]);
    assert.ok(existsSync(path.join(DIST, 'containerd-shim-rune-v2')), 'run npm run build first');
    cgroups = await snapshotCgroups();
    tmp = await makeTempDir('rune-e2e-shim-spare-');
    fifoDir = path.join(tmp, 'fifo');
    await mkdir(fifoDir);
    const root = `root = ${JSON.stringify(path.join(tmp, 'containerd', 'rune-root'))}\n`;
    configPath = path.join(tmp, 'shim.toml');
    await writeFile(configPath, root);
    noSpareConfig = path.join(tmp, 'shim-nospare.toml');
    await writeFile(noSpareConfig, `${root}spare = false\n`);
    containerd = await startContainerd(tmp, { runtimeBinary: path.join(DIST, 'rune'), shim: { dir: DIST, configPath } });
    await containerd.importImage(await makeOciImage(path.join(tmp, 'image'), { name: IMAGE, cmd: ['sh'] }), NS);
  });

  after(async () => {
    if (tmp === '') return;
    for (const pid of extra) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    const address = containerd?.address ?? '';
    await containerd?.stop();
    if (address !== '') {
      await waitFor('no spare left', async () => (await spares(address)).length === 0, { timeoutMs: 10_000 });
      const left = (await listProcesses()).filter((p) => p.argv.some((a) => a.includes(tmp)));
      assert.deepEqual(left.map((p) => p.argv.join(' ')), [], 'processes left behind');
    }
    if (cgroups) await removeNewCgroups(cgroups, [NS]);
    await removeTempDir(tmp);
  });

  void test('spare = false in the config: the shim starts no spare', async () => {
    const args = runArgs('sp-off', ['--rm'], ['sh', '-c', 'sleep 1.5; echo off'], noSpareConfig);
    const r = await cd().ctr(args, { namespace: NS, timeoutMs: 60_000 });
    assert.equal(r.code, 0, describeRun('ctr', args, r));
    assert.equal(r.stdout, 'off\n');
    assert.deepEqual(await spares(), []);
  });

  void test('two ctr run in a row: the second shim is the former spare, a new spare appears, output and exit codes right', async () => {
    const first = runArgs('sp-1', ['--rm'], ['sh', '-c', 'echo one; echo err >&2; exit 6']);
    const r1 = await cd().ctr(first, { namespace: NS, timeoutMs: 60_000 });
    assert.equal(r1.code, 6, describeRun('ctr', first, r1));
    assert.equal(r1.stdout, 'one\n');
    assert.equal(r1.stderr, 'err\n');
    const spare = await readySpare();
    // The control socket: 0600, in a 0700 directory of root's.
    const dir = lstatSync(SPARE_DIR);
    assert.equal(dir.mode & 0o777, 0o700);
    assert.equal(dir.uid, 0);
    const sock = lstatSync(spare.control);
    assert.ok(sock.isSocket());
    assert.equal(sock.mode & 0o777, 0o600);
    assert.equal(path.dirname(spare.control), SPARE_DIR);

    // It waits niced, and so does its session's autogroup (which the scheduler weighs against other sessions).
    const autogroup = (pid: number): string => (existsSync(`/proc/${pid}/autogroup`) ? readFileSync(`/proc/${pid}/autogroup`, 'utf8') : 'none');
    assert.match(autogroup(spare.pid), /nice 10|none/);
    // Its code compiled while it boots, not on the path of the start that takes it.
    assert.ok(readFileSync(`/proc/${spare.pid}/cmdline`, 'utf8').split('\0').includes('--no-lazy'), 'the spare runs without --no-lazy');
    await cd().ctrOk(runArgs('sp-2', ['-d'], ['sh', '-c', 'sleep 1000']), { namespace: NS, timeoutMs: 60_000 });
    assert.equal(await shimPid('sp-2'), spare.pid, 'the second shim is not the former spare');
    assert.equal(existsSync(spare.control), false, 'the spare kept its control socket after the handoff');
    const title = (await listProcesses()).find((p) => p.pid === spare.pid)?.argv ?? [];
    assert.deepEqual(title.slice(0, 5), ['containerd-shim-rune-v2', '-namespace', NS, '-id', 'sp-2'], title.join(' '));
    // It gave up the spare's nice value: every thread and its autogroup back at 0.
    assert.match(autogroup(spare.pid), /nice 0|none/);
    for (const tid of readdirSync(`/proc/${spare.pid}/task`)) {
      const st = readFileSync(`/proc/${spare.pid}/task/${tid}/stat`, 'utf8');
      assert.equal(st.slice(st.lastIndexOf(')') + 2).split(' ')[16], '0', `thread ${tid} still niced`);
    }
    const next = await readySpare();
    assert.notEqual(next.pid, spare.pid);
    // The handed-over shim serves exec, and ends as a shim does.
    const ex = await cd().ctr(['tasks', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e1', 'sp-2', 'sh', '-c', 'echo from exec; exit 4'], { namespace: NS });
    assert.equal(ex.code, 4, ex.stderr);
    assert.equal(ex.stdout, 'from exec\n');
    await stopDetached('sp-2');
    await waitFor('the handed-over shim to exit', () => !isAlive(spare.pid));

    // A --rm run by handoff: output, stderr, exit code.
    const s3 = await readySpare();
    const third = runArgs('sp-3', ['--rm'], ['sh', '-c', 'echo three; echo err3 >&2; exit 7']);
    const r3 = await cd().ctr(third, { namespace: NS, timeoutMs: 60_000 });
    assert.equal(r3.code, 7, describeRun('ctr', third, r3));
    assert.equal(r3.stdout, 'three\n');
    assert.equal(r3.stderr, 'err3\n');
    await waitFor('the spare that served sp-3 to exit', () => !isAlive(s3.pid));
  });

  void test('two concurrent ctr run: both work (one by handoff, one by the fallback)', async () => {
    const spare = await readySpare();
    const [a, b] = await Promise.all(['sp-c1', 'sp-c2'].map((id) => cd().ctr(runArgs(id, ['-d'], ['sh', '-c', 'sleep 1000']), { namespace: NS, timeoutMs: 60_000 })));
    assert.equal(a!.code, 0, a!.stderr);
    assert.equal(b!.code, 0, b!.stderr);
    const pids = [await shimPid('sp-c1'), await shimPid('sp-c2')];
    assert.equal(pids.filter((p) => p === spare.pid).length, 1, `shim pids ${pids.join(', ')}, spare ${spare.pid}`);
    assert.notEqual(pids[0], pids[1]);
    for (const id of ['sp-c1', 'sp-c2']) {
      const ex = await cd().ctr(['tasks', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e', id, 'echo', id], { namespace: NS });
      assert.equal(ex.stdout, `${id}\n`, ex.stderr);
      await stopDetached(id);
    }
  });

  void test('a garbage or oversized request: the spare refuses it, and start falls back to its own daemon', async () => {
    for (const garbage of [Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.concat([Buffer.from([0, 0, 0, 8]), Buffer.from('garbage\0')])]) {
      const spare = await readySpare();
      const reply = await new Promise<string>((resolve) => {
        const c = connect(spare.control);
        let out = '';
        c.on('data', (d) => (out += d.toString()));
        c.on('close', () => resolve(out));
        c.on('error', () => resolve(out));
        c.write(garbage);
      });
      assert.match(reply, /^error Bad handoff request: /, reply);
      await waitFor('the refusing spare to exit', () => !isAlive(spare.pid));
      assert.equal(existsSync(spare.control), false);
      // The next start finds no spare (or a new one): it works either way.
      const args = runArgs(`sp-g${garbage.length}`, ['--rm'], ['echo', 'fine']);
      const r = await cd().ctr(args, { namespace: NS, timeoutMs: 60_000 });
      assert.equal(r.code, 0, describeRun('ctr', args, r));
      assert.equal(r.stdout, 'fine\n');
    }
    // Something on the control socket that answers "error": the launcher starts its own daemon.
    const spare = await readySpare();
    process.kill(spare.pid, 'SIGTERM');
    await waitFor('the spare to exit on SIGTERM', () => !isAlive(spare.pid) && !existsSync(spare.control));
    const fake = createServer((c) => {
      c.on('error', () => undefined);
      c.once('data', () => c.end('error refused for the test\n'));
    });
    let asked = 0;
    fake.on('connection', () => asked++);
    await new Promise<void>((resolve) => fake.listen(spare.control, resolve));
    try {
      await cd().ctrOk(runArgs('sp-fake', ['-d'], ['sh', '-c', 'sleep 1000']), { namespace: NS, timeoutMs: 60_000 });
      assert.equal(asked, 1, 'the launcher did not ask the control socket');
      const pid = await shimPid('sp-fake');
      assert.ok(isAlive(pid));
      assert.notEqual(pid, spare.pid);
      await stopDetached('sp-fake');
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
    // Its spare found the control socket taken and left; the next shim starts one again.
    const r = await cd().ctr(runArgs('sp-after', ['--rm'], ['echo', 'after']), { namespace: NS, timeoutMs: 60_000 });
    assert.equal(r.stdout, 'after\n', r.stderr);
    await readySpare();
  });

  void test('a spare of another build (the .mjs changed) is never used', async () => {
    const old = await readySpare();
    const st = statSync(SCRIPT);
    utimesSync(SCRIPT, st.atime, new Date(st.mtimeMs + 2000));
    try {
      await cd().ctrOk(runArgs('sp-stale', ['-d'], ['sh', '-c', 'sleep 1000']), { namespace: NS, timeoutMs: 60_000 });
      const pid = await shimPid('sp-stale');
      assert.notEqual(pid, old.pid, 'a spare of the older build took the shim');
      assert.ok(isAlive(old.pid) && existsSync(old.control), 'the stale spare should still wait, unused');
      const fresh = await readySpare().then(async () => (await spares()).filter((s) => s.control !== old.control));
      assert.equal(fresh.length, 1, 'no spare for the new build');
      await stopDetached('sp-stale');
    } finally {
      utimesSync(SCRIPT, st.atime, st.mtime);
    }
    process.kill(old.pid, 'SIGTERM');
    await waitFor('the stale spare to exit', () => !isAlive(old.pid) && !existsSync(old.control));
  });

  void test('a spare whose containerd socket is gone exits and removes its control socket; so does an idle one', async () => {
    for (const mode of ['address-gone', 'idle'] as const) {
      const address = path.join(tmp, `fake-${mode}.sock`);
      await writeFile(address, '');
      const control = path.join(SPARE_DIR, `spare-${createHash('sha256').update(randomBytes(16)).digest('hex')}.sock`);
      const child = spawn(process.execPath, [SCRIPT, 'spare', '-address', address], {
        argv0: SPARE_ARGV0,
        stdio: 'ignore',
        env: { ...process.env, RUNE_SHIM_SPARE: control, ...(mode === 'idle' ? { RUNE_SHIM_SPARE_IDLE_MS: '1500' } : {}) },
      });
      extra.push(child.pid!);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await waitFor('the spare to listen', () => existsSync(control), { timeoutMs: 20_000 });
      if (mode === 'address-gone') await rm(address);
      const t0 = Date.now();
      assert.equal(await exited, 0);
      assert.ok(Date.now() - t0 < 8000);
      assert.equal(existsSync(control), false, `${mode}: control socket left`);
    }
  });
});
