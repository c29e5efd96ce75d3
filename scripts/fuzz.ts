/**
 * The long fuzz runs (docs/security.md, "Fuzzing"): every target of test/fuzz/targets.ts, or one, for N inputs
 * each, one target after the other in this process. Prints inputs/s, the slowest input, the distinct
 * outcomes and memory per target; a crashing or hanging input is written to test/fuzz/corpus/<target>/
 * and the run exits 1 with the command that replays it. Usage: scripts/fuzz.sh --help.
 */
import { parseArgs } from 'node:util';
import { randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuzzTarget, judge, type RunResult } from '../test/fuzz/engine.ts';
import { TARGETS, targetNamed } from '../test/fuzz/targets.ts';

const USAGE = `Usage: scripts/fuzz.sh [--runs N] [--target NAME]... [--seed S] [--save-new K] [--list] [--replay FILE --target NAME]

Fuzzes the parsers of untrusted bytes (test/fuzz/targets.ts), one target after the other.
  --runs N       inputs per target (default 1000000)
  --target NAME  only this target (repeatable); --list shows them
  --seed S       PRNG seed (default: random, printed); the same seed replays the same inputs
  --save-new K   add up to K inputs that reached new outcomes to test/fuzz/corpus/<target>/
  --replay FILE  run one stored input through --target's oracle and print the outcome
Crashing and hanging inputs are written to test/fuzz/corpus/<target>/crash-<hash> (hang-<hash>);
npm run test:unit replays every stored input (test/unit/fuzz.test.ts).`;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000000' },
    target: { type: 'string', multiple: true },
    seed: { type: 'string' },
    'save-new': { type: 'string', default: '0' },
    list: { type: 'boolean', default: false },
    replay: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values.list) {
  for (const t of TARGETS) console.log(`${t.name.padEnd(20)} ${t.description}`);
  process.exit(0);
}
const runs = Number(values.runs);
if (!Number.isSafeInteger(runs) || runs < 1) {
  console.error(`fuzz: --runs ${values.runs} is not a positive integer\n${USAGE}`);
  process.exit(2);
}
const names = values.target ?? TARGETS.map((t) => t.name);
const unknown = names.filter((n) => targetNamed(n) === undefined);
if (unknown.length > 0) {
  console.error(`fuzz: unknown target ${unknown.join(', ')}; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

if (values.replay !== undefined) {
  if (names.length !== 1) {
    console.error('fuzz: --replay needs exactly one --target');
    process.exit(2);
  }
  const instance = await targetNamed(names[0]!)!.setup();
  const started = performance.now();
  const verdict = await judge(instance, new Uint8Array(readFileSync(values.replay)));
  await instance.close?.();
  console.log(verdict.ok ? `accepted outcome (${(performance.now() - started).toFixed(1)} ms): ${verdict.outcome}` : `CRASH: ${verdict.message}`);
  process.exit(verdict.ok ? 0 : 1);
}

const seed = values.seed === undefined ? randomInt(2 ** 31) : Number(values.seed);
console.log(`fuzz: ${names.length} target(s), ${runs} inputs each, seed ${seed}`);
const results: RunResult[] = [];
for (const name of names) {
  const target = targetNamed(name)!;
  console.log(`${name}: ${target.description}`);
  const r = await fuzzTarget(target, { runs, seed, log: (l) => console.log(l), saveNew: Number(values['save-new']) });
  results.push(r);
  console.log(
    `${name}: ${r.runs} inputs in ${r.seconds.toFixed(1)} s (${r.perSecond.toFixed(0)}/s), slowest ${r.slowestMs.toFixed(1)} ms (${r.slowestOutcome.slice(0, 100)}), ` +
      `${r.outcomes} outcomes, ${r.unconfirmedSlow} unconfirmed slow, heap ${r.heapStartMb.toFixed(0)} -> ${r.heapEndMb.toFixed(0)} MiB (max ${r.heapMaxMb.toFixed(0)}), rss max ${r.rssMaxMb.toFixed(0)} MiB: ${r.failures.length === 0 ? 'OK' : 'FAILED'}`,
  );
  const slowest = join(tmpdir(), `fuzz-slowest-${name}`);
  writeFileSync(slowest, r.slowestInput);
  console.log(`  slowest input: ${slowest} (replay: scripts/fuzz.sh --target ${name} --replay ${slowest})`);
  for (const [outcome, n] of [...r.counts].slice(0, 8)) console.log(`    ${String(n).padStart(8)}  ${outcome.slice(0, 140)}`);
  for (const f of r.failures) {
    console.log(`  ${f.kind}: ${f.message}`);
    if (f.file) console.log(`  replay: scripts/fuzz.sh --target ${name} --replay ${f.file}`);
  }
}
console.log('\nsummary (target, inputs, inputs/s, slowest ms, outcomes, result):');
for (const r of results) {
  console.log(`  ${r.target.padEnd(20)} ${String(r.runs).padStart(9)} ${r.perSecond.toFixed(0).padStart(7)}/s ${r.slowestMs.toFixed(1).padStart(8)} ms ${String(r.outcomes).padStart(5)}  ${r.failures.length === 0 ? 'OK' : 'FAILED'}`);
}
process.exit(results.some((r) => r.failures.length > 0) ? 1 : 0);
