/**
 * The layering rules of src/ (README "Layout"), checked on the import specifiers of every source file, static
 * and dynamic, so that a new file cannot quietly break them. eslint.config.js has the same rules for editors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = join(repo, 'src');

/** Every .ts file under src/, as a path relative to the repository. */
function sourceFiles(): string[] {
  return readdirSync(src, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join('src', f));
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** The import specifiers of a file, relative ones resolved to repository paths (`src/...`). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(repo, file), 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => {
    const spec = m[1]!;
    return spec.startsWith('.') ? relative(repo, resolve(repo, dirname(file), spec)) : spec;
  });
}

/** Finds the imports of files under `scope` (minus `except`) that `forbidden` matches: "file -> import" lines. */
function violations(scope: string, forbidden: (spec: string) => boolean, except: string[] = []): string[] {
  const out: string[] = [];
  for (const file of sourceFiles()) {
    if (!file.startsWith(scope) || except.some((e) => file.startsWith(e))) continue;
    for (const spec of importsOf(file)) if (forbidden(spec)) out.push(`${file} -> ${spec}`);
  }
  return out;
}

test('library code does not import inclavared internals (only src/inclavared/ and src/cli/ do)', () => {
  assert.deepEqual(violations('src/', (spec) => spec.startsWith('src/inclavared/'), ['src/inclavared/', 'src/cli/']), []);
});

test('init-runelet and rune share the enclave description through src/runelet/, not rune/enclave/description', () => {
  assert.deepEqual(violations('src/', (spec) => spec === 'src/rune/enclave/description.ts'), []);
});

test('the rule finds imports: a file that imports the daemon is reported', () => {
  assert.ok(violations('src/cli/', (spec) => spec.startsWith('src/inclavared/')).length > 0);
});

/** Node modules that do I/O (eslint.config.js has the same list). */
const IO_MODULES = ['fs', 'fs/promises', 'net', 'http', 'https', 'http2', 'child_process', 'dgram', 'dns', 'tls', 'worker_threads', 'cluster'];

test('src/attestation/ is pure: no node:fs/net/http/child_process imports, no collateral sources (only the package entry re-exports them)', () => {
  const io = (spec: string): boolean => IO_MODULES.includes(spec.replace(/^node:/, ''));
  const edge = (spec: string): boolean => /^src\/(collateral|tee-tools|cli|sys|inclavared)\//.test(spec);
  assert.deepEqual(violations('src/attestation/', (spec) => io(spec) || edge(spec), ['src/attestation/index.ts']), []);
});

test('src/attestation/ does not fetch', () => {
  const found = sourceFiles()
    .filter((f) => f.startsWith('src/attestation/'))
    .filter((f) => /\bfetch\s*\(|globalThis\.fetch|\bXMLHttpRequest\b|\bWebSocket\b/.test(readFileSync(join(repo, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')));
  assert.deepEqual(found, []);
});
