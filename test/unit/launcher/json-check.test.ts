/**
 * The launcher's JSON validator (src/launcher/json-check.h) parses untrusted config.json bytes: it must agree
 * with JSON.parse on every input (JSON.parse over a strict UTF-8 decoding), never crash, never hang.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';

const here = new URL('.', import.meta.url).pathname;
let dir: string;
let driver: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'json-check-'));
  driver = join(dir, 'driver');
  execFileSync('cc', ['-O1', '-Wall', '-Werror', '-fsanitize=address,undefined', '-o', driver, join(here, 'json-check-driver.c')]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Validates many inputs in one run of the driver. */
function check(inputs: Uint8Array[]): boolean[] {
  const parts: Buffer[] = [];
  for (const input of inputs) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(input.length);
    parts.push(len, Buffer.from(input));
  }
  const out = execFileSync(driver, { input: Buffer.concat(parts), timeout: 60_000, maxBuffer: 1 << 24 }).toString();
  assert.equal(out.length, inputs.length);
  return [...out].map((c) => c === '1');
}

/** The reference: a strict UTF-8 decoding (no BOM stripping) followed by JSON.parse. */
function reference(input: Uint8Array): boolean {
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input));
    return true;
  } catch {
    return false;
  }
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('json_check() agrees with JSON.parse on hand-picked edge cases', () => {
  const cases = [
    '{}', '[]', ' {"a":1} ', '{"a":[1,2,{"b":null}],"c":true,"d":false}', '"\\u00e9\\n"', '-0', '0.5e+10', '1E-2',
    '{', '}', '[1,]', '{"a":1,}', '01', '1.', '.5', '-', '+1', 'tru', 'nul', '"\\x"', '"\\u12"', '"a\tb"',
    '{"a" 1}', '[1 2]', '', ' ', '{"a":1}x', '\ufeff{}', '"\u00e9"', '[[[[[]]]]]', '{"a":{"b":{"c":[]}}}',
    'NaN', 'Infinity', '"\\ud800"', '1e', '[-]', '{"\\u0041":1}',
  ];
  const inputs = cases.map(enc);
  inputs.push(Uint8Array.from([0x22, 0xc3, 0x28, 0x22])); // invalid UTF-8 in a string
  inputs.push(Uint8Array.from([0x22, 0xed, 0xa0, 0x80, 0x22])); // UTF-8-encoded surrogate
  inputs.push(Uint8Array.from([0x22, 0xc0, 0xaf, 0x22])); // overlong
  const got = check(inputs);
  inputs.forEach((input, i) => assert.equal(got[i], reference(input), `input ${JSON.stringify(Buffer.from(input).toString('latin1'))}`));
});

test('json_check() accepts every JSON text that JSON.stringify produces', () => {
  const values = fc.sample(fc.jsonValue({ maxDepth: 6 }), 400);
  const inputs = values.flatMap((v) => [enc(JSON.stringify(v)), enc(JSON.stringify(v, null, '\t'))]);
  assert.ok(check(inputs).every(Boolean));
});

test('json_check() agrees with JSON.parse on mutated and random inputs (property)', () => {
  const mutated = fc
    .tuple(fc.jsonValue({ maxDepth: 4 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
    .map(([v, edits]) => {
      const bytes = enc(JSON.stringify(v));
      for (const [pos, byte] of edits) if (bytes.length > 0) bytes[pos % bytes.length] = byte;
      return bytes;
    });
  const truncated = fc.jsonValue({ maxDepth: 4 }).chain((v) => {
    const bytes = enc(JSON.stringify(v));
    return fc.nat(bytes.length).map((n) => bytes.slice(0, n));
  });
  const random = fc.uint8Array({ maxLength: 64 });
  const samples = [...fc.sample(mutated, 2000), ...fc.sample(truncated, 1000), ...fc.sample(random, 1000)];
  const got = check(samples);
  samples.forEach((input, i) => assert.equal(got[i], reference(input), `input ${Buffer.from(input).toString('hex')}`));
});

test('json_check() rejects nesting deeper than its limit instead of exhausting the stack', () => {
  const deep = enc('['.repeat(100_000) + ']'.repeat(100_000));
  const ok = enc('['.repeat(200) + ']'.repeat(200));
  assert.deepEqual(check([deep, ok]), [false, true]);
});
