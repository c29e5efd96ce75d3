/**
 * Every error code is declared once: each table made with defineErrorCodes() is found under src/, loaded, and
 * its codes checked (named `<AREA>_ERR_*` after the table's prefix, unique across all tables, one class each),
 * and every error in src/ is built through a table's factory (issue #11, item 3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { errorCodeTables, ERROR_MAPPINGS } from '../../../src/errors/errors.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The source files under src/ except src/errors/ (which defines the class and the table function). */
const sources = readdirSync(join(repo, 'src'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.ts') && !f.startsWith('errors/'))
  .map((f) => ({ file: f, text: readFileSync(join(repo, 'src', f), 'utf8') }));

/** The source files that define a table. */
const definers = sources.filter(({ text }) => /\bdefineErrorCodes\(\s*'/.test(text)).map(({ file }) => file);

/** Files still allowed to construct an InclavareError inline: none (every error goes through its area's table). */
const INLINE_ALLOWED = new Set<string>();

test('every error table is registered, once per area, with codes named <AREA>_ERR_* after its prefix', async () => {
  for (const f of definers) await import(pathToFileURL(join(repo, 'src', f)).href);
  const tables = errorCodeTables();
  const prefixes = tables.map((t) => t.prefix);
  assert.ok(tables.length >= definers.length, `tables: ${prefixes.join(', ')}`);
  for (const area of ['RATS_TLS_ERR', 'PAL_ERR', 'INCLAVARED_ERR', 'TEE_TOOLS_ERR', 'RUNE_ERR', 'ATTEST_ERR']) assert.ok(prefixes.includes(area), area);
  assert.deepEqual(prefixes, [...new Set(prefixes)], 'one table per area');
  for (const { prefix, table } of tables) {
    assert.match(prefix, /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_ERR$/, prefix);
    for (const [code, cls] of Object.entries(table)) {
      assert.ok(code.startsWith(`${prefix}_`) && /^[A-Z0-9_]+$/.test(code), `${code} in the ${prefix} table`);
      assert.ok(typeof cls === 'string' && cls in ERROR_MAPPINGS, `${code} has one class of the class table, not ${String(cls)}`);
    }
  }
});

test('a code is in exactly one table', async () => {
  for (const f of definers) await import(pathToFileURL(join(repo, 'src', f)).href);
  const seen = new Map<string, string>();
  for (const { prefix, table } of errorCodeTables()) {
    for (const code of Object.keys(table)) {
      assert.equal(seen.get(code), undefined, `${code} is in the ${seen.get(code)} and ${prefix} tables`);
      seen.set(code, prefix);
    }
  }
});

test('the exported code lists of the areas are all in their tables', async () => {
  const lists: Record<string, unknown>[] = [
    (await import('../../../src/rats-tls/codes.ts')).RATS_TLS_ERROR_CODES,
    (await import('../../../src/attestation-socket/codes.ts')).INCLAVARED_ERROR_CODES,
    (await import('../../../src/tee-tools/codes.ts')).TEE_TOOLS_ERROR_CODES,
  ];
  const attestation = await import('../../../src/attestation/index.ts');
  lists.push(attestation.INTEL_ERROR_CODES, attestation.AMD_ERROR_CODES, attestation.SIM_ERROR_CODES, attestation.EVIDENCE_ERROR_CODES);
  const pal = await import('../../../src/pal/codes.ts');
  lists.push(Object.fromEntries(Object.entries(pal).filter(([k]) => k.startsWith('PAL_ERR_'))));
  const all = new Set(errorCodeTables().flatMap((t) => Object.keys(t.table)));
  for (const list of lists) for (const code of Object.values(list)) assert.ok(all.has(code as string), String(code));
});

test('every error in src/ is built by its area\'s factory: no `new InclavareError(` outside src/errors/', () => {
  const inline = sources.filter(({ file, text }) => !INLINE_ALLOWED.has(file) && /\bnew InclavareError\(/.test(text)).map(({ file }) => file);
  assert.deepEqual(inline, [], 'use the area\'s factory (docs/errors.md, "Adding an error")');
  for (const file of INLINE_ALLOWED) assert.ok(sources.some((s) => s.file === file), `${file} is gone: drop it from INLINE_ALLOWED`);
});

test('every <AREA>_ERR_* code written in src/ is declared in a table', async () => {
  for (const f of definers) await import(pathToFileURL(join(repo, 'src', f)).href);
  const declared = new Set(errorCodeTables().flatMap((t) => Object.keys(t.table)));
  const written = new Set(sources.flatMap(({ text }) => [...text.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_ERR_[A-Z0-9_]+)'/g)].map((m) => m[1]!)));
  assert.ok(written.size > 50, `${written.size} codes found`);
  assert.deepEqual([...written].filter((code) => !declared.has(code)), []);
});
