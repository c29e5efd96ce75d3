// containerd-shim-rune-v2 under bad input, driven directly as containerd would (no containerd here): `start`
// with bad runtime options, a bad config or no bundle fails with a clear message and leaves no socket or
// daemon; a running shim answers bad ttrpc requests (missing bundle, bad options, bad ids, malformed and
// oversize frames, Checkpoint) with error statuses, keeps serving, leaks no file descriptor, and removes its
// socket on Shutdown.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { isAlive, makeTempDir, removeTempDir, repoRoot, run, waitFor } from '../support/fixtures.ts';
import { shimSocketPath } from '../../src/shim/manager.ts';
import { TtrpcClient, TtrpcStatusError } from '../../src/shim/ttrpc/client.ts';
import { FRAME_REQUEST, HEADER_LENGTH, MAX_PAYLOAD, encodeFrame } from '../../src/shim/ttrpc/framing.ts';
import { decodeMessage, encodeMessage } from '../../src/shim/ttrpc/messages.ts';

const SHIM = path.join(repoRoot, 'dist', 'containerd-shim-rune-v2');
const TASK = 'containerd.task.v2.Task';

void describe('containerd-shim-rune-v2 under bad input', { timeout: 120_000 }, () => {
  let tmp = '';
  let address = '';
  let bundle = '';
  let daemonPid = 0;
  let client: TtrpcClient | undefined;

  const shimArgs = (id: string, action: string): string[] => ['-namespace', 'bad-input', '-address', address, '-publish-binary', '', '-id', id, action];
  const optionsAny = (configPath: string, typeUrl = 'runtimeoptions.v1.Options'): Buffer =>
    Buffer.from(encodeMessage('Any', { typeUrl, value: encodeMessage('RuntimeOptions', { configPath }) }));
  const call = (method: string, msg: Parameters<typeof encodeMessage>[0], value: Record<string, unknown>): Promise<Uint8Array> => {
    assert.ok(client);
    return client.call(TASK, method, encodeMessage(msg, value));
  };
  const status = async (p: Promise<unknown>): Promise<{ code: number; message: string }> => {
    try {
      await p;
    } catch (e) {
      if (e instanceof TtrpcStatusError) return { code: e.status, message: e.message };
      throw e;
    }
    throw new Error('the call succeeded');
  };
  const fdCount = (): number => readdirSync(`/proc/${daemonPid}/fd`).length;

  before(async () => {
    assert.ok(existsSync(SHIM), 'run npm run build first');
    tmp = await makeTempDir('rune-shim-bad-');
    address = path.join(tmp, 'containerd.sock'); // only hashed into the socket name: nothing listens there
    bundle = path.join(tmp, 'bundle');
    await mkdir(bundle);
    await writeFile(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'] } }));
    await writeFile(path.join(tmp, 'shim.toml'), `root = ${JSON.stringify(path.join(tmp, 'root'))}\n`);
  });

  after(async () => {
    client?.close();
    if (daemonPid > 0 && isAlive(daemonPid)) process.kill(daemonPid, 'SIGKILL');
    if (address !== '') await rm(shimSocketPath(address, 'bad-input', 'pod1'), { force: true });
    if (tmp !== '') await removeTempDir(tmp);
  });

  for (const impl of ['launcher (C)', 'Node.js'] as const) void test(`start (${impl}) refuses options that are no Any, runc's options, a missing or relative config, and a dir without config.json`, async () => {
    const env = impl === 'Node.js' ? { ...process.env, RUNE_SHIM_NODE_ONLY: '1' } : process.env;
    const cases: [string, Buffer, string, RegExp][] = [
      ['garbage', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), bundle, /not a protobuf Any/],
      ['runc options', optionsAny('', 'containerd.runc.v1.Options'), bundle, /takes runtimeoptions\.v1\.Options.*ConfigPath/],
      ['missing config', optionsAny(path.join(tmp, 'nope.toml')), bundle, /Invalid shim config .*nope\.toml: it cannot be read/],
      ['relative config', optionsAny('rel.toml'), bundle, /must be absolute/],
      ['no bundle', optionsAny(path.join(tmp, 'shim.toml')), tmp, /Cannot read the bundle's config\.json/],
    ];
    for (const [name, input, cwd, re] of cases) {
      const r = await run(SHIM, shimArgs('pod0', 'start'), { input, cwd, env });
      assert.notEqual(r.code, 0, name);
      assert.match(r.stderr, re, name);
      assert.equal(r.stdout, '', name);
      assert.equal(existsSync(shimSocketPath(address, 'bad-input', 'pod0')), false, `${name}: a socket was left`);
    }
    const usage = await run(SHIM, ['-namespace', 'x', 'start'], { cwd: bundle, env });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Missing -id/);
  });

  void test('a config that does not load: start succeeds (it reads no TOML), every Create fails naming the problem, Shutdown ends that shim', async () => {
    await writeFile(path.join(tmp, 'bad.toml'), 'log_level = "chatty"\n');
    const r = await run(SHIM, shimArgs('podbad', 'start'), { input: optionsAny(path.join(tmp, 'bad.toml')), cwd: bundle });
    assert.equal(r.code, 0, r.stderr);
    const pid = Number(await readFile(path.join(bundle, 'shim.pid'), 'utf8'));
    const c = new TtrpcClient(r.stdout.replace('unix://', ''));
    try {
      const res = await status(c.call(TASK, 'Create', encodeMessage('CreateTaskRequest', { id: 'c1', bundle })));
      assert.equal(res.code, 3);
      assert.match(res.message, /Invalid shim config .*bad\.toml: log_level must be one of/);
      await c.call(TASK, 'Shutdown', encodeMessage('ShutdownRequest', { id: 'podbad' }));
    } finally {
      c.close();
    }
    await waitFor('that shim to exit', () => !isAlive(pid));
    assert.equal(existsSync(shimSocketPath(address, 'bad-input', 'podbad')), false);
  });

  void test('start with good options prints the socket address; a second start of the pod reuses it', async () => {
    const r = await run(SHIM, shimArgs('pod1', 'start'), { input: optionsAny(path.join(tmp, 'shim.toml')), cwd: bundle });
    assert.equal(r.code, 0, r.stderr);
    const socket = shimSocketPath(address, 'bad-input', 'pod1');
    assert.equal(r.stdout, `unix://${socket}`);
    daemonPid = Number(await readFile(path.join(bundle, 'shim.pid'), 'utf8'));
    assert.ok(isAlive(daemonPid));
    const again = await run(SHIM, shimArgs('pod1', 'start'), { cwd: bundle });
    assert.equal(again.stdout, r.stdout);
    client = new TtrpcClient(socket);
    const connected = decodeMessage<{ shimPid: number }>('ConnectResponse', await call('Connect', 'ConnectRequest', { id: 'pod1' }));
    assert.equal(connected.shimPid, daemonPid);
  });

  void test('bad requests get error statuses; the shim keeps serving and leaks no descriptor', async () => {
    assert.ok(client && daemonPid > 0);
    const fds = fdCount();
    const missing = await status(call('Create', 'CreateTaskRequest', { id: 'c1', bundle: path.join(tmp, 'missing') }));
    assert.equal(missing.code, 3);
    assert.match(missing.message, /has no config\.json/);
    const badOptions = await status(call('Create', 'CreateTaskRequest', { id: 'c1', bundle, options: { typeUrl: 'containerd.runc.v1.Options', value: new Uint8Array([1, 2]) } }));
    assert.equal(badOptions.code, 3);
    assert.match(badOptions.message, /runtimeoptions\.v1\.Options/);
    const badId = await status(call('Create', 'CreateTaskRequest', { id: '../escape', bundle }));
    assert.equal(badId.code, 3);
    const notFound = await status(call('State', 'StateRequest', { id: 'nobody' }));
    assert.equal(notFound.code, 5);
    const checkpoint = await status(call('Checkpoint', 'CheckpointTaskRequest', { id: 'c1' }));
    assert.equal(checkpoint.code, 12);
    const malformed = await status(client.call(TASK, 'Create', new Uint8Array([0x0a, 0x80])));
    assert.equal(malformed.code, 3);
    assert.match(malformed.message, /Cannot decode Create's request/);
    // A raw connection: an oversize frame, then a request frame with garbage, then a good Connect.
    const raw = connect(shimSocketPath(address, 'bad-input', 'pod1'));
    const got: Buffer[] = [];
    raw.on('data', (d: Buffer) => got.push(d));
    await new Promise((r) => raw.once('connect', r));
    const head = Buffer.alloc(HEADER_LENGTH);
    head.writeUInt32BE(MAX_PAYLOAD + 1, 0);
    head.writeUInt32BE(1, 4);
    head.writeUInt8(FRAME_REQUEST, 8);
    raw.write(Buffer.concat([head, Buffer.alloc(MAX_PAYLOAD + 1)]));
    raw.write(encodeFrame(3, FRAME_REQUEST, Buffer.from('not a request')));
    raw.write(encodeFrame(5, FRAME_REQUEST, encodeMessage('Request', { service: TASK, method: 'Connect', payload: encodeMessage('ConnectRequest', { id: 'pod1' }) })));
    await waitFor('three answers', () => Buffer.concat(got).length > 30 && Buffer.concat(got).includes(Buffer.from([0, 0, 0, 5, 2])));
    const answers = Buffer.concat(got);
    const ids: number[] = [];
    const codes: number[] = [];
    for (let i = 0; i + HEADER_LENGTH <= answers.length;) {
      const len = answers.readUInt32BE(i);
      ids.push(answers.readUInt32BE(i + 4));
      const res = decodeMessage<{ status?: { code: number } }>('Response', answers.subarray(i + HEADER_LENGTH, i + HEADER_LENGTH + len));
      codes.push(res.status?.code ?? 0);
      i += HEADER_LENGTH + len;
    }
    assert.deepEqual(ids, [1, 3, 5]);
    assert.deepEqual(codes, [8, 3, 0]);
    raw.destroy();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(fdCount(), fds, 'the shim leaked file descriptors');
    assert.ok(isAlive(daemonPid));
  });

  void test('Shutdown with no container ends the daemon and removes its socket', async () => {
    assert.ok(client);
    await call('Shutdown', 'ShutdownRequest', { id: 'pod1' });
    await waitFor('the daemon to exit', () => !isAlive(daemonPid));
    assert.equal(existsSync(shimSocketPath(address, 'bad-input', 'pod1')), false);
  });
});
