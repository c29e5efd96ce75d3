/** The sim attester against a stand-in attestation socket (docs/attestation-socket.md), and its failures. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { ATTESTATION_SOCKET_ENV, createSimAttester } from '../../../src/rats-tls/attesters/sim.ts';
import { createAttestedCertificate } from '../../../src/rats-tls/certificate.ts';
import { RATS_TLS_ERROR_CODES as E } from '../../../src/rats-tls/codes.ts';
import { verifyAttestedCertificate } from '../../../src/rats-tls/verify.ts';
import { PLATFORM } from './forge.ts';

let dir: string;
let server: Server;
let socketPath: string;
let answerTee = 'sim';

void describe('sim attester', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rats-tls-attester-'));
    socketPath = join(dir, 'attest.sock');
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const { reportData } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { reportData: string };
        const evidence = createSimEvidence({ measurement: new Uint8Array(48), reportData: Buffer.from(reportData, 'hex'), platformKey: PLATFORM.privateKey, at: new Date() });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ tee: answerTee, evidence: Buffer.from(evidence).toString('base64') }));
      });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  void test(`gets evidence from $${ATTESTATION_SOCKET_ENV} and the certificate verifies with the platform key`, async () => {
    const saved = process.env[ATTESTATION_SOCKET_ENV];
    process.env[ATTESTATION_SOCKET_ENV] = socketPath;
    try {
      const c = await createAttestedCertificate({ attester: createSimAttester(), nonce: Uint8Array.of(5) });
      const v = verifyAttestedCertificate(c.certPem, { at: new Date(), evidence: { simPlatformKeys: [PLATFORM.publicKey] }, expectedNonce: Uint8Array.of(5) });
      assert.equal(v.error, undefined);
      assert.equal(v.verified, true);
    } finally {
      if (saved === undefined) delete process.env[ATTESTATION_SOCKET_ENV];
      else process.env[ATTESTATION_SOCKET_ENV] = saved;
    }
  });

  void test('fails with RATS_TLS_ERR_ATTESTER without a socket, on an unreachable socket and on non-sim evidence', async () => {
    const saved = process.env[ATTESTATION_SOCKET_ENV];
    delete process.env[ATTESTATION_SOCKET_ENV];
    try {
      assert.throws(() => createSimAttester(), { code: E.ATTESTER });
    } finally {
      if (saved !== undefined) process.env[ATTESTATION_SOCKET_ENV] = saved;
    }
    await assert.rejects(createAttestedCertificate({ attester: createSimAttester({ socketPath: join(dir, 'missing.sock') }) }), { code: E.ATTESTER });
    answerTee = 'tdx';
    try {
      await assert.rejects(createAttestedCertificate({ attester: createSimAttester({ socketPath }) }), { code: E.ATTESTER });
    } finally {
      answerTee = 'sim';
    }
  });
});
