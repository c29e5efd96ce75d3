/**
 * Both sockets parse untrusted bytes: random methods, paths and bodies never crash the daemon and never
 * get a 5xx; every error answer is the documented JSON error.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { registerContainer, requestEvidence, getPlatformCert } from '../../../src/attestation-socket/client.ts';
import { startDaemon, type Daemon } from '../../../src/inclavared/daemon.ts';
import { errorOf, httpRequest, tempDir } from './support.ts';

let work: string;
let daemon: Daemon;
let attestSocket: string;

before(async () => {
  work = tempDir();
  daemon = await startDaemon({ root: join(work, 'r'), dataDir: join(work, 'd') });
  attestSocket = (await registerContainer(daemon.paths.root, { id: 'fuzz', measurement: createHash('sha384').update('f').digest(), tee: 'sim' })).socket;
});
after(async () => {
  await daemon.close();
  rmSync(work, { recursive: true, force: true });
});

const method = fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS');
const path = fc.oneof(
  fc.constantFrom('/v1/evidence', '/v1/tee', '/v1/containers', '/v1/platform-cert', '/v1/containers/fuzz', '/v1/containers/%2e%2e', '/'),
  fc.webPath().filter((p) => p.startsWith('/')),
  fc.constantFrom('/v1/containers/').chain((p) => fc.string({ unit: fc.constantFrom(...'ab.-_+%/') }).map((s) => p + s)),
);
const body = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 600 }),
  fc.json().map((j) => Buffer.from(j)),
  fc.record(
    { id: fc.oneof(fc.string(), fc.constantFrom('fuzz', '..', 'ok-1')), measurement: fc.oneof(fc.string(), fc.constant('ab'.repeat(48))), tee: fc.constantFrom('sim', 'tdx', 'x'), reportData: fc.string() },
    { requiredKeys: [] },
  ).map((o) => Buffer.from(JSON.stringify(o))),
);

for (const which of ['attestation', 'control'] as const) {
  test(`random requests on the ${which} socket get a 2xx or a 4xx JSON error, never a 5xx`, async () => {
    const socket = which === 'attestation' ? attestSocket : daemon.paths.controlSocket;
    await fc.assert(
      fc.asyncProperty(method, path, body, async (m, p, b) => {
        const res = await httpRequest(socket, m, p, b);
        assert.ok(res.status < 500, `${m} ${p} -> ${res.status} ${res.body}`);
        if (res.status >= 400) errorOf(res);
        if (which === 'control' && m === 'POST' && res.status === 201) {
          // a random registration that happened to be valid: undo it so later runs stay independent
          const id = (JSON.parse(Buffer.from(b ?? []).toString()) as { id: string }).id;
          await httpRequest(socket, 'DELETE', `/v1/containers/${id}`);
        }
      }),
      { numRuns: 150 },
    );
  });
}

test('random bytes on a raw connection never take the daemon down', async () => {
  // The control fuzz above may have deleted the first container (DELETE /v1/containers/fuzz is a valid request).
  const rawSocket = (await registerContainer(daemon.paths.root, { id: 'raw', measurement: createHash('sha384').update('r').digest(), tee: 'sim' })).socket;
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 400 }), async (bytes) => {
      await new Promise<void>((resolve) => {
        const s = connect(rawSocket);
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.on('data', () => {});
        s.setTimeout(2000, () => s.destroy());
        s.end(bytes);
      });
    }),
    { numRuns: 100 },
  );
  assert.equal((await requestEvidence(rawSocket, Buffer.from('still alive'))).tee, 'sim');
  assert.match(await getPlatformCert(daemon.paths.root), /BEGIN CERTIFICATE/);
});
