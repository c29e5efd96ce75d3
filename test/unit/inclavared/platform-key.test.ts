/** The platform key and its self-signed certificate. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { verifySimEvidence } from '../../../src/attestation/sim/verify.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { createPlatformCertificate } from '../../../src/inclavared/certificate.ts';
import { INCLAVARED_ERROR_CODES } from '../../../src/attestation-socket/codes.ts';
import { loadPlatformIdentity } from '../../../src/inclavared/platform-key.ts';
import { tempDir } from './support.ts';

const work = tempDir();
test.after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const dataDir = (): string => join(work, `data-${++n}`, 'inclavared');

test('loadPlatformIdentity() creates an Ed25519 key with mode 0600 in a 0700 directory, and a certificate for it', () => {
  const dir = dataDir();
  const identity = loadPlatformIdentity({ dataDir: dir });
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(identity.keyPath).mode & 0o777, 0o600);
  assert.equal(identity.keyPath, join(dir, 'platform-key.pem'));
  assert.equal(identity.privateKey.asymmetricKeyType, 'ed25519');
  assert.equal(readFileSync(identity.certPath, 'utf8'), identity.certPem);
  const cert = new X509Certificate(identity.certPem);
  assert.ok(cert.verify(createPublicKey(identity.privateKey)), 'self-signed by the platform key');
});

test('loadPlatformIdentity() returns the same key and certificate on every later call', () => {
  const dir = dataDir();
  const first = loadPlatformIdentity({ dataDir: dir });
  const second = loadPlatformIdentity({ dataDir: dir });
  assert.equal(second.certPem, first.certPem);
  assert.deepEqual(
    createPublicKey(second.privateKey).export({ type: 'spki', format: 'der' }),
    createPublicKey(first.privateKey).export({ type: 'spki', format: 'der' }),
  );
});

test('the platform certificate says CN=inclavared sim platform, O=Inclavare, CA:FALSE, valid for 10 years', () => {
  const now = new Date('2026-03-01T12:00:00.250Z');
  const identity = loadPlatformIdentity({ dataDir: dataDir(), now });
  const cert = new X509Certificate(identity.certPem);
  assert.equal(cert.subject, 'CN=inclavared sim platform\nO=Inclavare');
  assert.equal(cert.issuer, cert.subject);
  assert.equal(cert.ca, false);
  assert.equal(new Date(cert.validFrom).toISOString(), '2026-03-01T12:00:00.000Z');
  assert.equal(new Date(cert.validTo).toISOString(), '2036-03-01T12:00:00.000Z');
  assert.equal(cert.publicKey.asymmetricKeyType, 'ed25519');
});

test('sim evidence signed by the platform key verifies with the certificate PEM as trusted key', () => {
  const identity = loadPlatformIdentity({ dataDir: dataDir() });
  const at = new Date();
  const measurement = randomBytes(48);
  const evidence = createSimEvidence({ measurement, reportData: Buffer.from('nonce'), platformKey: identity.privateKey, at });
  const claims = verifySimEvidence(evidence, { trustedPlatformKeys: [identity.certPem], at });
  assert.equal(claims.measurements.measurement, measurement.toString('hex'));
});

test('loadPlatformIdentity() refuses a key file others can read, naming the mode', () => {
  const dir = dataDir();
  const { keyPath } = loadPlatformIdentity({ dataDir: dir });
  chmodSync(keyPath, 0o644);
  assert.throws(
    () => loadPlatformIdentity({ dataDir: dir }),
    (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.PLATFORM_KEY) && /mode is 0644/.test(err.message) && err.mapping.httpStatus === 412,
  );
});

test('loadPlatformIdentity() refuses a key that is not Ed25519', () => {
  const dir = dataDir();
  const { keyPath } = loadPlatformIdentity({ dataDir: dir });
  writeFileSync(keyPath, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  assert.throws(() => loadPlatformIdentity({ dataDir: dir }), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.PLATFORM_KEY) && /not Ed25519/.test(err.message));
});

test('loadPlatformIdentity() replaces a certificate that is for another key', () => {
  const dir = dataDir();
  const { certPath, privateKey } = loadPlatformIdentity({ dataDir: dir });
  const other = generateKeyPairSync('ed25519').privateKey;
  writeFileSync(certPath, createPlatformCertificate({ privateKey: other, notBefore: new Date(), serial: randomBytes(8) }));
  const again = loadPlatformIdentity({ dataDir: dir });
  assert.deepEqual(new X509Certificate(again.certPem).publicKey.export({ type: 'spki', format: 'der' }), createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
});

test('createPlatformCertificate() encodes a serial with the top bit set as a positive INTEGER', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = createPlatformCertificate({ privateKey, notBefore: new Date(), serial: Uint8Array.from([0x80, 1, 2]) });
  const cert = AsnConvert.parse(new X509Certificate(pem).raw, Certificate);
  assert.deepEqual([...new Uint8Array(cert.tbsCertificate.serialNumber)], [0x00, 0x80, 1, 2]);
});
