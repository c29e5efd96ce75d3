// Property tests: any bytes given to parseSimEvidence()/verifySimEvidence() give a value or an InclavareError,
// quickly, and no change of signed evidence is ever accepted.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InclavareError } from '../../../src/errors/errors.ts';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { parseSimEvidence } from '../../../src/attestation/sim/parse.ts';
import { verifySimEvidence } from '../../../src/attestation/sim/verify.ts';

const platform = generateKeyPairSync('ed25519');
const AT = new Date('2026-03-01T12:00:00.000Z');
const SLOW_MS = 200;
const options = { trustedPlatformKeys: [platform.publicKey], at: AT };

/** Runs `fn`; returns whether it returned, and fails on anything but InclavareError or a slow call. */
function onlyTypedErrors(fn: () => unknown): boolean {
  const start = performance.now();
  let returned = true;
  try {
    fn();
  } catch (err) {
    if (!(err instanceof InclavareError)) throw err;
    assert.ok(err.code.startsWith('ATTEST_ERR_'), err.code);
    returned = false;
  }
  assert.ok(performance.now() - start < SLOW_MS, 'too slow');
  return returned;
}

const evidenceArb = fc
  .tuple(fc.uint8Array({ minLength: 48, maxLength: 48 }), fc.uint8Array({ maxLength: 64 }), fc.boolean())
  .map(([measurement, reportData, debug]) =>
    createSimEvidence({ measurement, reportData, platformKey: platform.privateKey, at: AT, debug }),
  );

void describe('sim evidence under random input', () => {
  void it('verifies every evidence createSimEvidence() makes from random measurements and report data', () => {
    fc.assert(
      fc.property(evidenceArb, (evidence) => {
        assert.equal(verifySimEvidence(evidence, options).tee, 'sim');
      }),
      { numRuns: 100 },
    );
  });

  void it('never accepts evidence with any byte changed, and only throws InclavareError', () => {
    fc.assert(
      fc.property(
        evidenceArb,
        fc.array(fc.tuple(fc.nat({ max: 241 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
        (evidence, edits) => {
          const bad = Uint8Array.from(evidence);
          for (const [i, x] of edits) bad[i] = (bad[i] ?? 0) ^ x;
          if (Buffer.from(bad).equals(Buffer.from(evidence))) return; // edits cancelled out
          assert.equal(onlyTypedErrors(() => verifySimEvidence(bad, options)), false);
        },
      ),
      { numRuns: 300 },
    );
  });

  void it('never throws anything but InclavareError for arbitrary bytes, with or without the magic', () => {
    const magic = Buffer.from('INCLSIM1\x00\x01', 'latin1');
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 400 }), (withMagic, tail) => {
        const bytes = withMagic ? Uint8Array.from([...magic, ...tail]) : tail;
        onlyTypedErrors(() => parseSimEvidence(bytes));
        assert.equal(onlyTypedErrors(() => verifySimEvidence(bytes, options)), false);
      }),
      { numRuns: 300 },
    );
  });
});
