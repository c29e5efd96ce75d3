/**
 * verdictd's image keys (src/verdictd/image-key.ts) and EAA `Unwrap JWE`: a layer encrypted by the real skopeo
 * (`--encryption-key jwe:<verdict key public>`, ocicrypt 1.0.3's JWE key wrapper) is unwrapped for an attested,
 * policy-approved peer only; every outcome audited; bad JWEs are clear errors (fuzzed).
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { Broker, type Attestation } from '../../../src/verdictd/broker.ts';
import { runCommand } from '../../../src/verdictd/eaa/commands.ts';
import { imagePrivateKey, imagePublicKeyPem, MAX_JWE_BYTES, parseJwe } from '../../../src/verdictd/image-key.ts';
import { openEmbeddedStore, type EmbeddedStore } from '../../../src/verdictd/store/embedded.ts';
import { makeOciImage, requireTools, runOk } from '../../support/fixtures.ts';
import { JWE_ANNOTATION, layoutLayers } from '../../support/ocicrypt.ts';

const dir = mkdtempSync(join(tmpdir(), 'verdictd-image-key-'));
const platform = generateKeyPairSync('ed25519');

/** The JWE annotation of each layer of `layout` after skopeo encrypted it to the PEM public key `pem`. */
async function skopeoEncrypt(plainLayout: string, pem: string | string[], name: string): Promise<string[]> {
  const pems = typeof pem === 'string' ? [pem] : pem;
  pems.forEach((p, i) => writeFileSync(join(dir, `${name}-${i}.pem`), p));
  const out = join(dir, name);
  await runOk('skopeo', ['copy', ...pems.flatMap((_p, i) => ['--encryption-key', `jwe:${join(dir, `${name}-${i}.pem`)}`]), `oci:${plainLayout}:latest`, `oci:${out}:latest`], { timeoutMs: 120_000 });
  return (await layoutLayers(out)).layers.map((l) => l.annotations![JWE_ANNOTATION]!);
}

describe('image keys: derivation', () => {
  it('a stored key has one P-256 image key: deterministic, distinct per key, PEM SubjectPublicKeyInfo', () => {
    const a = randomBytes(32);
    assert.equal(imagePublicKeyPem(a), imagePublicKeyPem(Buffer.from(a)));
    assert.notEqual(imagePublicKeyPem(a), imagePublicKeyPem(randomBytes(32)));
    assert.match(imagePublicKeyPem(a), /^-----BEGIN PUBLIC KEY-----\n/);
    assert.equal(imagePrivateKey(a).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });
});

describe('EAA "Unwrap JWE" of layers skopeo encrypted to a verdictd image key', () => {
  let store: EmbeddedStore;
  let broker: Broker;
  let kid = '';
  let attestation: Attestation;
  let denied: Attestation;
  let jwes: string[] = [];
  let plainLayout = '';

  const unwrap = async (jwe: unknown, who: Attestation = attestation): Promise<Record<string, unknown>> =>
    JSON.parse((await runCommand(JSON.stringify({ command: 'Unwrap JWE', jwe }), { broker, attestation: who })).body) as Record<string, unknown>;

  before(async () => {
    await requireTools([{ bin: 'skopeo', pkg: 'skopeo' }, { bin: 'umoci', pkg: 'umoci' }, { bin: '/bin/busybox', pkg: 'busybox-static' }]);
    store = await openEmbeddedStore(join(dir, 'store'), { init: true });
    broker = new Broker({ store });
    await store.createKey(); // another key: the right one is found among several
    kid = (await store.createKey()).kid;
    await store.setTrust({ simPlatformKeys: [platform.publicKey.export({ type: 'spki', format: 'pem' }).toString()] });
    const measurement = createHash('sha384').update('unwrapping enclave').digest();
    const platformKeyId = createHash('sha256').update(platform.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    await store.setReferenceSet({ name: 'default', values: { measurement: [measurement.toString('hex')], platformKeyId: [platformKeyId] } });
    const evidence = (m: Buffer): Uint8Array => createSimEvidence({ measurement: m, reportData: Buffer.alloc(64, 1), platformKey: platform.privateKey, at: new Date() });
    attestation = await broker.attest({ evidence: evidence(measurement), peer: { address: 'test', frontEnd: 'eaa' } });
    denied = await broker.attest({ evidence: evidence(createHash('sha384').update('another enclave').digest()), peer: { address: 'test', frontEnd: 'eaa' } });
    plainLayout = (await makeOciImage(join(dir, 'plain'), { name: 'docker.io/inclavare/jwe:latest', cmd: ['true'] })).layout;
    jwes = await skopeoEncrypt(plainLayout, imagePublicKeyPem(await store.getKey(kid)), 'enc');
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('skopeo wrote one ECDH-ES+A256KW (P-256) JWE per layer; an attested, allowed peer gets the layer\'s private options, audited with the kid', async () => {
    assert.ok(jwes.length >= 1);
    const parsed = parseJwe(jwes[0]!);
    assert.deepEqual(parsed.recipients, ['ECDH-ES+A256KW P-256']);
    const answer = await unwrap(parsed.jwe);
    assert.equal(answer.status, 'OK', JSON.stringify(answer));
    const data = answer.data as { kid: string; plaintext: string };
    assert.equal(data.kid, kid);
    const opts = JSON.parse(Buffer.from(data.plaintext, 'base64').toString('utf8')) as { symkey: string; digest: string; cipheroptions: { nonce: string } };
    assert.equal(Buffer.from(opts.symkey, 'base64').length, 32);
    assert.equal(Buffer.from(opts.cipheroptions.nonce, 'base64').length, 16);
    const plainLayer = (await layoutLayers(plainLayout)).layers[0]!;
    assert.equal(opts.digest, plainLayer.digest);
    // The annotation text itself (base64 of the JSON) is accepted too.
    assert.equal((await unwrap(jwes[0]!)).status, 'OK');
    assert.match(readFileSync(join(dir, 'store', 'audit.log'), 'utf8'), new RegExp(`"action":"release-key","kid":"${kid}".*"decision":"allow"`));
  });

  it('a JWE to several recipients (skopeo with two jwe: keys: general serialization) unwraps through the verdictd one', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const [jwe] = await skopeoEncrypt(plainLayout, [rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(), imagePublicKeyPem(await store.getKey(kid))], 'two');
    const parsed = parseJwe(jwe!);
    assert.equal(parsed.general, true);
    assert.deepEqual(parsed.recipients, ['RSA-OAEP', 'ECDH-ES+A256KW P-256']);
    const answer = await unwrap(parsed.jwe);
    assert.equal(answer.status, 'OK', JSON.stringify(answer));
    assert.equal((answer.data as { kid: string }).kid, kid);
  });

  it('the policy denies another enclave: VERDICTD_ERR_POLICY_DENIED naming the rule, audited, nothing released', async () => {
    const answer = await unwrap(parseJwe(jwes[0]!).jwe, denied);
    assert.equal(answer.status, 'Fail');
    assert.equal(answer.code, 'VERDICTD_ERR_POLICY_DENIED');
    assert.match(String(answer.error), /rule "measurement"/);
    assert.equal(answer.data && Object.keys(answer.data).length, 0);
    assert.match(readFileSync(join(dir, 'store', 'audit.log'), 'utf8'), new RegExp(`"action":"release-key","kid":"${kid}".*"decision":"deny".*"failedRules"`));
  });

  it('a JWE to an EC key verdictd does not hold: VERDICTD_ERR_NOT_FOUND naming it (audited); a denied peer learns only the denial', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const [foreign] = await skopeoEncrypt(plainLayout, other.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'foreign');
    const answer = await unwrap(parseJwe(foreign!).jwe);
    assert.equal(answer.code, 'VERDICTD_ERR_NOT_FOUND', JSON.stringify(answer));
    assert.match(String(answer.error), /encrypted to no image key of this verdictd \(its recipients: ECDH-ES\+A256KW P-256\)/);
    assert.equal((await unwrap(parseJwe(foreign!).jwe, denied)).code, 'VERDICTD_ERR_POLICY_DENIED');
  });

  it('a JWE to an RSA key (skopeo writes RSA-OAEP) is VERDICTD_ERR_DECRYPT saying which algorithm an image key takes', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const [jwe] = await skopeoEncrypt(plainLayout, rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'rsa');
    const answer = await unwrap(parseJwe(jwe!).jwe);
    assert.equal(answer.code, 'VERDICTD_ERR_DECRYPT');
    assert.match(String(answer.error), /recipients \(RSA-OAEP\).*ECDH-ES\+A256KW on P-256.*verdict key public/);
  });

  it('an altered JWE (ciphertext, tag or wrapped key) releases nothing: NOT_FOUND "or it was altered"', async () => {
    const parsed = parseJwe(jwes[0]!).jwe as unknown as Record<string, string>;
    for (const field of ['ciphertext', 'tag', 'encrypted_key', 'iv']) {
      const bytes = Buffer.from(parsed[field]!, 'base64url');
      bytes[0]! ^= 1;
      const answer = await unwrap({ ...parsed, [field]: bytes.toString('base64url') });
      assert.equal(answer.code, 'VERDICTD_ERR_NOT_FOUND', `${field}: ${JSON.stringify(answer)}`);
      assert.match(String(answer.error), /or it was altered/);
    }
  });

  it('bad input is VERDICTD_ERR_MALFORMED_REQUEST naming the problem', async () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /needs "jwe"/],
      ['not a jwe!', /neither JSON nor base64/],
      ['eyJhbGciOiJSU0EifQ.abc.def.ghi.jkl', /compact JWE/],
      [{ protected: 'e30', iv: 'AA', ciphertext: 'AA' }, /"tag" must be a base64url string/],
      [{ iv: 'AA', ciphertext: 'AA', tag: 'AA', recipients: [] }, /"recipients" must be a non-empty array/],
      [{ iv: 'AA', ciphertext: 'AA', tag: 'AA', recipients: Array.from({ length: 9 }, () => ({})) }, /9 recipients, more than 8/],
      [{ iv: 'AA', ciphertext: 'A'.repeat(MAX_JWE_BYTES), tag: 'AA' }, /more than the 3072 bytes/],
      [{ protected: '!!', iv: 'AA', ciphertext: 'AA', tag: 'AA' }, /"protected" must be a base64url string/],
      [{ protected: 'bm90IGpzb24', iv: 'AA', ciphertext: 'AA', tag: 'AA' }, /protected header is not base64url of JSON/],
    ];
    for (const [jwe, message] of cases) {
      const answer = await unwrap(jwe);
      assert.equal(answer.code, 'VERDICTD_ERR_MALFORMED_REQUEST', JSON.stringify(answer));
      assert.match(String(answer.error), message);
    }
  });

  it('fuzz: parseJwe() returns or throws VERDICTD_ERR_MALFORMED_REQUEST; "Unwrap JWE" of anything never answers INTERNAL, nor OK unless it is the JWE skopeo wrote', async () => {
    const base = parseJwe(jwes[0]!).jwe as unknown as Record<string, unknown>;
    const arbitraryJwe = fc.oneof(
      fc.string(),
      fc.base64String(),
      fc.jsonValue(),
      fc.record({ protected: fc.oneof(fc.string(), fc.constant(base.protected)), iv: fc.string(), ciphertext: fc.string(), tag: fc.string(), encrypted_key: fc.string() }, { requiredKeys: [] }),
      fc.dictionary(fc.constantFrom('protected', 'iv', 'ciphertext', 'tag', 'encrypted_key', 'header', 'recipients', 'unprotected'), fc.jsonValue()).map((o) => ({ ...base, ...o })),
    );
    fc.assert(
      fc.property(arbitraryJwe, (input) => {
        try {
          parseJwe(input);
        } catch (err) {
          assert.ok(isInclavareError(err, 'VERDICTD_ERR_MALFORMED_REQUEST'), String(err));
        }
      }),
      { numRuns: 2000 },
    );
    await fc.assert(
      fc.asyncProperty(arbitraryJwe, async (input) => {
        const answer = await unwrap(input);
        // Only the untouched JWE (extra members aside) unwraps.
        const same = typeof input === 'object' && input !== null && ['protected', 'iv', 'ciphertext', 'tag', 'encrypted_key'].every((k) => (input as Record<string, unknown>)[k] === base[k]);
        assert.equal(answer.status, same ? answer.status : 'Fail', JSON.stringify(answer));
        assert.notEqual(answer.code, 'INTERNAL', JSON.stringify(answer));
      }),
      { numRuns: 200 },
    );
  });
});
