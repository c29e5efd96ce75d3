/**
 * The suite's fuzz pass (docs/security.md, "Fuzzing"): every target of test/fuzz/targets.ts replays its stored
 * inputs (test/fuzz/corpus/<target>/: seeds and every crash found so far, the regression inputs) and then
 * runs 10^4 mutated inputs, with the same oracle as scripts/fuzz.sh: only InclavareError (not internal), no
 * input over 1 s, no steady heap growth. FUZZ_RUNS and FUZZ_SEED change the count and the seed (default 1,
 * so that a failure replays: scripts/fuzz.sh --target NAME --runs N --seed S).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fuzzTarget, judge, storedInputs } from '../fuzz/engine.ts';
import { TARGETS } from '../fuzz/targets.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 1);

void test('every target has a distinct name and the corpus holds only known targets', async () => {
  const names = TARGETS.map((t) => t.name);
  assert.equal(new Set(names).size, names.length);
  const { readdirSync, existsSync } = await import('node:fs');
  const { CORPUS_ROOT } = await import('../fuzz/engine.ts');
  if (existsSync(CORPUS_ROOT)) for (const dir of readdirSync(CORPUS_ROOT).filter((d) => d !== 'README.md')) assert.ok(names.includes(dir), `test/fuzz/corpus/${dir} is no target`);
});

for (const target of TARGETS) {
  void describe(`fuzz target ${target.name}`, () => {
    void test('every stored input (seeds, former crashes) is answered by the oracle within 1 s', async () => {
      const stored = storedInputs(target.name);
      if (stored.length === 0) return;
      const instance = await target.setup();
      try {
        for (const { name, bytes } of stored) {
          const started = performance.now();
          const verdict = await judge(instance, bytes);
          assert.ok(verdict.ok, `test/fuzz/corpus/${target.name}/${name}: ${verdict.ok ? '' : verdict.message}`);
          assert.ok(performance.now() - started < 1000, `test/fuzz/corpus/${target.name}/${name} took over 1 s`);
        }
      } finally {
        await instance.close?.();
      }
    });

    void test(`${RUNS} mutated inputs: no crash, hang or heap growth (seed ${SEED})`, async () => {
      const r = await fuzzTarget(target, { runs: RUNS, seed: SEED, saveCrashes: false, watchdog: false });
      const f = r.failures[0];
      assert.equal(
        f,
        undefined,
        f && `${f.kind}: ${f.message}\ninput (hex, first 2 KiB): ${Buffer.from(f.input ?? []).subarray(0, 2048).toString('hex')}\nreplay: scripts/fuzz.sh --target ${target.name} --runs ${RUNS} --seed ${SEED}`,
      );
      assert.equal(r.runs, RUNS);
      assert.ok(r.outcomes >= 2, `only ${r.outcomes} distinct outcome(s): the mutations do not reach the parsers`);
    });
  });
}
