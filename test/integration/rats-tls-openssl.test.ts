/**
 * Interop with OpenSSL, the TLS stack the C RATS-TLS (`-t openssl`) is built on: `openssl s_client` and
 * `openssl s_server` against our sample CLI and library on 127.0.0.1. No C RATS-TLS build exists on these
 * machines; these tests pin the parts of its behaviour that come from OpenSSL: a certificate OpenSSL accepts
 * (no unknown critical extension), the wire protocol of the samples, alert 116 for a mutual server's
 * certificate-less client, and peers that send a certificate without evidence (the C `nullattester`).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InclavareError } from '../../src/errors/errors.ts';
import { createLocalSimAttester } from '../../src/rats-tls/attesters/sim-local.ts';
import { createAttestedCertificate } from '../../src/rats-tls/certificate.ts';
import { RATS_TLS_ERROR_CODES as E } from '../../src/rats-tls/codes.ts';
import { OID_DICE_EVIDENCE } from '../../src/rats-tls/format.ts';
import { SAMPLE_MESSAGE as MESSAGE } from '../../src/rats-tls/sample.ts';
import { connect } from '../../src/rats-tls/client.ts';
import type { RatsTlsVerifyOptions } from '../../src/rats-tls/options.ts';
import { RATS_TLS, startListening, startSampleServer, writePlatformKey } from '../support/rats-tls.ts';

const PLATFORM = generateKeyPairSync('ed25519');

let dir: string;
let platformKey: string;
let anchor: string;
const children: ChildProcess[] = [];

before(() => {
  assert.ok(existsSync(RATS_TLS), 'dist/rats-tls.mjs is missing: run `npm run build` first');
  assert.equal(spawnSync('openssl', ['version']).status, 0, 'openssl is missing (scripts/setup.sh installs it)');
  dir = mkdtempSync(join(tmpdir(), 'incl-openssl-'));
  ({ key: platformKey, anchor } = writePlatformKey(dir, PLATFORM));
});
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const sampleServer = (...args: string[]): Promise<number> => startSampleServer(children, ...args);

/** openssl s_server on an ephemeral port with this certificate, for one connection. */
function opensslServer(certFile: string, keyFile: string): Promise<number> {
  return startListening(children, 'openssl', ['s_server', '-accept', '127.0.0.1:0', '-cert', certFile, '-key', keyFile, '-naccept', '1'], /^ACCEPT 127\.0\.0\.1:(\d+)$/);
}

/** openssl s_client: sends `input`, keeps stdin open briefly so the reply arrives, returns all it printed. */
function sClient(port: number, input: string, ...args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-ign_eof', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

function writeFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Connects with our client; resolves to its verdict (the peer) or the error. */
function ourClient(port: number, verify: RatsTlsVerifyOptions): Promise<{ peer?: unknown; error?: Error }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, verify }, () => {
      const peer = socket.ratsTls;
      socket.end();
      resolve({ peer });
    });
    socket.once('error', (error) => resolve({ error }));
  });
}

void describe('OpenSSL peers', () => {
  test("openssl s_client gets the sample's echo; `openssl verify` accepts the certificate (its evidence extension is non-critical)", async () => {
    const port = await sampleServer('-a', 'sim', '--sim-platform-key', platformKey);
    const out = await sClient(port, MESSAGE, '-showcerts');
    assert.ok(out.includes(MESSAGE), out);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0];
    assert.ok(pem, 'the server sent its certificate');
    const certFile = writeFile('server.pem', `${pem}\n`);
    // A self-signed certificate trusted as its own CA: OpenSSL refuses unknown critical extensions here.
    const verified = spawnSync('openssl', ['verify', '-CAfile', certFile, certFile], { encoding: 'utf8' });
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /: OK/);
    const text = spawnSync('openssl', ['x509', '-in', certFile, '-noout', '-text'], { encoding: 'utf8' }).stdout;
    assert.match(text, new RegExp(`${OID_DICE_EVIDENCE.replaceAll('.', '\\.')}:\\s*\\n`), 'listed without "critical"');
    assert.match(text, /Subject: O = Inclavare Containers, CN = RATS-TLS/);
  });

  test('a mutual sample server fails the handshake of openssl s_client without a certificate with alert 116', async () => {
    const port = await sampleServer('-m', '-a', 'sim', '--sim-platform-key', platformKey, '--trust-anchor', anchor);
    const out = await sClient(port, MESSAGE);
    assert.match(out, /alert certificate required[\s\S]*SSL alert number 116/, out);
    assert.ok(!out.includes(MESSAGE));
  });

  test('openssl s_client presenting a RATS-TLS certificate made by us is served by the mutual sample server', async () => {
    const port = await sampleServer('-m', '-a', 'sim', '--sim-platform-key', platformKey, '--trust-anchor', anchor);
    const cert = await createAttestedCertificate({ attester: createLocalSimAttester({ platformKey: PLATFORM.privateKey }) });
    const out = await sClient(port, MESSAGE, '-cert', writeFile('client.pem', cert.certPem), '-key', writeFile('client.key', cert.keyPem));
    assert.ok(out.includes(MESSAGE), out);
  });

  test('openssl s_server with a certificate without evidence (the C nullattester): rejected unless unattested peers are allowed', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = writeFile('null.key', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const certFile = join(dir, 'null.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-key', keyFile, '-out', certFile, '-subj', '/O=Inclavare Containers/CN=RATS-TLS', '-days', '1'], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);

    const strict = await ourClient(await opensslServer(certFile, keyFile), {});
    assert.ok(strict.error instanceof InclavareError && strict.error.code === E.NO_EVIDENCE, String(strict.error));
    const lax = await ourClient(await opensslServer(certFile, keyFile), { allowUnattested: true });
    assert.equal(lax.error, undefined, String(lax.error));
    assert.deepEqual(lax.peer, { claims: undefined, binding: 'absent', format: 'none', fresh: false });
  });

  test('openssl s_server serving our RATS-TLS certificate is verified by our client by its sim evidence', async () => {
    const cert = await createAttestedCertificate({ attester: createLocalSimAttester({ platformKey: PLATFORM.privateKey }) });
    const port = await opensslServer(writeFile('ours.pem', cert.certPem), writeFile('ours.key', cert.keyPem));
    const r = await ourClient(port, { evidence: { simPlatformKeys: [PLATFORM.publicKey] }, expected: { tee: 'sim' } });
    assert.equal(r.error, undefined, String(r.error));
    assert.equal((r.peer as { claims?: { tee?: string } }).claims?.tee, 'sim');
  });
});
