// The vectors in test/vectors are a verbatim copy of real evidence and collateral: never edited. SHA256SUMS
// pins every file (written once, when the set was copied in), so an accidental edit fails here by name.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VECTORS_ROOT } from '../support/vectors.ts';

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

describe('test/vectors', { skip: process.env.INCLAVARE_VECTORS ? 'INCLAVARE_VECTORS points elsewhere' : false }, () => {
  const sums = new Map(
    readFileSync(join(VECTORS_ROOT, 'SHA256SUMS'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const [digest, file] = line.split(/ {2}/);
        return [file!.replace(/^\.\//, ''), digest!] as const;
      }),
  );

  test('every vector file matches SHA256SUMS, and no file is missing or unlisted', () => {
    const onDisk = listFiles(VECTORS_ROOT)
      .map((file) => relative(VECTORS_ROOT, file))
      .filter((file) => file !== 'SHA256SUMS')
      .sort();
    assert.deepEqual(onDisk, [...sums.keys()].sort());
    for (const file of onDisk) {
      const digest = createHash('sha256').update(readFileSync(join(VECTORS_ROOT, file))).digest('hex');
      assert.equal(digest, sums.get(file), `${file} differs from the copy that was pinned: vectors are never edited`);
    }
  });

  test('the manifest of sources is there', () => {
    assert.match(readFileSync(join(VECTORS_ROOT, 'MANIFEST.md'), 'utf8'), /Attestation evidence test vectors/);
  });
});
