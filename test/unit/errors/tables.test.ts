/**
 * Every error code is declared once: each table made with defineErrorCodes() is found under src/, loaded, and
 * its codes checked (named `<AREA>_ERR_*` after the table's prefix, unique across all tables).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { errorCodeTables, ERROR_MAPPINGS } from '../../../src/errors/errors.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The source files that define a table (src/errors/ only defines the function). */
const definers = readdirSync(join(repo, 'src'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.ts') && !f.startsWith('errors/'))
  .filter((f) => /\bdefineErrorCodes\(\s*'/.test(readFileSync(join(repo, 'src', f), 'utf8')));

test('every error table is registered, once per area, with codes named <AREA>_ERR_* after its prefix', async () => {
  for (const f of definers) await import(pathToFileURL(join(repo, 'src', f)).href);
  const tables = errorCodeTables();
  assert.ok(tables.length >= definers.length && definers.length >= 5, `tables: ${tables.map((t) => t.prefix).join(', ')}`);
  const prefixes = tables.map((t) => t.prefix);
  assert.deepEqual(prefixes, [...new Set(prefixes)], 'one table per area');
  for (const { prefix, table } of tables) {
    assert.match(prefix, /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_ERR$/, prefix);
    for (const [code, cls] of Object.entries(table)) {
      assert.ok(code.startsWith(`${prefix}_`) && /^[A-Z0-9_]+$/.test(code), `${code} in the ${prefix} table`);
      assert.ok(typeof cls === 'string' && cls in ERROR_MAPPINGS, `${code}: ${String(cls)}`);
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
  const pal = await import('../../../src/pal/codes.ts');
  lists.push(Object.fromEntries(Object.entries(pal).filter(([k]) => k.startsWith('PAL_ERR_'))));
  const all = new Set(errorCodeTables().flatMap((t) => Object.keys(t.table)));
  for (const list of lists) for (const code of Object.values(list)) assert.ok(all.has(code as string), String(code));
});
