// verdictd's identity (src/verdictd/identity.ts): one key, sealed in the store, created at the first start of
// a store that has none; the EAA front end presents a certificate of that key; a restart keeps its pin; the
// key is never on disk in clear.
import { strict as assert } from 'node:assert';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, describe, it } from 'node:test';
import { createNullAttester } from '../../../src/rats-tls/attesters/null.ts';
import { PIN_PATTERN, pinOfCertificate, pinOfSpki } from '../../../src/rats-tls/pin.ts';
import { startVerdictd, type Verdictd } from '../../../src/verdictd/daemon.ts';
import { createManagementService } from '../../../src/verdictd/management/service.ts';
import { openEmbeddedStore } from '../../../src/verdictd/store/embedded.ts';

const work = mkdtempSync(join(tmpdir(), 'verdictd-identity-'));
after(() => rmSync(work, { recursive: true, force: true }));
let dirs = 0;
const dataDir = (): string => join(work, `data-${++dirs}`);

function start(dir: string, init = false): Promise<Verdictd> {
  return startVerdictd({ dataDir: dir, ...(init ? { init: true } : {}), eaa: { host: '127.0.0.1', port: 0, attester: createNullAttester() } });
}

/** The pin of the certificate the EAA listener presents (TLS 1.3: the client sees it before sending its own). */
function presentedPin(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(pinOfCertificate(socket.getPeerCertificate().raw));
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? filesUnder(join(dir, f)) : [join(dir, f)]));
}

void describe("verdictd's identity", () => {
  void it('is created at the first start, presented by the EAA listener, answered by GetIdentity, and kept across a restart', async () => {
    const dir = dataDir();
    const first = await start(dir, true);
    let pin: string;
    try {
      pin = first.identity.pin;
      assert.match(pin, PIN_PATTERN);
      assert.equal(first.identity.created, true);
      assert.equal(await presentedPin(first.addresses.get('eaa')!.port), pin);
      const service = createManagementService({ store: first.store, broker: first.broker, identity: first.identity });
      const answer = await service['IdentityService/GetIdentity']({}, { address: 'test' });
      assert.equal(answer.pin, pin);
      assert.equal(pinOfCertificate(answer.certificate), pin);
    } finally {
      await first.close();
    }
    const second = await start(dir);
    try {
      assert.equal(second.identity.created, false);
      assert.equal(second.identity.pin, pin);
      assert.equal(await presentedPin(second.addresses.get('eaa')!.port), pin);
    } finally {
      await second.close();
    }
  });

  void it('is created at the first start of an existing store that has none', async () => {
    const dir = dataDir();
    const store = await openEmbeddedStore(dir, { init: true });
    await assert.rejects(store.getIdentityKey(), { code: 'VERDICTD_ERR_NOT_FOUND' });
    await store.close();
    const daemon = await start(dir);
    assert.equal(daemon.identity.created, true);
    await daemon.close();
  });

  void it('is never on disk in clear: no file of the data dir holds its PKCS#8 DER, PEM body or private scalar', async () => {
    const dir = dataDir();
    const daemon = await start(dir, true);
    const pin = daemon.identity.pin;
    await daemon.close();
    const store = await openEmbeddedStore(dir);
    const der = Buffer.from(await store.getIdentityKey());
    await store.close();
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    assert.equal(pinOfSpki(createPublicKey(key).export({ type: 'spki', format: 'der' })), pin);
    const pemBody = (key.export({ type: 'pkcs8', format: 'pem' }) as string).split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    const scalar = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
    const needles = [der, scalar, Buffer.from(scalar.toString('hex')), Buffer.from(scalar.toString('base64')), Buffer.from(der.toString('base64')), ...pemBody.map((l) => Buffer.from(l))];
    const files = filesUnder(dir);
    assert.ok(files.some((f) => f.endsWith('identity.key')), files.join(' '));
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const needle of needles) assert.equal(bytes.indexOf(needle), -1, `${file} holds the identity key in clear`);
    }
  });

  void it('createIdentityKey() never replaces the key', async () => {
    const dir = dataDir();
    const store = await openEmbeddedStore(dir, { init: true });
    await store.createIdentityKey(Uint8Array.of(1, 2, 3));
    await assert.rejects(store.createIdentityKey(Uint8Array.of(4)), { code: 'VERDICTD_ERR_ALREADY_EXISTS' });
    assert.deepEqual(await store.getIdentityKey(), Buffer.from([1, 2, 3]));
    await store.close();
  });
});
