/**
 * Property tests of the evidence registry: whatever bytes arrive (mutated real evidence of every TEE, random
 * bytes behind a plausible header, pure noise), detectTee() returns a TEE or null and verifyEvidence() returns
 * claims or throws InclavareError, quickly. Mutated evidence never verifies to different claims.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InclavareError } from '../../../src/errors/errors.ts';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import type { Claims } from '../../../src/attestation/claims.ts';
import { detectTee, TEE_TYPES, verifyEvidence, type VerifyEvidenceOptions } from '../../../src/attestation/verify-evidence.ts';
import { loadIntelVectors } from '../../support/intel-vectors.ts';
import { loadSnpVectorFiles, snpInputs } from '../../support/snp-vectors.ts';

const SLOW_MS = 1000;
const intel = (await loadIntelVectors()).filter((v) => v.expected.expected_result.verifies === true);
const snp = loadSnpVectorFiles();
const platform = generateKeyPairSync('ed25519');
const SIM_AT = new Date('2026-03-01T12:00:00.000Z');

interface Sample {
  name: string;
  bytes: Uint8Array;
  options: VerifyEvidenceOptions;
}

const samples: Sample[] = [
  ...intel.map((v) => ({ name: v.id, bytes: v.quote, options: { intelCollateral: v.collateral, at: v.at! } })),
  ...snp.map((v) => ({
    name: v.id,
    bytes: new Uint8Array(readFileSync(v.report)),
    options: { ...snpInputs(v), at: v.at },
  })),
  {
    name: 'sim',
    bytes: createSimEvidence({ measurement: new Uint8Array(48).fill(1), reportData: new Uint8Array(64).fill(2), platformKey: platform.privateKey, at: SIM_AT }),
    options: { simPlatformKeys: [platform.publicKey], at: SIM_AT },
  },
];

/** Runs `fn`; returns whether it returned; fails on anything but InclavareError or a slow call. */
function onlyTypedErrors(fn: () => unknown): boolean {
  const start = performance.now();
  let returned = true;
  try {
    fn();
  } catch (err) {
    if (!(err instanceof InclavareError)) throw err;
    assert.match(err.code, /^ATTEST_ERR_/);
    returned = false;
  }
  const ms = performance.now() - start;
  assert.ok(ms < SLOW_MS, `took ${ms.toFixed(0)} ms`);
  return returned;
}

/** Samples by index, so that a counterexample prints as a number, not as megabytes of collateral. */
const expected = new Map(samples.map((s) => [s, verifyEvidence(s.bytes, s.options)]));

const sampleArb = fc.nat({ max: samples.length - 1 }).map((i) => samples[i]!);
const teeArb = fc.constantFrom('auto' as const, ...TEE_TYPES);

describe('detectTee() and verifyEvidence() under random input', () => {
  test('every unmodified sample verifies (the positive control of the properties below)', () => {
    assert.equal(expected.size, samples.length);
    for (const s of samples) assert.equal(expected.get(s)?.tee, detectTee(s.bytes), s.name);
  });

  test('random byte edits of real evidence of every TEE only throw InclavareError, or verify to the unchanged claims', () => {
    fc.assert(
      fc.property(sampleArb, teeArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }), (s, tee, edits) => {
        const bad = s.bytes.slice();
        for (const [i, x] of edits) bad[i % bad.length] = bad[i % bad.length]! ^ x;
        if (Buffer.from(bad).equals(Buffer.from(s.bytes))) return;
        const detected = detectTee(bad);
        assert.ok(detected === null || TEE_TYPES.includes(detected));
        let claims: Claims | undefined;
        onlyTypedErrors(() => (claims = verifyEvidence(bad, { ...s.options, tee })));
        // Not every byte is signed: the PCK chain is PEM text in the quote, and a newline flipped into another
        // whitespace character decodes to the same certificates. Such an edit may verify, but only to exactly
        // the claims of the original evidence.
        if (claims !== undefined) assert.deepEqual(claims, expected.get(s));
      }),
      { numRuns: 400 },
    );
  });

  test('truncations and extensions of real evidence never throw anything but InclavareError', () => {
    fc.assert(
      fc.property(sampleArb, fc.nat(), fc.uint8Array({ maxLength: 64 }), (s, cut, tail) => {
        const truncated = s.bytes.subarray(0, cut % s.bytes.length);
        onlyTypedErrors(() => verifyEvidence(truncated, s.options));
        onlyTypedErrors(() => verifyEvidence(Uint8Array.from([...s.bytes, ...tail]), s.options));
      }),
      { numRuns: 200 },
    );
  });

  test('random bytes behind a real header, and pure noise, never throw anything but InclavareError', () => {
    fc.assert(
      fc.property(sampleArb, fc.nat({ max: 64 }), fc.uint8Array({ minLength: 0, maxLength: 2048 }), teeArb, (s, keep, noise, tee) => {
        const bytes = Uint8Array.from([...s.bytes.subarray(0, keep), ...noise]);
        detectTee(bytes);
        detectTee(noise);
        assert.equal(onlyTypedErrors(() => verifyEvidence(bytes, { ...s.options, tee })), false);
        assert.equal(onlyTypedErrors(() => verifyEvidence(noise, { ...s.options, tee })), false);
      }),
      { numRuns: 300 },
    );
  });

  test('an SNP-sized buffer with a valid version and random content never verifies', () => {
    const s = samples.find((x) => x.name === 'snp-v5-gcp-milan')!;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1184, maxLength: 1184 }), fc.constantFrom(2, 3, 5), (bytes, version) => {
        bytes.set([version, 0, 0, 0], 0);
        assert.equal(detectTee(bytes), 'snp');
        assert.equal(onlyTypedErrors(() => verifyEvidence(bytes, s.options)), false);
      }),
      { numRuns: 100 },
    );
  });
});
