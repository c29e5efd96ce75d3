/** Strict request parsing: exactly the documented members, each of the documented form. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InclavareError, isInclavareError } from '../../../src/errors/errors.ts';
import { INCLAVARED_ERROR_CODES } from '../../../src/attestation-socket/codes.ts';
import { parseBindRequest, parseEvidenceRequest, parseRegisterRequest, parseStrictObject } from '../../../src/attestation-socket/requests.ts';

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text));
const M = 'ab'.repeat(48);
const badRequest = (err: unknown): boolean => isInclavareError(err, INCLAVARED_ERROR_CODES.BAD_REQUEST) && err.mapping.httpStatus === 400;

test('parseRegisterRequest() reads id, measurement (48 bytes hex, either case) and tee', () => {
  const r = parseRegisterRequest(bytes(JSON.stringify({ id: 'c1', measurement: M.toUpperCase(), tee: 'wasm' })));
  assert.equal(r.id, 'c1');
  assert.equal(r.tee, 'wasm');
  assert.equal(Buffer.from(r.measurement!).toString('hex'), M);
});

test('issue #15 - parseRegisterRequest() without a measurement is a pending registration; parseBindRequest() takes exactly 48 bytes', () => {
  const r = parseRegisterRequest(bytes(JSON.stringify({ id: 'c1', tee: 'sim' })));
  assert.equal(r.measurement, undefined);
  assert.equal(Buffer.from(parseBindRequest(bytes(JSON.stringify({ measurement: M })))).toString('hex'), M);
  for (const body of ['{}', JSON.stringify({ measurement: 'ab'.repeat(47) }), JSON.stringify({ measurement: M, id: 'c1' }), JSON.stringify({ measurement: 48 })]) {
    assert.throws(() => parseBindRequest(bytes(body)), badRequest, body);
  }
  assert.throws(() => parseRegisterRequest(bytes(JSON.stringify({ id: 'c1', tee: 'sim', measurement: '' }))), badRequest);
});

test('parseEvidenceRequest() reads 0 to 64 bytes of report data', () => {
  assert.equal(parseEvidenceRequest(bytes('{"reportData":""}')).reportData.length, 0);
  assert.equal(parseEvidenceRequest(bytes(JSON.stringify({ reportData: 'ff'.repeat(64) }))).reportData.length, 64);
});

for (const [name, body] of [
  ['a body that is not JSON', '{"reportData":'],
  ['a body that is not UTF-8', '\xff'],
  ['a JSON array', '["00"]'],
  ['JSON null', 'null'],
  ['a missing reportData', '{}'],
  ['reportData that is a number', '{"reportData":12}'],
  ['reportData with an odd number of digits', '{"reportData":"abc"}'],
  ['reportData with non-hex characters', '{"reportData":"zz"}'],
  ['reportData of 65 bytes', JSON.stringify({ reportData: '00'.repeat(65) })],
  ['a measurement next to reportData (a container asking for another measurement)', JSON.stringify({ reportData: '00', measurement: M })],
  ['a duplicate reportData member', '{"reportData":"00","reportData":"11"}'],
  ['a duplicate member spelled with an escape', '{"reportData":"00","report\\u0044ata":"11"}'],
  ['a __proto__ member', '{"reportData":"00","__proto__":"x"}'],
] as const) {
  test(`parseEvidenceRequest() rejects ${name} with a 400`, () => {
    const raw = name.includes('UTF-8') ? Uint8Array.from([0x7b, 0xff, 0x7d]) : bytes(body);
    assert.throws(() => parseEvidenceRequest(raw), badRequest);
  });
}

for (const [name, value] of [
  ['an unknown tee', { id: 'c', measurement: M, tee: 'sgx' }],
  ['a 32-byte measurement', { id: 'c', measurement: 'ab'.repeat(32), tee: 'sim' }],
  ['a missing tee', { id: 'c', measurement: M }],
  ['an extra member', { id: 'c', measurement: M, tee: 'sim', debug: 'true' }],
  ['an id that is not a string', { id: 7, measurement: M, tee: 'sim' }],
] as const) {
  test(`parseRegisterRequest() rejects ${name} with a 400`, () => {
    assert.throws(() => parseRegisterRequest(bytes(JSON.stringify(value))), badRequest);
  });
}

test('parseStrictObject() gives a value or a 400 for any bytes, quickly', () => {
  const anyBody = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.json().map(bytes),
    fc.dictionary(fc.constantFrom('reportData', 'measurement', 'x', '__proto__'), fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF') }), fc.integer())).map((o) => bytes(JSON.stringify(o))),
    fc.string({ unit: 'binary' }).map(bytes),
  );
  fc.assert(
    fc.property(anyBody, (body) => {
      const start = performance.now();
      try {
        const value = parseStrictObject(body, ['reportData']);
        assert.deepEqual(Object.keys(value), ['reportData']);
        assert.equal(typeof value.reportData, 'string');
      } catch (err) {
        if (!(err instanceof InclavareError)) throw err;
        assert.equal(err.code, INCLAVARED_ERROR_CODES.BAD_REQUEST);
      }
      assert.ok(performance.now() - start < 100);
    }),
    { numRuns: 1000 },
  );
});
