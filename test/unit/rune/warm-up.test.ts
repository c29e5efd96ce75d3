/**
 * issue #15 - a pool worker's warm-up (src/rune/enclave/warm-up.ts) measures a tree through a throw-away digest
 * cache: it leaves nothing behind, never throws, and does not change what a later measurement gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { warmMeasurement } from '../../../src/rune/enclave/warm-up.ts';
import { exclusionList, treeDigest } from '../../../src/rune/enclave/tree-digest.ts';
import { nodeTreeReader } from '../../../src/sys/tree.ts';

test('warmMeasurement() removes its work directory, never throws, and a measurement after it is unchanged', async () => {
  const tree = mkdtempSync(join(tmpdir(), 'warm-tree-'));
  const scratch = mkdtempSync(join(tmpdir(), 'warm-scratch-'));
  try {
    mkdirSync(join(tree, 'a/big'), { recursive: true });
    writeFileSync(join(tree, 'a/one'), 'one\n');
    writeFileSync(join(tree, 'a/big/skipped'), Buffer.alloc(100_000, 1));
    const excluded = exclusionList([]);
    const digest = (await treeDigest(tree, { excluded, reader: nodeTreeReader })).digest;
    await warmMeasurement(tree, { workDir: join(scratch, 'w1'), skip: ['/a/big'], rounds: 3 });
    await warmMeasurement(join(tree, 'missing'), { workDir: join(scratch, 'w2') });
    // A work directory that cannot be made (no parent) is only a warm-up skipped.
    await warmMeasurement(tree, { workDir: join(scratch, 'no/parent') });
    assert.deepEqual(readdirSync(scratch), []);
    assert.equal((await treeDigest(tree, { excluded, reader: nodeTreeReader })).digest, digest);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(tree, { recursive: true, force: true });
  }
});

test('issue #15 - warmMeasurement() walks its shapes directories without reading their files (a 1 TB sparse file would take an hour) and skips the ones it cannot walk', { timeout: 60_000 }, async () => {
  const shapes = mkdtempSync(join(tmpdir(), 'warm-shapes-'));
  const scratch = mkdtempSync(join(tmpdir(), 'warm-scratch-'));
  try {
    mkdirSync(join(shapes, 'bin'));
    writeFileSync(join(shapes, 'bin/busybox'), 'not read\n');
    linkSync(join(shapes, 'bin/busybox'), join(shapes, 'bin/sh'));
    symlinkSync('busybox', join(shapes, 'bin/ls'));
    symlinkSync('/nowhere', join(shapes, 'dangling'));
    writeFileSync(join(shapes, 'huge'), '');
    truncateSync(join(shapes, 'huge'), 2 ** 40);
    // The measured tree is another one (the shapes walk reads no content; the measurement would read `huge`).
    const tree = join(shapes, 'bin');
    const started = Date.now();
    await warmMeasurement(tree, { workDir: join(scratch, 'w'), rounds: 1, shapes: [shapes, join(shapes, 'missing'), join(shapes, 'bin/busybox')] });
    assert.ok(Date.now() - started < 30_000, 'the warm-up read the sparse file');
    assert.deepEqual(readdirSync(scratch), []);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(shapes, { recursive: true, force: true });
  }
});
