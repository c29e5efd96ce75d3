/**
 * issue #15 item 2 - `inclavared cache list|prune` on a real digest cache: list shows the volumes rune wrote
 * and marks a damaged file; prune removes the damaged file and stale temporary files (not fresh ones), then
 * evicts to --max-mb; --all empties the store; a bad --max-mb is a usage error (exit 2).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DigestCache } from '../../../src/rune/enclave/digest-cache.ts';
import { measureWorkload } from '../../../src/rune/enclave/measurement.ts';
import { linuxSys } from '../../../src/sys/linux.ts';
import { repoRoot } from '../../support/fixtures.ts';

let tmp = '';
let cacheDir = '';
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'inclavared-cache-'));
  cacheDir = join(tmp, 'cache');
  const cache = new DigestCache({ dir: cacheDir, maxBytes: 1 << 30, racyMarginNs: 0n, now: () => BigInt(Date.now() + 10_000) * 1_000_000n });
  for (const name of ['one', 'two', 'three']) {
    const root = join(tmp, name);
    mkdirSync(join(root, 'bin'), { recursive: true });
    writeFileSync(join(root, 'bin/app'), name.repeat(1000));
    await measureWorkload(
      { type: 'sim', runtime: 'sim', runtimeArgs: '', rootfs: root, mounts: [], entrypoint: { inContainer: '/bin/app', host: join(root, 'bin/app') }, args: ['/bin/app'], env: [], cwd: '/' },
      linuxSys(),
      { cache },
    );
  }
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const inclavared = (args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/inclavared.ts'), 'cache', ...args, '--cache-dir', cacheDir], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('cache list shows every volume; cache prune removes damaged and stale temporary files, then evicts to --max-mb, --all empties', () => {
  const digests = join(cacheDir, 'digests');
  writeFileSync(join(digests, `${'0'.repeat(64)}.v1`), 'not a volume file');
  const stale = join(digests, `${'1'.repeat(64)}.v1.tmp-1-aaaaaaaaaaaa`);
  const fresh = join(digests, `${'2'.repeat(64)}.v1.tmp-2-bbbbbbbbbbbb`);
  writeFileSync(stale, 'x');
  writeFileSync(fresh, 'x');
  utimesSync(stale, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));

  const listed = inclavared(['list', '--json']);
  assert.equal(listed.status, 0, listed.stderr);
  const entries = JSON.parse(listed.stdout) as { volume: string; intact: boolean; temporary: boolean; entries: number }[];
  assert.equal(entries.filter((e) => e.intact).length, 3);
  for (const name of ['one', 'two', 'three']) assert.ok(entries.some((e) => e.intact && e.volume.endsWith(join(tmp, name)) && e.entries === 1), name);
  assert.equal(entries.filter((e) => !e.intact && !e.temporary).length, 1);
  const text = inclavared(['list']);
  assert.match(text.stdout, /6 files/);
  assert.match(text.stdout, /damaged/);

  const pruned = inclavared(['prune']);
  assert.equal(pruned.status, 0, pruned.stderr);
  assert.match(pruned.stdout, /removed 2 files/);
  const left = readdirSync(digests);
  assert.equal(left.length, 4, left.join(' '));
  assert.ok(left.includes(fresh.split('/').pop()!), 'a temporary file being written stays');

  assert.match(inclavared(['prune', '--max-mb', '0.0001']).stdout, /removed \d+ files/);
  assert.ok(readdirSync(digests).length < 4);
  assert.equal(inclavared(['prune', '--all']).status, 0);
  assert.deepEqual(readdirSync(digests).filter((f) => f.endsWith('.v1')), []);

  const bad = inclavared(['prune', '--max-mb', 'lots']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /Invalid --max-mb "lots"/);
});
