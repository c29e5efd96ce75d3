/**
 * Property tests (fast-check) of the quote parser and the verifier on untrusted bytes: random byte
 * mutations, truncations, insertions and splices of every vector give a value or an InclavareError, never
 * another exception, and finish quickly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { parseIntelQuote } from '../../../src/attestation/intel/quote.ts';
import { verifyIntelQuote } from '../../../src/attestation/intel/verify.ts';
import { loadIntelVectors } from '../../support/intel-vectors.ts';

const vectors = await loadIntelVectors();

/** A mutation of `base`: byte overwrites, a truncation, an insertion, or all of them. */
function mutated(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = base.length;
  const overwrite = fc
    .array(fc.tuple(fc.nat({ max: n - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })
    .map((edits) => {
      const out = base.slice();
      for (const [i, b] of edits) out[i] = b;
      return out;
    });
  const truncate = fc.nat({ max: n }).map((len) => base.slice(0, len));
  const insert = fc.tuple(fc.nat({ max: n }), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([i, ins]) => {
    const out = new Uint8Array(n + ins.length);
    out.set(base.subarray(0, i));
    out.set(ins, i);
    out.set(base.subarray(i), i + ins.length);
    return out;
  });
  // Length fields are the parser's main attack surface: write random u16/u32 values at field-aligned offsets.
  const lengths = fc.tuple(fc.nat({ max: Math.floor((n - 4) / 2) }), fc.constantFrom(0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff)).map(([k, v]) => {
    const out = base.slice();
    new DataView(out.buffer).setUint32(Math.min(k * 2, n - 4), v >>> 0, true);
    return out;
  });
  return fc.oneof(overwrite, truncate, insert, lengths);
}

for (const v of vectors) {
  void test(`parseIntelQuote() and verifyIntelQuote() throw only InclavareError on random mutations of ${v.id}`, () => {
    const at = v.at ?? new Date('2025-01-01T00:00:00Z');
    fc.assert(
      fc.property(mutated(v.quote), (bytes) => {
        const started = performance.now();
        for (const call of [() => parseIntelQuote(bytes), () => verifyIntelQuote(bytes, { collateral: v.collateral, at })]) {
          try {
            call();
          } catch (err) {
            if (!isInclavareError(err)) throw err;
          }
        }
        assert.ok(performance.now() - started < 250, 'one input took more than 250 ms');
      }),
      { numRuns: 60 },
    );
  });
}

void test('parseIntelQuote() throws only ATTEST_ERR_MALFORMED or ATTEST_ERR_UNSUPPORTED_VERSION on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
      try {
        parseIntelQuote(bytes);
      } catch (err) {
        assert.ok(isInclavareError(err));
        assert.ok(['ATTEST_ERR_MALFORMED', 'ATTEST_ERR_UNSUPPORTED_VERSION'].includes(err.code), err.code);
      }
    }),
    { numRuns: 500 },
  );
});

void test('parseIntelQuote() throws only its two codes on mutated quotes, whatever the mutation', () => {
  for (const v of vectors.slice(0, 4)) {
    fc.assert(
      fc.property(mutated(v.quote), (bytes) => {
        try {
          parseIntelQuote(bytes);
        } catch (err) {
          assert.ok(isInclavareError(err));
          assert.ok(['ATTEST_ERR_MALFORMED', 'ATTEST_ERR_UNSUPPORTED_VERSION'].includes(err.code), err.code);
        }
      }),
      { numRuns: 200 },
    );
  }
});
