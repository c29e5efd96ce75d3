/** src/x509/pem.ts: the one PEM decoder of bundles, CRLs and certificate inputs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeCertificates, pemDecodeAll, pemEncode, pemSplit } from '../../src/x509/pem.ts';

const a = Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x01]);
const b = Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x02]);
const bundle = `subject=A\n${pemEncode('CERTIFICATE', a)}junk\n${pemEncode('X509 CRL', b)}${pemEncode('CERTIFICATE', b)}`;
const err = (message: string): Error => new RangeError(message);

test('pemDecodeAll() returns every block of the label in order and ignores text and other labels', () => {
  assert.deepEqual(pemDecodeAll(bundle, 'CERTIFICATE'), [a, b]);
  assert.deepEqual(pemDecodeAll(bundle, 'X509 CRL'), [b]);
  assert.deepEqual(pemDecodeAll(bundle, 'PRIVATE KEY'), []);
});

test('pemDecodeAll() skips a block whose body is not base64 (lenient, as for bundles)', () => {
  assert.deepEqual(pemDecodeAll(`-----BEGIN CERTIFICATE-----\n*\n-----END CERTIFICATE-----\n${pemEncode('CERTIFICATE', a)}`, 'CERTIFICATE'), [a]);
});

test('pemSplit() keeps each block as text', () => {
  assert.deepEqual(pemSplit(bundle, 'CERTIFICATE'), [pemEncode('CERTIFICATE', a), pemEncode('CERTIFICATE', b)]);
});

test('decodeCertificates() takes DER bytes, PEM bytes and PEM text; rejects bad blocks with the caller\'s error', () => {
  assert.deepEqual(decodeCertificates(a, 'x', err), [a]);
  assert.deepEqual(decodeCertificates(Buffer.from(`\n ${pemEncode('CERTIFICATE', a)}${pemEncode('CERTIFICATE', b)}`), 'x', err), [a, b]);
  assert.deepEqual(decodeCertificates(bundle, 'x', err), [a, b]);
  assert.deepEqual(decodeCertificates('', 'x', err), []);
  assert.throws(() => decodeCertificates('-----BEGIN CERTIFICATE-----\n*\n-----END CERTIFICATE-----\n', 'the VCEK', err), /^RangeError: Cannot read the VCEK: a PEM block is not base64$/);
  assert.throws(() => decodeCertificates('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n', 'x', err), /a PEM block is empty/);
  assert.throws(() => decodeCertificates('hello', 'x', err), /no PEM CERTIFICATE block found/);
});

test('the PEM decoders give a value or the caller\'s error on any text (property)', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (text) => {
      const s = `${text}-----BEGIN CERTIFICATE-----${text}-----END CERTIFICATE-----`;
      pemDecodeAll(s, 'CERTIFICATE');
      pemSplit(s, 'CERTIFICATE');
      try {
        decodeCertificates(s, 'x', err);
      } catch (e) {
        assert.ok(e instanceof RangeError);
      }
    }),
    { numRuns: 1000 },
  );
});

void test('issue #16 - pemDecodeExact() takes only text made of PEM blocks of the label, with canonical base64 bodies', async () => {
  const { pemDecodeExact, pemEncode } = await import('../../src/x509/pem.ts');
  const a = pemEncode('CERTIFICATE', Buffer.from('first certificate bytes'));
  const b = pemEncode('CERTIFICATE', Buffer.from('second'));
  const ok = pemDecodeExact(`${a}\n${b}\r\n`, 'CERTIFICATE');
  assert.ok('ders' in ok && ok.ders.length === 2);
  const bad: [string, RegExp][] = [
    [`${a}junk`, /byte \d+ is not the start of a CERTIFICATE PEM block/],
    [a.replace('\n', '\v'), /byte 0 is not the start/],
    [a.replace('-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATF-----'), /not the start/],
    [pemEncode('CERTIFICATE', Buffer.from('x')).replace('eA==', 'eB=='), /not canonical base64/],
    [a.replace(/^(-----BEGIN CERTIFICATE-----\n)(.)/, '$1$2$2'), /not base64/],
    ['', /no CERTIFICATE PEM block/],
  ];
  for (const [text, message] of bad) {
    const r = pemDecodeExact(text, 'CERTIFICATE');
    assert.ok('error' in r && message.test(r.error), `${JSON.stringify(text.slice(0, 40))}: ${JSON.stringify(r)}`);
  }
});

void test('issue #16 - derStructureError() refuses lengths that do not match, bytes after the element and long-form lengths that could be short', async () => {
  const { derStructureError } = await import('../../src/x509/der.ts');
  const seq = (...parts: Buffer[]): Buffer => Buffer.concat([Buffer.from([0x30, Buffer.concat(parts).length]), ...parts]);
  const int = Buffer.from([0x02, 0x01, 0x05]);
  assert.equal(derStructureError(seq(int, seq(int))), undefined);
  assert.match(derStructureError(Buffer.concat([seq(int), Buffer.from([0])]))!, /1 bytes follow/);
  const short = seq(int, int);
  short[1] = 3; // the outer length says one integer; the second runs past it
  assert.match(derStructureError(short)!, /follow the outer element/);
  const inner = seq(seq(int, int));
  inner[3] = 4; // the inner SEQUENCE ends inside its second integer
  assert.match(derStructureError(inner)!, /do not exactly hold its parts/);
  assert.match(derStructureError(Buffer.from([0x30, 0x81, 0x03, ...int]))!, /not in its shortest form/);
});
