/** parseAttestedCertificate() on well-formed and malformed certificates, and under random input. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode, Tagged } from 'cborg';
import fc from 'fast-check';
import { InclavareError } from '../../../src/errors/errors.ts';
import { RATS_TLS_ERROR_CODES as E } from '../../../src/rats-tls/codes.ts';
import { OID_DICE_EVIDENCE, TAG_SIM_EVIDENCE } from '../../../src/rats-tls/format.ts';
import { parseAttestedCertificate } from '../../../src/rats-tls/parse.ts';
import { verifyAttestedCertificate } from '../../../src/rats-tls/verify.ts';
import { buildExtension } from '../../../src/x509/certificate.ts';
import { pemEncode } from '../../../src/x509/pem.ts';
import { AT, diceValue, forge, PLATFORM } from './forge.ts';

const SLOW_MS = 250;

/** Runs `fn`; fails on anything thrown but a RATS_TLS_ERR_* InclavareError, or on a slow call. */
function onlyTypedErrors(fn: () => unknown): void {
  const start = performance.now();
  try {
    fn();
  } catch (err) {
    if (!(err instanceof InclavareError)) throw err;
    assert.ok(err.code.startsWith('RATS_TLS_ERR_'), err.code);
  }
  assert.ok(performance.now() - start < SLOW_MS, 'too slow');
}

void describe('parseAttestedCertificate()', () => {
  void test('reads only the first CBOR item of the extension: trailing padding is ignored and the claims hash still matches', () => {
    const { der } = forge({ padding: new Uint8Array(16) });
    const v = verifyAttestedCertificate(der, { at: AT, evidence: { simPlatformKeys: [PLATFORM.publicKey] } });
    assert.equal(v.error, undefined);
    assert.equal(v.binding, 'valid');
  });

  void test('accepts PEM text, PEM bytes and DER alike', () => {
    const { der } = forge();
    const text = `junk before\n${pemEncode('CERTIFICATE', der)}`;
    for (const input of [der, text, new TextEncoder().encode(text)]) assert.equal(parseAttestedCertificate(input).format, 'dice');
  });

  void test('rejects an unknown CBOR tag with RATS_TLS_ERR_UNKNOWN_TAG', () => {
    assert.throws(() => parseAttestedCertificate(forge({ tag: 60001 }).der), { code: E.UNKNOWN_TAG });
  });

  void test('rejects an evidence array that is not [bstr, bstr]', () => {
    for (const value of [[Uint8Array.of(1)], [Uint8Array.of(1), 'x'], 'text']) {
      const extnValue = encode(new Tagged(TAG_SIM_EVIDENCE, value));
      assert.throws(() => parseAttestedCertificate(forge({ extnValue }).der), { code: E.MALFORMED });
    }
  });

  void test('rejects claims without pubkey-hash, with a non-bstr claim, with duplicate keys or with nested tags', () => {
    const claimsCases = [
      encode(new Map([['nonce', Uint8Array.of(1)]])),
      encode(new Map<string, unknown>([['pubkey-hash', encode([1, new Uint8Array(32)])], ['x', 5]])),
      Uint8Array.from([0xa2, 0x61, 0x61, 0x41, 0x00, 0x61, 0x61, 0x41, 0x00]),
      encode(new Map([['pubkey-hash', encode(new Tagged(1, [1]))]])),
    ];
    for (const claimsBytes of claimsCases) assert.throws(() => parseAttestedCertificate(forge({ claimsBytes }).der), { code: E.MALFORMED });
  });

  void test('rejects a certificate with the evidence extension twice', () => {
    const first = forge();
    const ext = buildExtension(OID_DICE_EVIDENCE, false, diceValue({}, first.key));
    assert.throws(() => parseAttestedCertificate(forge({ key: first.key, extensions: [ext, ext] }).der), { code: E.MALFORMED });
  });

  void test('a certificate without evidence extension is format none', () => {
    assert.equal(parseAttestedCertificate(forge({ extensions: [] }).der).format, 'none');
  });
});

void describe('parseAttestedCertificate() and verifyAttestedCertificate() under random input', () => {
  const good = forge().der;
  const options = { at: AT, evidence: { simPlatformKeys: [PLATFORM.publicKey] } };

  void test('random bytes give a value or a RATS_TLS_ERR_* error, and verification never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        onlyTypedErrors(() => parseAttestedCertificate(bytes));
        assert.equal(verifyAttestedCertificate(bytes, options).verified, false);
      }),
      { numRuns: 300 },
    );
  });

  void test('regression: changing any single byte of a valid certificate (+1 or +128), signed parts or not, stops it verifying', () => {
    // Found by the property below: the outer signatureAlgorithm's tag and the signature BIT STRING's
    // unused-bits byte are outside the signature, and were once accepted when changed.
    for (let index = 0; index < good.length; index++) {
      for (const delta of [1, 128]) {
        const der = Uint8Array.from(good);
        der[index] = (der[index]! + delta) & 0xff;
        assert.equal(verifyAttestedCertificate(der, options).verified, false, `byte ${index} + ${delta}`);
      }
    }
  });

  void test('no single-byte change of a valid certificate verifies, and none throws', () => {
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (index, delta) => {
        const der = Uint8Array.from(good);
        der[index] = (der[index]! + delta) & 0xff;
        onlyTypedErrors(() => parseAttestedCertificate(der));
        assert.equal(verifyAttestedCertificate(der, options).verified, false);
      }),
      { numRuns: 400 },
    );
  });

  void test('random evidence extension values give a typed error or a rejected certificate', () => {
    const key = forge().key;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          fc.uint8Array({ maxLength: 300 }).map((b) => Uint8Array.from([0xda, 0x00, 0x1a, 0x76, 0x00, ...b])),
          fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 64 })).map(([ev, cl]) => encode(new Tagged(TAG_SIM_EVIDENCE, [ev, cl]))),
        ),
        (extnValue) => {
          const der = forge({ key, extnValue }).der;
          onlyTypedErrors(() => parseAttestedCertificate(der));
          assert.equal(verifyAttestedCertificate(der, options).verified, false);
        },
      ),
      { numRuns: 150 },
    );
  });
});
