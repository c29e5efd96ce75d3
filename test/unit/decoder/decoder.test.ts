/**
 * inclavare-decoder's format (src/decoder/): containerd's fd-3 payload (protobuf Any of imgcrypt's JSON
 * Payload) and ocicrypt's layer cipher, against layers the real skopeo encrypted (`jwe:` to an EC key). The
 * unwrap is played here by the test's private key (the enclave route is test/e2e/encrypted-images-containerd).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { flattenedDecrypt, type FlattenedJWE } from 'jose';
import { decodeLayer, ENCRYPTED_MEDIA_TYPES, type Unwrapper } from '../../../src/decoder/decoder.ts';
import { PUBOPTS_ANNOTATION } from '../../../src/decoder/layer.ts';
import { decodeAny, encodeAny, parsePayload, PAYLOAD_TYPE_URL, type LayerDescriptor } from '../../../src/decoder/payload.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { makeOciImage, requireTools, runOk } from '../../support/fixtures.ts';
import { layoutLayers } from '../../support/ocicrypt.ts';

const dir = mkdtempSync(join(tmpdir(), 'inclavare-decoder-'));

function localUnwrap(key: KeyObject): Unwrapper {
  return async (what) => {
    assert.ok('jwe' in what);
    return Buffer.from((await flattenedDecrypt(what.jwe as FlattenedJWE, key)).plaintext);
  };
}

async function decode(descriptor: LayerDescriptor, blob: Buffer, unwrap: Unwrapper, mediaType = descriptor.mediaType): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await decodeLayer({ mediaType, descriptor, input: Readable.from([blob.subarray(0, 1000), blob.subarray(1000)]), output: out, unwrap, stateDir: dir });
  return Buffer.concat(chunks);
}

function rejectsCode(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  return assert.rejects(p, (err: unknown) => {
    assert.ok(isInclavareError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

describe('inclavare-decoder: payload and layers skopeo encrypted', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let plain: Buffer;
  let descriptor: LayerDescriptor;
  let blob: Buffer;

  before(async () => {
    await requireTools([{ bin: 'skopeo', pkg: 'skopeo' }, { bin: 'umoci', pkg: 'umoci' }, { bin: '/bin/busybox', pkg: 'busybox-static' }]);
    const image = await makeOciImage(join(dir, 'plain'), { name: 'docker.io/inclavare/dec:latest', cmd: ['true'], files: { 'hello.txt': { content: 'decrypted content\n' } } });
    writeFileSync(join(dir, 'pub.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
    await runOk('skopeo', ['copy', '--encryption-key', `jwe:${join(dir, 'pub.pem')}`, `oci:${image.layout}:latest`, `oci:${join(dir, 'enc')}:latest`], { timeoutMs: 120_000 });
    const p = (await layoutLayers(image.layout)).layers[0]!;
    plain = readFileSync(join(image.layout, 'blobs', ...p.digest.split(':')));
    const e = (await layoutLayers(join(dir, 'enc'))).layers[0]!;
    descriptor = { mediaType: e.mediaType, digest: e.digest, size: e.size, annotations: e.annotations! };
    blob = readFileSync(join(dir, 'enc', 'blobs', ...e.digest.split(':')));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('decrypts the layer to the plain layer skopeo encrypted (same digest)', async () => {
    assert.ok(ENCRYPTED_MEDIA_TYPES.includes(descriptor.mediaType));
    const out = await decode(descriptor, blob, localUnwrap(ec.privateKey));
    assert.equal(createHash('sha256').update(out).digest('hex'), createHash('sha256').update(plain).digest('hex'));
  });

  it('an altered ciphertext byte: DECODER_ERR_INTEGRITY (HMAC), nothing written', async () => {
    for (const at of [0, Math.floor(blob.length / 2), blob.length - 1]) {
      const bad = Buffer.from(blob);
      bad[at]! ^= 0x01;
      const out = new PassThrough();
      let written = 0;
      out.on('data', (c: Buffer) => (written += c.length));
      await rejectsCode(
        decodeLayer({ mediaType: descriptor.mediaType, descriptor, input: Readable.from([bad]), output: out, unwrap: localUnwrap(ec.privateKey), stateDir: dir }),
        'DECODER_ERR_INTEGRITY',
        /HMAC does not match.*nothing was written/,
      );
      assert.equal(written, 0);
    }
    // A truncated layer too.
    await rejectsCode(decode(descriptor, blob.subarray(0, blob.length - 10), localUnwrap(ec.privateKey)), 'DECODER_ERR_INTEGRITY', /HMAC/);
  });

  it('an altered pubopts HMAC, a wrong cipher, a wrong media type, no key annotation: clear errors', async () => {
    const pub = JSON.parse(Buffer.from(descriptor.annotations[PUBOPTS_ANNOTATION]!, 'base64').toString('utf8')) as Record<string, unknown>;
    const withPub = (o: object): LayerDescriptor => ({ ...descriptor, annotations: { ...descriptor.annotations, [PUBOPTS_ANNOTATION]: Buffer.from(JSON.stringify(o)).toString('base64') } });
    await rejectsCode(decode(withPub({ ...pub, hmac: Buffer.alloc(32).toString('base64') }), blob, localUnwrap(ec.privateKey)), 'DECODER_ERR_INTEGRITY', /HMAC does not match/);
    await rejectsCode(decode(withPub({ ...pub, cipher: 'AES_128_GCM' }), blob, localUnwrap(ec.privateKey)), 'DECODER_ERR_LAYER', /cipher "AES_128_GCM" is not AES_256_CTR_HMAC_SHA256/);
    await rejectsCode(decode(descriptor, blob, localUnwrap(ec.privateKey), 'application/vnd.oci.image.layer.v1.tar+gzip'), 'DECODER_ERR_LAYER', /media type "application\/vnd.oci.image.layer.v1.tar\+gzip"/);
    await rejectsCode(decode({ ...descriptor, annotations: { [PUBOPTS_ANNOTATION]: descriptor.annotations[PUBOPTS_ANNOTATION]!, 'org.opencontainers.image.enc.keys.pgp': 'x' } }, blob, localUnwrap(ec.privateKey)), 'DECODER_ERR_LAYER', /no org.opencontainers.image.enc.keys.jwe .*keys.pgp/);
    await rejectsCode(decode({ ...descriptor, annotations: { ...descriptor.annotations, 'org.opencontainers.image.enc.keys.jwe': 'bm90IGpzb24=' } }, blob, localUnwrap(ec.privateKey)), 'DECODER_ERR_LAYER', /Cannot read the layer's org.opencontainers.image.enc.keys.jwe annotation/);
  });

  it('an unwrap failure (verdictd\'s refusal) is the error, not a read error', async () => {
    await assert.rejects(decode(descriptor, blob, () => Promise.reject(new Error('policy "default" denies: rule "measurement"'))), /rule "measurement"/);
  });

  it('payload: containerd\'s Any of imgcrypt\'s JSON Payload gives the descriptor; other types, empty and malformed payloads are DECODER_ERR_PAYLOAD', () => {
    const json = Buffer.from(JSON.stringify({ DecryptConfig: { Parameters: {} }, Descriptor: descriptor }));
    assert.deepEqual(parsePayload(encodeAny(PAYLOAD_TYPE_URL, json)), descriptor);
    const cases: [Buffer, RegExp][] = [
      [Buffer.alloc(0), /empty.*key_model = "node"/],
      [encodeAny('io.containerd.other.v1.Thing', json), /not imgcrypt's io.containerd.ocicrypt.v1.Payload/],
      [encodeAny(PAYLOAD_TYPE_URL, Buffer.from('{')), /not JSON/],
      [encodeAny(PAYLOAD_TYPE_URL, Buffer.from('{"Descriptor":{"digest":"x"}}')), /lacks "mediaType"/],
      [Buffer.from([0x0a, 0x7f, 0x41]), /runs past the end/],
      [Buffer.from([0x0b]), /wire type 3/],
    ];
    for (const [bytes, message] of cases) {
      assert.throws(() => parsePayload(bytes), (err: unknown) => isInclavareError(err, 'DECODER_ERR_PAYLOAD') && message.test(err.message));
    }
  });

  it('fuzz: decodeAny()/parsePayload() of any bytes return or throw DECODER_ERR_PAYLOAD', () => {
    const json = Buffer.from(JSON.stringify({ DecryptConfig: { Parameters: {} }, Descriptor: descriptor }));
    const valid = encodeAny(PAYLOAD_TYPE_URL, json);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
        const b = Buffer.from(valid);
        b[i]! ^= x;
        return b;
      }), fc.jsonValue().map((v) => encodeAny(PAYLOAD_TYPE_URL, Buffer.from(JSON.stringify(v) ?? '')))), (bytes) => {
        try {
          decodeAny(bytes);
          parsePayload(bytes);
        } catch (err) {
          assert.ok(isInclavareError(err, 'DECODER_ERR_PAYLOAD'), String(err));
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('inclavare-decoder as containerd runs it', () => {
  it('a failed decode exits before its stdout ends, so that containerd 1.6 reports our error and not "wrong diff id"', async () => {
    const cli = join(new URL('../../..', import.meta.url).pathname, 'dist/inclavare-decoder.mjs');
    assert.ok(readFileSync(cli).length > 0, 'dist/ is missing: run `npm run build` first');
    const child = spawn(process.execPath, [cli], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const order: string[] = [];
    await Promise.all([
      new Promise<void>((resolve) => child.once('exit', (code) => (order.push(`exit ${code}`), resolve()))),
      new Promise<void>((resolve) => child.stdout.on('data', () => undefined).once('end', () => (order.push('stdout end'), resolve()))),
    ]);
    assert.deepEqual(order, ['exit 2', 'stdout end']);
    assert.match(stderr, /^inclavare-decoder: Cannot unwrap without knowing which verdictd to trust/);
  });
});
