// The C launcher's side of the spare daemon (docs/shim.md "The spare daemon"), without containerd: `start`
// names the control socket from containerd's address and the identity of the .mjs and of itself, sends the
// documented request to whatever listens there, falls back to its own daemon on "error" (passing the name in
// $RUNE_SHIM_SPARE), takes "ok <pid>" (writing shim.pid), ignores a control socket a non-0700 directory
// holds, and with $RUNE_SHIM_NO_SPARE neither asks nor names one.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, statSync, type BigIntStats } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { isAlive, makeTempDir, removeTempDir, repoRoot, run, waitFor } from '../support/fixtures.ts';
import { shimSocketPath } from '../../src/shim/manager.ts';
import { SPARE_DIR, SPARE_MAGIC } from '../../src/shim/spare.ts';

const SHIM = path.join(repoRoot, 'dist', 'containerd-shim-rune-v2');
const SCRIPT = path.join(repoRoot, 'dist', 'containerd-shim-rune-v2.mjs');

function ident(p: string): string {
  const st = statSync(p, { bigint: true }) as BigIntStats;
  return `${st.dev}:${st.ino}:${st.mtimeMs / 1000n}.${String(st.mtimeNs % 1_000_000_000n).padStart(9, '0')}`;
}

/** The control socket the launcher names for `address` (the hash documented in docs/shim.md). */
function controlPath(address: string): string {
  const key = `${address}\n${SCRIPT}\n${ident(SCRIPT)}\n${ident(SHIM)}`;
  return path.join(SPARE_DIR, `spare-${createHash('sha256').update(key).digest('hex')}.sock`);
}

void describe('containerd-shim-rune-v2 launcher: handing start to a spare', { timeout: 120_000 }, () => {
  let tmp = '';
  let address = '';
  let bundle = '';
  let control = '';
  let fake: Server | undefined;
  const requests: Buffer[] = [];
  let answer = 'error refused by the test\n';
  const pids: number[] = [];
  const args = (id: string): string[] => ['-namespace', 'spare-launcher', '-address', address, '-publish-binary', '/usr/bin/containerd', '-id', id, 'start'];

  before(async () => {
    assert.ok(existsSync(SHIM), 'run npm run build first');
    tmp = await makeTempDir('rune-shim-spare-launcher-');
    address = path.join(tmp, 'containerd.sock'); // hashed only; no spare is started by daemons for it (it does not exist)
    bundle = path.join(tmp, 'bundle');
    await mkdir(bundle);
    await writeFile(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'] } }));
    await mkdir(SPARE_DIR, { recursive: true, mode: 0o700 });
    control = controlPath(address);
    fake = createServer((c) => {
      const chunks: Buffer[] = [];
      c.on('error', () => undefined);
      c.on('data', (d: Buffer) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        if (all.length >= 4 && all.length === all.readUInt32BE(0) + 4) {
          requests.push(all);
          c.end(answer);
        }
      });
    });
    await new Promise<void>((resolve) => fake!.listen(control, resolve));
    chmodSync(control, 0o600);
  });

  after(async () => {
    await new Promise((resolve) => (fake ? fake.close(resolve) : resolve(undefined)));
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    for (const id of ['s1', 's2', 's3', 's4']) await rm(shimSocketPath(address, 'spare-launcher', id), { force: true });
    chmodSync(SPARE_DIR, 0o700);
    if (tmp !== '') await removeTempDir(tmp);
  });

  const daemonOf = async (): Promise<number> => {
    const pid = Number(await readFile(path.join(bundle, 'shim.pid'), 'utf8'));
    pids.push(pid);
    return pid;
  };

  void test('start sends the documented request; on "error" it starts its own daemon, which knows the control socket', async () => {
    const r = await run(SHIM, args('s1'), { cwd: bundle, env: { ...process.env, MARKER: 'x=y' } });
    assert.equal(r.code, 0, r.stderr);
    const socket = shimSocketPath(address, 'spare-launcher', 's1');
    assert.equal(r.stdout, `unix://${socket}`);
    assert.equal(requests.length, 1, 'the launcher did not ask the spare');
    const fields = requests[0]!.subarray(4).toString('utf8').split('\0');
    assert.equal(fields.pop(), '');
    assert.deepEqual(fields.slice(0, 9), [SPARE_MAGIC, socket, 'spare-launcher', 's1', address, '/usr/bin/containerd', '0', '', bundle]);
    assert.ok(fields.includes('MARKER=x=y'), 'the environment was not passed');
    assert.ok(fields.includes(`RUNE_SHIM_SPARE=${control}`));
    const pid = await daemonOf();
    await waitFor('the daemon to listen', () => existsSync(socket));
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(env.includes(`RUNE_SHIM_SPARE=${control}`), 'the daemon was not told the control socket');
  });

  void test('"ok <pid>": start trusts the spare, writes its pid to shim.pid and prints the address', async () => {
    answer = `ok ${process.pid}\n`;
    try {
      const r = await run(SHIM, args('s2'), { cwd: bundle });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `unix://${shimSocketPath(address, 'spare-launcher', 's2')}`);
      assert.equal(await readFile(path.join(bundle, 'shim.pid'), 'utf8'), String(process.pid));
      assert.equal(requests.length, 2);
    } finally {
      answer = 'error refused by the test\n';
    }
  });

  void test('a control socket in a directory others can enter is not used', async () => {
    chmodSync(SPARE_DIR, 0o755);
    try {
      const r = await run(SHIM, args('s3'), { cwd: bundle });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(requests.length, 2, 'the launcher asked a spare in a 0755 directory');
      await daemonOf();
    } finally {
      chmodSync(SPARE_DIR, 0o700);
    }
  });

  void test('RUNE_SHIM_NO_SPARE: start asks no spare and its daemon gets no control socket', async () => {
    const r = await run(SHIM, args('s4'), { cwd: bundle, env: { ...process.env, RUNE_SHIM_NO_SPARE: '1' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(requests.length, 2, 'the launcher asked the spare');
    const pid = await daemonOf();
    assert.ok(!readFileSync(`/proc/${pid}/environ`, 'utf8').includes('RUNE_SHIM_SPARE='));
  });
});
