/**
 * The fuzz engine's oracle can fail (test/fuzz/engine.ts): a TypeError, an internal InclavareError and a
 * target's OracleViolation are crashes, an input over 1 s is a hang, a heap that grows at every sample is a
 * memory failure; InclavareError of other classes is an accepted rejection. And the mutators stay in bounds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verdictdError } from '../../src/verdictd/codes.ts';
import { runeError } from '../../src/rune/codes.ts';
import { derLengthOffsets, derMutator, fuzzTarget, GENERIC_MUTATORS, jsonMutator, OracleViolation, Rng, type FuzzTarget, type TargetInstance } from '../fuzz/engine.ts';


function target(run: TargetInstance['run'], extra: Partial<TargetInstance> = {}): FuzzTarget {
  return { name: 'engine-test', description: 'test', setup: async () => ({ seeds: [Uint8Array.of(1, 2, 3, 4)], run, ...extra }) };
}
const options = { runs: 300, seed: 7, saveCrashes: false, watchdog: false };

test('InclavareError of a non-internal class is an accepted outcome; the run completes', async () => {
  const r = await fuzzTarget(target((b) => {
    if (b.length % 2 === 0) throw verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `bad ${b.length}`);
    return 'odd';
  }), options);
  assert.deepEqual(r.failures, []);
  assert.equal(r.runs, 300);
  assert.ok(r.outcomes >= 2);
});

for (const [what, fail] of [
  ['a TypeError', () => { throw new TypeError('x.startsWith is not a function'); }],
  ['an internal InclavareError', () => { throw runeError('RUNE_ERR_STATE', 'oops'); }],
  ['an OracleViolation', () => { throw new OracleViolation('answered 500'); }],
  ['a rejected promise with a plain Error', () => Promise.reject(new Error('boom'))],
] as const) {
  test(`${what} is a crash, with the input`, async () => {
    const r = await fuzzTarget(target((b) => (b.length === 3 ? fail() : 'ok')), options);
    assert.equal(r.failures.length, 1);
    assert.equal(r.failures[0]!.kind, 'crash');
    assert.equal(r.failures[0]!.input!.length, 3);
  });
}

const busy = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

test('an input slower than 1 s, again when run alone, is a hang', async () => {
  const r = await fuzzTarget(target((b) => (b.length === 4 && b[0] === 1 && b[3] === 4 ? busy(1050) : undefined)), options);
  assert.equal(r.failures[0]?.kind, 'hang');
});

test('an input slow once but fast when run again is noted, not failed (a loaded machine)', async () => {
  let slow = true;
  const r = await fuzzTarget(target(() => {
    if (slow) busy(1050);
    slow = false;
  }), options);
  assert.deepEqual(r.failures, []);
  assert.equal(r.unconfirmedSlow, 1);
});

test('a heap that grows at every sample is a memory failure', async () => {
  const leak: Uint8Array[] = [];
  const r = await fuzzTarget(target(() => {
    leak.push(new Uint8Array(60_000).fill(1));
  }), { ...options, runs: 3000, sampleEvery: 100 });
  assert.equal(r.failures[0]?.kind, 'memory');
  leak.length = 0;
});

test('the mutators keep to maxLength and never change their argument', () => {
  const rng = new Rng(3);
  const seed = new TextEncoder().encode(JSON.stringify({ a: [1, 'x', { b: null }], c: 'd' }));
  const der = Uint8Array.of(0x30, 0x08, 0x02, 0x01, 0x05, 0x04, 0x03, 0x30, 0x01, 0x00);
  assert.equal(derLengthOffsets(der).length, 4);
  for (let i = 0; i < 5000; i++) {
    for (const input of [seed, der]) {
      const copy = input.slice();
      const m = [...GENERIC_MUTATORS, jsonMutator, derMutator][i % (GENERIC_MUTATORS.length + 2)]!;
      const out = m(input, rng, { other: () => der, dictionary: [Uint8Array.of(0x7b)], maxLength: 600 });
      assert.ok(out.length <= Math.max(600, input.length + 8), `${m.name}: ${out.length}`);
      assert.deepEqual(input, copy, m.name);
    }
  }
});
