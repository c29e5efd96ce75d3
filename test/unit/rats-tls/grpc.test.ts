/** A real gRPC service (grpc-js, a proto declared here) attested with the RATS-TLS credentials, on 127.0.0.1. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import tls from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createNullAttester } from '../../../src/rats-tls/attesters/null.ts';
import { createLocalSimAttester } from '../../../src/rats-tls/attesters/sim-local.ts';
import { bindRatsTls, ratsTlsChannelCredentials, ratsTlsPeerOf, ratsTlsServerCredentials, type RatsTlsChannelCredentialsOptions, type RatsTlsGrpcBinding } from '../../../src/rats-tls/grpc.ts';
import { createRatsTlsIdentity } from '../../../src/rats-tls/identity.ts';
import { PLATFORM } from './forge.ts';

const PROTO = `syntax = "proto3";
package inclavare.test;
service Echo { rpc Say (Text) returns (Text); }
message Text { string text = 1; }
`;
const MEASUREMENT = new Uint8Array(48).fill(0x5a);
const MEASUREMENT_HEX = Buffer.from(MEASUREMENT).toString('hex');
const attester = createLocalSimAttester({ platformKey: PLATFORM.privateKey, measurement: MEASUREMENT });
const evidence = { simPlatformKeys: [PLATFORM.publicKey] };

type EchoClient = grpc.Client & { Say(req: { text: string }, cb: (err: grpc.ServiceError | null, res?: { text: string }) => void): void };
let Echo: grpc.ServiceClientConstructor;
const servers: grpc.Server[] = [];
const bindings: RatsTlsGrpcBinding[] = [];
/** Measurements of the clients the mutual service's handler saw. */
const seen: string[] = [];
const clients: grpc.Client[] = [];
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'incl-grpc-'));
  writeFileSync(join(dir, 'echo.proto'), PROTO);
  const pkg = grpc.loadPackageDefinition(loadSync(join(dir, 'echo.proto'))) as unknown as { inclavare: { test: { Echo: grpc.ServiceClientConstructor } } };
  Echo = pkg.inclavare.test.Echo;
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(bindings.map((b) => b.close()));
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.tryShutdown(() => resolve()))));
  rmSync(dir, { recursive: true, force: true });
});

/** The service, unchanged: only its credentials are RATS-TLS. */
async function serve(credentials: grpc.ServerCredentials): Promise<number> {
  const server = new grpc.Server();
  servers.push(server);
  server.addService(Echo.service, { Say: (call: grpc.ServerUnaryCall<{ text: string }, { text: string }>, cb: grpc.sendUnaryData<{ text: string }>) => cb(null, { text: call.request.text }) });
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, port) => (err ? reject(err) : resolve(port))));
}

function say(port: number, options: RatsTlsChannelCredentialsOptions): Promise<{ text?: string; code?: number; details?: string }> {
  const client = new Echo(`127.0.0.1:${port}`, ratsTlsChannelCredentials(options)) as unknown as EchoClient;
  clients.push(client);
  return new Promise((resolve) => {
    client.Say({ text: 'ping' }, (err, res) => resolve(err ? { code: err.code, details: err.details } : { text: res!.text }));
  });
}

void describe('RATS-TLS gRPC credentials', () => {
  test('a call succeeds when the server measurement matches the expectation', async () => {
    const port = await serve(await ratsTlsServerCredentials({ attester }));
    assert.deepEqual(await say(port, { verify: { evidence, expected: { tee: 'sim', measurements: { measurement: MEASUREMENT_HEX } } } }), { text: 'ping' });
  });

  test('a call fails with UNAVAILABLE when the measurement does not match', async () => {
    const port = await serve(await ratsTlsServerCredentials({ attester }));
    const r = await say(port, { verify: { evidence, expected: { measurements: { measurement: '00'.repeat(48) } } } });
    assert.equal(r.code, grpc.status.UNAVAILABLE);
  });

  test('a call fails with UNAVAILABLE when the server is unattested, and succeeds with allowUnattested', async () => {
    const port = await serve(await ratsTlsServerCredentials({ attester: createNullAttester() }));
    assert.equal((await say(port, { verify: { evidence } })).code, grpc.status.UNAVAILABLE);
    assert.deepEqual(await say(port, { verify: { evidence, allowUnattested: true } }), { text: 'ping' });
  });

  test('server credentials refuse mutual mode, naming bindRatsTls()', async () => {
    await assert.rejects(ratsTlsServerCredentials({ attester, mutual: true }), (err: Error) => /bindRatsTls/.test(err.message));
  });

  test('mutual (bindRatsTls): an attested client is served and its claims reach the handler', async () => {
    const { port } = await serveMutual();
    const identity = await createRatsTlsIdentity({ attester });
    try {
      assert.deepEqual(await say(port, { identity, verify: { evidence } }), { text: 'ping' });
      assert.deepEqual(seen, [MEASUREMENT_HEX]);
    } finally {
      identity.close();
    }
  });

  test('mutual: a client without a certificate fails the TLS handshake (alert 116), no handler runs', async () => {
    seen.length = 0;
    const { port } = await serveMutual();
    assert.equal((await say(port, { verify: { evidence } })).code, grpc.status.UNAVAILABLE);
    const raw = await rawExchange(port, undefined);
    assert.match(raw.error ?? '', /certificate required|alert number 116/i);
    assert.equal(raw.received, 0);
    assert.deepEqual(seen, []);
  });

  test('mutual: a client whose evidence does not verify is closed before any HTTP/2 byte is exchanged', async () => {
    seen.length = 0;
    const { port } = await serveMutual();
    // Same measurement, but signed by a platform key the server does not trust.
    const stranger = createLocalSimAttester({ platformKey: generateKeyPairSync('ed25519').privateKey, measurement: MEASUREMENT });
    const identity = await createRatsTlsIdentity({ attester: stranger });
    try {
      assert.equal((await say(port, { identity, verify: { evidence } })).code, grpc.status.UNAVAILABLE);
      // The HTTP/2 server answers a connection with its SETTINGS frame at once: here the client gets nothing.
      const raw = await rawExchange(port, identity);
      assert.equal(raw.received, 0);
      assert.deepEqual(seen, []);
    } finally {
      identity.close();
    }
  });
});

/** A mutual service bound with bindRatsTls(); its handler records the verified client's measurement. */
async function serveMutual(): Promise<RatsTlsGrpcBinding> {
  const server = new grpc.Server();
  servers.push(server);
  server.addService(Echo.service, {
    Say: (call: grpc.ServerUnaryCall<{ text: string }, { text: string }>, cb: grpc.sendUnaryData<{ text: string }>) => {
      const measurement = ratsTlsPeerOf(call)?.claims?.measurements?.measurement;
      seen.push(typeof measurement === 'string' ? measurement : '?');
      cb(null, { text: call.request.text });
    },
  });
  const binding = await bindRatsTls(server, { port: 0 }, { attester, mutual: true, verify: { evidence, expected: { tee: 'sim' } } });
  bindings.push(binding);
  return binding;
}

/** A raw TLS client (no verification of the server) that sends the HTTP/2 preface and counts what comes back. */
function rawExchange(port: number, identity: Awaited<ReturnType<typeof createRatsTlsIdentity>> | undefined): Promise<{ received: number; error?: string }> {
  return new Promise((resolve) => {
    let received = 0;
    let error: string | undefined;
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'], ...(identity ? identity.current() : {}) }, () => {
      socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    });
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('error', (err) => (error = err.message));
    socket.on('close', () => resolve(error === undefined ? { received } : { received, error }));
    setTimeout(() => socket.destroy(), 3000).unref();
  });
}
