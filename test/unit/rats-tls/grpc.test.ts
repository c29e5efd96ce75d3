/** A real gRPC service (grpc-js, a proto declared here) attested with the RATS-TLS credentials, on 127.0.0.1. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createNullAttester } from '../../../src/rats-tls/attesters/null.ts';
import { createLocalSimAttester } from '../../../src/rats-tls/attesters/sim-local.ts';
import { ratsTlsChannelCredentials, ratsTlsServerCredentials, type RatsTlsChannelCredentialsOptions } from '../../../src/rats-tls/grpc.ts';
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

  test('mutual: an attested client is served; a client without a certificate gets UNAUTHENTICATED', async () => {
    const port = await serve(await ratsTlsServerCredentials({ attester, mutual: true, verify: { evidence, expected: { tee: 'sim' } } }));
    const identity = await createRatsTlsIdentity({ attester });
    try {
      assert.deepEqual(await say(port, { identity, verify: { evidence } }), { text: 'ping' });
      assert.equal((await say(port, { verify: { evidence } })).code, grpc.status.UNAUTHENTICATED);
    } finally {
      identity.close();
    }
  });
});
