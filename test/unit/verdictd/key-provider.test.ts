// verdictd's ocicrypt key provider (src/verdictd/key-provider/): the protocol and annotation parsers (both
// annotation formats, bad input, 10^4 fuzzed payloads), WrapKey over gRPC on the management listener without a
// token, UnWrapKey refused there, and the attested route (EAA Decrypt) unwrapping what WrapKey wrapped.
import { strict as assert } from 'node:assert';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { Broker, type Attestation } from '../../../src/verdictd/broker.ts';
import { runCommand } from '../../../src/verdictd/eaa/commands.ts';
import { decryptBlobOf, parseAnnotation, wrapOptsData } from '../../../src/verdictd/key-provider/annotation.ts';
import { decodeProtocolMessage, encodeProtocolMessage, parseKeyProviderRequest } from '../../../src/verdictd/key-provider/protocol.ts';
import { startManagementServer, type ManagementServer } from '../../../src/verdictd/management/server.ts';
import { openEmbeddedStore, type EmbeddedStore } from '../../../src/verdictd/store/embedded.ts';
import { keyProviderCall, keyUnwrapInput, keyWrapInput } from '../../support/ocicrypt.ts';
import { fuzzRandom } from '../../support/verdictd-fuzz.ts';

const dir = mkdtempSync(join(tmpdir(), 'verdictd-key-provider-'));
const platform = generateKeyPairSync('ed25519');
const optsdata = Buffer.from(JSON.stringify({ symkey: randomBytes(32).toString('base64'), cipheroptions: { nonce: randomBytes(16).toString('base64') } }));

function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isInclavareError(err), String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('key provider: annotations', () => {
  const key = randomBytes(32);
  it('parseAnnotation() reads the EAA format verdictd writes, and its Decrypt blob is AES/256', () => {
    const a = parseAnnotation(wrapOptsData('0f6c0b6e-4f4a-4c1e-9a3b-2d7e8f9a0b1c', key, optsdata));
    assert.equal(a.format, 'eaa');
    assert.equal(a.iv.length, 12);
    assert.deepEqual({ ...decryptBlobOf(a), encrypted_data: '', iv: '' }, { kid: '0f6c0b6e-4f4a-4c1e-9a3b-2d7e8f9a0b1c', encrypted_data: '', iv: '', algorithm: 'AES', key_length: 256 });
  });
  it('parseAnnotation() reads the CoCo format (kbs:/// kid, wrap_type A256GCM)', () => {
    const text = JSON.stringify({ kid: 'kbs:///repo/key/one', wrapped_data: randomBytes(40).toString('base64'), iv: randomBytes(12).toString('base64'), wrap_type: 'A256GCM' });
    const a = parseAnnotation(Buffer.from(text));
    assert.equal(a.format, 'coco');
    assert.equal(decryptBlobOf(a).algorithm, 'A256GCM');
  });
  const cases: [string, string, RegExp][] = [
    ['an annotation that is not JSON', 'not json at all', /not JSON/],
    ['an annotation without a kid', JSON.stringify({ wrapped_data: 'AAAA', iv: 'AAAA' }), /"kid"/],
    ['a wrong iv length', JSON.stringify({ kid: 'k', wrapped_data: randomBytes(32).toString('base64'), iv: randomBytes(16).toString('base64'), algorithm: 'AES', key_length: 256 }), /iv is 16 bytes/],
    ['wrapped_data that is not base64', JSON.stringify({ kid: 'k', wrapped_data: '!!', iv: randomBytes(12).toString('base64') }), /not base64/],
    ['an unknown wrap_type', JSON.stringify({ kid: 'k', wrapped_data: 'AAAA', iv: 'AAAA', wrap_type: 'A128KW' }), /wrap_type/],
    ['AES-128', JSON.stringify({ kid: 'k', wrapped_data: 'AAAA', iv: 'AAAA', algorithm: 'AES', key_length: 128 }), /key_length 128/],
  ];
  for (const [what, text, message] of cases) {
    it(`parseAnnotation() refuses ${what} (VERDICTD_ERR_MALFORMED_REQUEST)`, () => throwsCode(() => parseAnnotation(Buffer.from(text)), 'VERDICTD_ERR_MALFORMED_REQUEST', message));
  }
  it('the protocol message round-trips, and other fields are skipped', () => {
    const json = Buffer.from(JSON.stringify(keyUnwrapInput(Buffer.from('x'))));
    assert.deepEqual(decodeProtocolMessage(encodeProtocolMessage(json)), json);
    assert.deepEqual(decodeProtocolMessage(Buffer.concat([Buffer.from([0x10, 0x05]), encodeProtocolMessage(json)])), json);
    throwsCode(() => decodeProtocolMessage(Buffer.from([0x0a, 0x80])), 'VERDICTD_ERR_MALFORMED_REQUEST');
  });
  it('fuzz: 10^4 payloads (random bytes, mutated requests and annotations) give a value or a typed error, never a crash', () => {
    const r = fuzzRandom(0x13c0de);
    const seeds = [
      Buffer.from(JSON.stringify(keyWrapInput('verdictd', '0f6c0b6e-4f4a-4c1e-9a3b-2d7e8f9a0b1c', optsdata))),
      Buffer.from(JSON.stringify(keyUnwrapInput(wrapOptsData('0f6c0b6e-4f4a-4c1e-9a3b-2d7e8f9a0b1c', key, optsdata)))),
      wrapOptsData('kbs:///a/b/c', key, optsdata, 'coco'),
    ];
    let values = 0;
    for (let i = 0; i < 10_000; i++) {
      const seed = seeds[r.int(seeds.length)]!;
      let input: Buffer;
      if (i % 4 === 0) input = r.bytes(r.int(200));
      else {
        input = Buffer.from(seed);
        for (let m = 1 + r.int(4); m > 0; m--) input[r.int(input.length)] = r.int(256);
        if (r.int(5) === 0) input = input.subarray(0, r.int(input.length));
      }
      for (const parse of [() => parseKeyProviderRequest(input), () => parseAnnotation(input), () => decodeProtocolMessage(input), () => parseKeyProviderRequest(decodeProtocolMessage(encodeProtocolMessage(input)))]) {
        try {
          parse();
          values++;
        } catch (err) {
          assert.ok(isInclavareError(err), `${String(err)} for ${input.toString('base64')}`);
        }
      }
    }
    assert.ok(values > 0);
  });
});

describe('key provider: WrapKey and UnWrapKey on the management listener, Decrypt over the attested route', () => {
  let store: EmbeddedStore;
  let broker: Broker;
  let server: ManagementServer;
  let kid = '';
  let attestation: Attestation;

  before(async () => {
    store = await openEmbeddedStore(dir, { init: true });
    broker = new Broker({ store });
    server = await startManagementServer({ store, broker, dataDir: dir, address: '127.0.0.1:0' });
    kid = (await store.createKey()).kid;
    await store.setResource('repo/key/one', randomBytes(32));
    await store.setTrust({ simPlatformKeys: [platform.publicKey.export({ type: 'spki', format: 'pem' }).toString()] });
    const measurement = createHash('sha384').update('unwrapping enclave').digest();
    const platformKeyId = createHash('sha256').update(platform.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    await store.setReferenceSet({ name: 'default', values: { measurement: [measurement.toString('hex')], platformKeyId: [platformKeyId] } });
    const evidence = createSimEvidence({ measurement, reportData: Buffer.alloc(64, 1), platformKey: platform.privateKey, at: new Date() });
    attestation = await broker.attest({ evidence, peer: { address: 'test', frontEnd: 'eaa' } });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const wrap = async (k: string): Promise<Buffer> => {
    const out = JSON.parse((await keyProviderCall(server.address, 'WrapKey', keyWrapInput('verdictd', k, optsdata))).toString('utf8')) as { keywrapresults: { annotation: string } };
    return Buffer.from(out.keywrapresults.annotation, 'base64');
  };
  const decrypt = async (annotation: Buffer): Promise<Record<string, unknown>> =>
    JSON.parse((await runCommand(JSON.stringify({ command: 'Decrypt', blobs: [decryptBlobOf(parseAnnotation(annotation))] }), { broker, attestation })).body) as Record<string, unknown>;

  it('WrapKey needs no token, answers an EAA annotation under the kid, and is audited; Decrypt by an attested enclave gives the optsdata back', async () => {
    const annotation = await wrap(kid);
    assert.equal(parseAnnotation(annotation).kid, kid);
    const answer = await decrypt(annotation);
    assert.equal(answer.status, 'OK', JSON.stringify(answer));
    assert.deepEqual(Buffer.from(Object.values(answer.data as Record<string, string>)[0]!, 'base64'), optsdata);
    assert.match(readFileSync(join(dir, 'audit.log'), 'utf8'), new RegExp(`"action":"key-wrap","kid":"${kid}","decision":"allow"`));
  });

  it('WrapKey of a resource kid (kbs:///repo/type/tag) answers the CoCo format, which Decrypt accepts', async () => {
    const annotation = await wrap('kbs:///repo/key/one');
    assert.equal(parseAnnotation(annotation).format, 'coco');
    assert.equal((await decrypt(annotation)).status, 'OK');
  });

  it('WrapKey of an unknown kid is NOT_FOUND, audited as an error; the server stays up', async () => {
    await assert.rejects(wrap('0f6c0b6e-4f4a-4c1e-9a3b-2d7e8f9a0b1c'), (err: Error & { code?: number }) => err.code === 5 && /Cannot find key/.test(err.message));
    assert.match(readFileSync(join(dir, 'audit.log'), 'utf8'), /"action":"key-wrap","kid":"0f6c0b6e-4f4a-4c1e-9a3b-2d7e8f9a0b1c","decision":"error"/);
    assert.ok((await wrap(kid)).length > 0);
  });

  it('tampered wrapped_data is VERDICTD_ERR_DECRYPT: nothing is released', async () => {
    const a = JSON.parse((await wrap(kid)).toString('utf8')) as { wrapped_data: string };
    const bytes = Buffer.from(a.wrapped_data, 'base64');
    bytes[0]! ^= 1;
    const answer = await decrypt(Buffer.from(JSON.stringify({ ...a, wrapped_data: bytes.toString('base64') })));
    assert.equal(answer.status, 'Fail');
    assert.equal(answer.code, 'VERDICTD_ERR_DECRYPT');
    assert.deepEqual(answer.data, {});
  });

  it('UnWrapKey on this plain connection is PERMISSION_DENIED pointing at the attested route, and audited as a denial', async () => {
    await assert.rejects(keyProviderCall(server.address, 'UnWrapKey', keyUnwrapInput(await wrap(kid))), (err: Error & { code?: number }) => err.code === 7 && /attested enclaves/.test(err.message));
    assert.match(readFileSync(join(dir, 'audit.log'), 'utf8'), /"action":"key-unwrap","decision":"deny","error":\{"code":"VERDICTD_ERR_UNWRAP_REFUSED"/);
  });

  it('fuzz: 1000 garbage and mutated WrapKey payloads get typed gRPC errors (never INTERNAL); the server stays up', async () => {
    const r = fuzzRandom(0x51ab);
    const seed = Buffer.from(JSON.stringify(keyWrapInput('verdictd', kid, optsdata)));
    for (let i = 0; i < 1000; i++) {
      const input = i % 2 === 0 ? r.bytes(r.int(100)) : Buffer.from(seed);
      if (i % 2 === 1) for (let m = 1 + r.int(3); m > 0; m--) input[r.int(input.length)] = r.int(256);
      const text = input.toString('latin1');
      try {
        await keyProviderCall(server.address, 'WrapKey', JSON.parse(JSON.stringify({ raw: text })) as object).catch(() => undefined);
        const json = (() => {
          try {
            return JSON.parse(text) as object;
          } catch {
            return { op: 'keywrap', keywrapparams: text };
          }
        })();
        await keyProviderCall(server.address, 'WrapKey', json);
      } catch (err) {
        assert.notEqual((err as { code?: number }).code, 13, String(err));
      }
    }
    assert.ok((await wrap(kid)).length > 0);
  });
});
