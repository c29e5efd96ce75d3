/** createServer()/connect() (inclavare/rats-tls) on 127.0.0.1 with the in-process sim attester. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { after, describe, test } from 'node:test';
import { InclavareError } from '../../../src/errors/errors.ts';
import type { Attester } from '../../../src/rats-tls/attesters/attester.ts';
import { createNullAttester } from '../../../src/rats-tls/attesters/null.ts';
import { createLocalSimAttester } from '../../../src/rats-tls/attesters/sim-local.ts';
import { createAttestedCertificate } from '../../../src/rats-tls/certificate.ts';
import { RATS_TLS_ERROR_CODES as E } from '../../../src/rats-tls/codes.ts';
import { createFreshnessProof, verifyFreshnessProof } from '../../../src/rats-tls/nonce.ts';
import { connect, type RatsTlsConnectOptions } from '../../../src/rats-tls/client.ts';
import { createRatsTlsIdentity, staticRatsTlsIdentity } from '../../../src/rats-tls/identity.ts';
import { createServer, type RatsTlsServerOptions } from '../../../src/rats-tls/server.ts';
import { AT, claimsFor, forge, PLATFORM, spkiDer } from './forge.ts';
import { pemEncode } from '../../../src/x509/pem.ts';

const MEASUREMENT = new Uint8Array(48).fill(0xab);
const attester = createLocalSimAttester({ platformKey: PLATFORM.privateKey, measurement: MEASUREMENT });
const evidence = { simPlatformKeys: [PLATFORM.publicKey] };
const HELLO = 'hello, attested world';

const servers: tls.Server[] = [];
const closers: (() => void)[] = [];
after(async () => {
  for (const close of closers) close();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

interface Started {
  port: number;
  errors: Error[];
  peers: (tls.TLSSocket['ratsTls'] | 'unset')[];
  /** Bytes the application saw. */
  seen: string[];
}

/** An echo server (reads once, echoes, closes) like the C sample's. */
async function startServer(options: RatsTlsServerOptions): Promise<Started> {
  const started: Started = { port: 0, errors: [], peers: [], seen: [] };
  const server = createServer(options, (socket) => {
    started.peers.push('ratsTls' in socket ? socket.ratsTls : 'unset');
    socket.once('data', (d: Buffer) => {
      started.seen.push(d.toString());
      socket.end(d);
    });
  });
  servers.push(server);
  server.on('tlsClientError', (err) => started.errors.push(err));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  started.port = (server.address() as AddressInfo).port;
  return started;
}

interface Outcome {
  echo: string;
  error: Error | undefined;
  peer: tls.TLSSocket['ratsTls'];
}

function exchange(port: number, options: Omit<RatsTlsConnectOptions, 'port' | 'host'> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    let echo = '';
    let error: Error | undefined;
    const socket = connect({ host: '127.0.0.1', port, ...options }, () => socket.write(HELLO));
    socket.on('data', (d: Buffer) => (echo += d.toString()));
    socket.on('error', (err) => (error = err));
    socket.on('close', () => resolve({ echo, error, peer: socket.ratsTls }));
  });
}

function code(err: Error | undefined): string | undefined {
  return err instanceof InclavareError ? err.code : err === undefined ? undefined : `not an InclavareError: ${err.message}`;
}

/** A server identity from a hand-made (forged) certificate. */
function forgedIdentity(o: Parameters<typeof forge>[0]) {
  const { der, key } = forge(o);
  return staticRatsTlsIdentity({ cert: pemEncode('CERTIFICATE', der), key: key.export({ type: 'pkcs8', format: 'pem' }).toString() });
}

const clientIdentity = await createRatsTlsIdentity({ attester });
closers.push(() => clientIdentity.close());

void describe('one-way and mutual attestation', () => {
  test('a client verifies the sim server and sees its claims before reading', async () => {
    const s = await startServer({ attester });
    const o = await exchange(s.port, { verify: { evidence, expected: { tee: 'sim', measurements: { measurement: Buffer.from(MEASUREMENT).toString('hex') } } } });
    assert.equal(o.error, undefined);
    assert.equal(o.echo, HELLO);
    assert.equal(o.peer?.claims?.tee, 'sim');
    assert.equal(o.peer?.binding, 'valid');
    assert.equal(o.peer?.format, 'dice');
    assert.equal(o.peer?.fresh, false);
    assert.deepEqual(s.peers, [undefined]);
  });

  test('a mutual server verifies the client certificate and exposes its claims', async () => {
    const s = await startServer({ attester, mutual: true, verify: { evidence } });
    const o = await exchange(s.port, { identity: clientIdentity, verify: { evidence } });
    assert.equal(o.error, undefined);
    assert.equal(o.echo, HELLO);
    assert.equal(s.peers.length, 1);
    const peer = s.peers[0];
    assert.ok(peer !== 'unset' && peer?.claims?.tee === 'sim');
  });

  test('a mutual server fails the handshake of a client without a certificate (alert 116; RATS_TLS_ERR_NO_PEER_CERTIFICATE), its data unseen', async () => {
    const s = await startServer({ attester, mutual: true, verify: { evidence } });
    const o = await exchange(s.port, { verify: { evidence } });
    assert.equal(o.echo, '');
    // In the handshake, as the C RATS-TLS does: OpenSSL sends certificate_required (116), not a closed socket later.
    assert.equal((o.error as { code?: string } | undefined)?.code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', String(o.error));
    assert.deepEqual(s.errors.map((e) => code(e)), [E.NO_PEER_CERTIFICATE]);
    assert.equal((s.errors[0]?.cause as { code?: string } | undefined)?.code, 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
    assert.deepEqual(s.seen, []);
  });

  test('a mutual TLS 1.2 server also fails the handshake of a client without a certificate', async () => {
    const s = await startServer({ attester, mutual: true, verify: { evidence }, maxVersion: 'TLSv1.2' });
    const o = await exchange(s.port, { verify: { evidence } });
    assert.equal(o.echo, '');
    assert.match((o.error as { code?: string } | undefined)?.code ?? '', /^ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE$|CERTIFICATE_REQUIRED/, String(o.error));
    assert.deepEqual(s.errors.map((e) => code(e)), [E.NO_PEER_CERTIFICATE]);
    // A TLS 1.2 client with an attested certificate is still verified and served (the CA check stays off).
    const ok = await exchange(s.port, { identity: clientIdentity, verify: { evidence } });
    assert.equal(ok.echo, HELLO, String(ok.error));
  });

  test('a mutual server drops an unattested client unless allowUnattested', async () => {
    const nullCert = await createAttestedCertificate({ attester: createNullAttester() });
    const identity = staticRatsTlsIdentity({ cert: nullCert.certPem, key: nullCert.keyPem });
    const strict = await startServer({ attester, mutual: true, verify: { evidence } });
    assert.equal((await exchange(strict.port, { identity, verify: { evidence } })).echo, '');
    assert.deepEqual(strict.errors.map((e) => code(e)), [E.NO_EVIDENCE]);
    const lax = await startServer({ attester, mutual: true, verify: { evidence, allowUnattested: true } });
    assert.equal((await exchange(lax.port, { identity, verify: { evidence } })).echo, HELLO);
  });
});

void describe('fail closed', () => {
  const cases: { name: string; server: () => Promise<RatsTlsServerOptions>; verify?: RatsTlsConnectOptions['verify']; code: string }[] = [
    { name: 'an unattested server (null attester)', server: () => Promise.resolve({ attester: createNullAttester() }), code: E.NO_EVIDENCE },
    {
      name: 'a wrong pubkey-hash (claims made for another key)',
      server: () => Promise.resolve({ identity: forgedIdentity({ claimsBytes: claimsFor(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey) }) }),
      verify: { evidence, now: () => AT },
      code: E.PUBKEY_HASH_MISMATCH,
    },
    {
      name: "evidence bound to another key (its report_data commits to another key's claims)",
      server: () => Promise.resolve({ identity: forgedIdentity({ reportDataClaims: claimsFor(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey) }) }),
      verify: { evidence, now: () => AT },
      code: E.REPORT_DATA_MISMATCH,
    },
    { name: 'a critical evidence extension', server: () => Promise.resolve({ identity: forgedIdentity({ critical: true }) }), verify: { evidence, now: () => AT }, code: E.CRITICAL_EXTENSION },
    {
      name: 'expired evidence (sim evidence 10 minutes old)',
      server: () => Promise.resolve({ attester: createLocalSimAttester({ platformKey: PLATFORM.privateKey, now: () => new Date(Date.now() - 600_000) }) }),
      code: E.EVIDENCE_REJECTED,
    },
    {
      name: 'evidence signed by an untrusted platform key',
      server: () => Promise.resolve({ attester: createLocalSimAttester({ platformKey: generateKeyPairSync('ed25519').privateKey }) }),
      code: E.EVIDENCE_REJECTED,
    },
    { name: 'a measurement mismatch via `expected`', server: () => Promise.resolve({ attester }), verify: { evidence, expected: { measurements: { measurement: '00'.repeat(48) } } }, code: E.POLICY_REJECTED },
    { name: 'a measurement rejected by the callback', server: () => Promise.resolve({ attester }), verify: { evidence, callback: (c) => (c?.measurements.measurement === '00'.repeat(48) ? true : 'measurement not allowed') }, code: E.POLICY_REJECTED },
  ];
  for (const c of cases) {
    test(`a client rejects ${c.name} with ${c.code} and reads nothing`, async () => {
      const s = await startServer(await c.server());
      const o = await exchange(s.port, { verify: c.verify ?? { evidence } });
      assert.equal(code(o.error), c.code);
      assert.equal(o.echo, '');
      assert.equal(o.peer, undefined);
    });
  }

  test('an unattested server is accepted with allowUnattested (binding absent, no claims)', async () => {
    const s = await startServer({ attester: createNullAttester() });
    const o = await exchange(s.port, { verify: { evidence, allowUnattested: true } });
    assert.equal(o.error, undefined);
    assert.equal(o.echo, HELLO);
    assert.deepEqual(o.peer, { claims: undefined, binding: 'absent', format: 'none', fresh: false });
  });

  test('a `data` listener attached at once never sees what an unverified server sends right after the handshake', async () => {
    const plain = await createAttestedCertificate({ attester: createNullAttester() });
    const server = tls.createServer({ cert: plain.certPem, key: plain.keyPem }, (socket) => socket.end('secret from an unattested server'));
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const seen: string[] = [];
    const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, verify: { evidence } });
    socket.on('data', (d: Buffer) => seen.push(d.toString()));
    socket.on('readable', () => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) seen.push(chunk.toString());
    });
    const [err] = (await once(socket, 'error')) as [Error];
    assert.equal(code(err), E.NO_EVIDENCE);
    await once(socket, 'close');
    assert.deepEqual(seen, []);
  });
});

void describe('in-band nonce', () => {
  test('both ends in in-band mode: the client accepts fresh evidence bound to this session', async () => {
    const s = await startServer({ attester, verify: { nonce: 'in-band' } });
    const o = await exchange(s.port, { verify: { evidence, nonce: 'in-band', expected: { tee: 'sim' } } });
    assert.equal(o.error, undefined);
    assert.equal(o.echo, HELLO);
    assert.equal(o.peer?.fresh, true);
    assert.deepEqual(s.seen, [HELLO]);
  });

  test('mutual in-band: the server gets the client\'s fresh claims', async () => {
    const s = await startServer({ attester, mutual: true, verify: { evidence, nonce: 'in-band' } });
    const o = await exchange(s.port, { identity: clientIdentity, verify: { evidence, nonce: 'in-band' } });
    assert.equal(o.echo, HELLO);
    const peer = s.peers[0];
    assert.ok(peer !== 'unset' && peer?.fresh === true && peer.claims?.tee === 'sim');
  });

  test('a server replaying evidence from an earlier session is rejected', async () => {
    let recorded: Uint8Array | undefined;
    const replaying: Attester = {
      tee: 'sim',
      async getEvidence(reportData) {
        recorded ??= await attester.getEvidence(reportData);
        return recorded;
      },
    };
    const cert = await createAttestedCertificate({ attester });
    const s = await startServer({ identity: staticRatsTlsIdentity({ cert: cert.certPem, key: cert.keyPem, attester: replaying }), verify: { nonce: 'in-band' } });
    const first = await exchange(s.port, { verify: { evidence, nonce: 'in-band' } });
    assert.equal(first.error, undefined);
    const second = await exchange(s.port, { verify: { evidence, nonce: 'in-band' } });
    assert.equal(code(second.error), E.REPORT_DATA_MISMATCH);
    assert.equal(second.echo, '');
  });

  test('a proof for a stale nonce is RATS_TLS_ERR_NONCE_MISMATCH; for another key RATS_TLS_ERR_PUBKEY_HASH_MISMATCH', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const proof = await createFreshnessProof(attester, spkiDer(key), new Uint8Array(32).fill(1));
    const at = new Date();
    assert.equal(verifyFreshnessProof(proof, { spki: spkiDer(key), nonce: new Uint8Array(32).fill(1), at, evidence }).tee, 'sim');
    assert.throws(() => verifyFreshnessProof(proof, { spki: spkiDer(key), nonce: new Uint8Array(32).fill(2), at, evidence }), { code: E.NONCE_MISMATCH });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assert.throws(() => verifyFreshnessProof(proof, { spki: spkiDer(other), nonce: new Uint8Array(32).fill(1), at, evidence }), { code: E.PUBKEY_HASH_MISMATCH });
    assert.throws(() => verifyFreshnessProof(new Uint8Array(0), { spki: spkiDer(key), nonce: new Uint8Array(32), at, evidence }), { code: E.NONCE_MISMATCH });
  });

  test('while the in-band proof is pending, a `data` listener sees nothing of what the server sends', async () => {
    const cert = await createAttestedCertificate({ attester });
    const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (socket) => socket.end('unproven bytes, not a nonce frame'));
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const seen: string[] = [];
    const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, verify: { evidence, nonce: 'in-band' } });
    socket.on('data', (d: Buffer) => seen.push(d.toString()));
    const [err] = (await once(socket, 'error')) as [Error];
    assert.equal(code(err), E.PROTOCOL);
    await once(socket, 'close');
    assert.deepEqual(seen, []);
  });

  test('a client in in-band mode rejects a server that is not (it never proves freshness)', async () => {
    const s = await startServer({ attester });
    const o = await exchange(s.port, { verify: { evidence, nonce: 'in-band', timeoutMs: 2_000 } });
    assert.ok(o.error instanceof InclavareError);
    assert.equal(o.echo, '');
  });
});

void describe('certificate renewal', () => {
  test('createServer() with an attester makes a fresh certificate per server; identities renew', async () => {
    const a = await startServer({ attester });
    const b = await startServer({ attester });
    const ka = await exchange(a.port, { verify: { evidence } });
    const kb = await exchange(b.port, { verify: { evidence } });
    assert.equal(ka.echo, HELLO);
    assert.equal(kb.echo, HELLO);
    const identity = await createRatsTlsIdentity({ attester, renewBeforeMs: 3_600_000 - 1_500 });
    const first = identity.current().cert;
    await new Promise<void>((resolve) => identity.onRenew(resolve));
    identity.close();
    assert.notEqual(identity.current().cert, first);
  });
});

void describe('client secure contexts', () => {
  test('built once per client certificate and context options, not per connection; options still apply', async () => {
    const s = await startServer({ attester, mutual: true, verify: { evidence } });
    const made: unknown[] = [];
    const original = tls.createSecureContext;
    tls.createSecureContext = (options) => {
      made.push(options);
      return original(options);
    };
    try {
      const [first, second] = await Promise.all([createAttestedCertificate({ attester }), createAttestedCertificate({ attester })]);
      let current = { cert: first.certPem, key: first.keyPem };
      const renewing = { ...staticRatsTlsIdentity({ cert: first.certPem, key: first.keyPem }), current: () => current };
      for (let i = 0; i < 3; i++) assert.equal((await exchange(s.port, { identity: renewing, verify: { evidence } })).echo, HELLO);
      assert.equal(made.length, 1, 'three connections, one context');
      current = { cert: second.certPem, key: second.keyPem }; // a renewal
      assert.equal((await exchange(s.port, { identity: renewing, verify: { evidence } })).echo, HELLO);
      assert.equal(made.length, 2, 'a new certificate, a new context');
      let protocol: string | null = null;
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: s.port, identity: renewing, verify: { evidence }, maxVersion: 'TLSv1.2' }, () => {
          protocol = socket.getProtocol();
          socket.end();
          resolve();
        });
        socket.once('error', reject);
      });
      assert.equal(protocol, 'TLSv1.2');
      assert.equal(made.length, 3, 'other context options, another context');
    } finally {
      tls.createSecureContext = original;
    }
  });
});

void describe('TLS 1.2 renegotiation (could swap a verified certificate) is refused at both ends', () => {
  test('a server cannot renegotiate with our client', async () => {
    // A plain TLS 1.2 server serving an attested certificate asks our client for a new handshake.
    const made = await createAttestedCertificate({ attester });
    const outcome = new Promise<string>((resolve) => {
      const plain = tls.createServer({ cert: made.certPem, key: made.keyPem, maxVersion: 'TLSv1.2' }, (socket) => {
        // node:tls reports a fatal TLS error after the handshake without destroying the socket.
        socket.on('error', (err) => {
          socket.destroy();
          resolve(err.message);
        });
        socket.renegotiate({}, (err) => resolve(err ? err.message : 'renegotiated'));
      });
      servers.push(plain);
      plain.listen(0, '127.0.0.1', () => {
        const client = connect({ host: '127.0.0.1', port: (plain.address() as AddressInfo).port, verify: { evidence } }, () => client.write(HELLO));
        client.on('data', () => undefined);
        client.on('error', () => client.destroy());
      });
    });
    assert.match(await outcome, /no renegotiation/);
  });

  test('a client cannot renegotiate with our server', async () => {
    const s = await startServer({ attester, maxVersion: 'TLSv1.2' });
    const outcome = await new Promise<string>((resolve) => {
      const client = tls.connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false }, () => {
        client.renegotiate({}, (err) => resolve(err ? err.message : 'renegotiated'));
        client.write(HELLO);
      });
      client.on('error', (err) => {
        client.destroy();
        resolve(err.message);
      });
    });
    assert.match(outcome, /no renegotiation/);
  });
});
