/**
 * issue #12 item 4 - the relay on an attestation socket (docs/attestation-socket.md "Relay"): `CONNECT` to the
 * verdictd address rune registered tunnels bytes both ways; any other address, a container without secrets and
 * an address that does not answer get the documented errors; the relay address survives a daemon restart.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { registerContainer } from '../../../src/attestation-socket/client.ts';
import { parseRegisterRequest } from '../../../src/attestation-socket/requests.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { startDaemon, type Daemon } from '../../../src/inclavared/daemon.ts';
import { tempDir } from './support.ts';

const measurement = createHash('sha384').update('relay').digest();

/** CONNECT through `socketPath` to `target`: the tunnel, or the refusal's status and JSON body. */
function connectThrough(socketPath: string, target: string): Promise<{ status: number; socket: Socket; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'CONNECT', path: target });
    req.once('error', reject);
    req.once('connect', (res, socket, head) => {
      if (res.statusCode === 200) {
        resolve({ status: 200, socket, body: '' });
        return;
      }
      let body = head.toString();
      socket.on('data', (c: Buffer) => (body += c.toString()));
      socket.once('close', () => resolve({ status: res.statusCode ?? 0, socket, body }));
    });
    req.end();
  });
}

describe('inclavared relay', () => {
  let work: string;
  let root: string;
  let daemon: Daemon;
  let echo: Server;
  let echoAddress: string;

  before(async () => {
    work = tempDir();
    root = join(work, 'r');
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoAddress = `127.0.0.1:${(echo.address() as { port: number }).port}`;
    daemon = await startDaemon({ root, dataDir: join(work, 'data') });
  });
  after(async () => {
    await daemon.close();
    echo.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('CONNECT to the registered address tunnels bytes both ways', async () => {
    const { socket } = await registerContainer(root, { id: 'with-relay', measurement, tee: 'sim', relay: echoAddress });
    const tunnel = await connectThrough(socket, echoAddress);
    assert.equal(tunnel.status, 200);
    const payload = Buffer.from('ciphertext, as far as the host can tell');
    const back = new Promise<Buffer>((resolve) => tunnel.socket.once('data', resolve));
    tunnel.socket.write(payload);
    assert.deepEqual(await back, payload);
    tunnel.socket.destroy();
  });

  test('CONNECT to any other address is 403 INCLAVARED_ERR_RELAY_FORBIDDEN, naming the allowed one', async () => {
    const socket = join(root, 'containers', 'with-relay', 'attest.sock');
    for (const target of ['127.0.0.1:22', 'localhost:' + echoAddress.split(':')[1], 'example.com:443', '']) {
      const r = await connectThrough(socket, target);
      assert.equal(r.status, 403, target);
      const error = (JSON.parse(r.body) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'INCLAVARED_ERR_RELAY_FORBIDDEN');
      assert.match(error.message, new RegExp(`goes to ${echoAddress} only`));
    }
  });

  test('a container registered without secrets has no relay: 404 INCLAVARED_ERR_NO_RELAY', async () => {
    const { socket } = await registerContainer(root, { id: 'no-relay', measurement, tee: 'sim' });
    const r = await connectThrough(socket, echoAddress);
    assert.equal(r.status, 404);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'INCLAVARED_ERR_NO_RELAY');
  });

  test('an address that does not answer is 503 INCLAVARED_ERR_RELAY_UNREACHABLE, naming it', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { socket } = await registerContainer(root, { id: 'unreachable', measurement, tee: 'sim', relay: address });
    const r = await connectThrough(socket, address);
    assert.equal(r.status, 503);
    const error = (JSON.parse(r.body) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'INCLAVARED_ERR_RELAY_UNREACHABLE');
    assert.match(error.message, new RegExp(`Cannot reach verdictd at ${address}: .*ECONNREFUSED`));
  });

  test('the relay address is kept in the registry and serves again after a restart', async () => {
    const stored = JSON.parse(readFileSync(join(root, 'containers.json'), 'utf8')) as { containers: { id: string; relay?: string }[] };
    assert.equal(stored.containers.find((c) => c.id === 'with-relay')?.relay, echoAddress);
    assert.equal(stored.containers.find((c) => c.id === 'no-relay')?.relay, undefined);
    await daemon.close();
    daemon = await startDaemon({ root, dataDir: join(work, 'data') });
    const tunnel = await connectThrough(join(root, 'containers', 'with-relay', 'attest.sock'), echoAddress);
    assert.equal(tunnel.status, 200);
    tunnel.socket.destroy();
  });

  test('a registration with a relay that is no HOST:PORT is refused', () => {
    const body = (relay: unknown): Uint8Array => Buffer.from(JSON.stringify({ id: 'x', measurement: measurement.toString('hex'), tee: 'sim', relay }));
    assert.equal(parseRegisterRequest(body('[::1]:1234')).relay, '[::1]:1234');
    assert.equal(parseRegisterRequest(body('verdictd.example:1234')).relay, 'verdictd.example:1234');
    for (const bad of ['127.0.0.1', '127.0.0.1:99999', 'a b:1', '/tmp/sock', 5]) {
      assert.throws(() => parseRegisterRequest(body(bad)), (err: unknown) => isInclavareError(err, 'INCLAVARED_ERR_BAD_REQUEST'), String(bad));
    }
  });
});
