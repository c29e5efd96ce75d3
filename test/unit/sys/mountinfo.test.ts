/** issue #15 item 2 - /proc/self/mountinfo parsing for the digest cache: fields, escapes, overlay options, junk lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import fc from 'fast-check';
import { makeDevice, parseMountInfo } from '../../../src/sys/mountinfo.ts';

test('parseMountInfo reads device, mount point (unescaped), type and super options; skips malformed lines', () => {
  const text = [
    '36 35 98:0 /mnt1 /mnt\\040point rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
    '88 30 0:88 / /var/lib/c/overlay/abc/merged rw,relatime - overlay overlay rw,lowerdir=l/AB:l/CD,upperdir=/var/lib/c/overlay/abc/diff,workdir=/var/lib/c/overlay/abc/work',
    'garbage line',
    '1 2 x:y / / rw - ext4 /dev/vda rw',
  ].join('\n');
  const mounts = parseMountInfo(text);
  assert.equal(mounts.length, 2);
  assert.deepEqual(mounts[0], { major: 98, minor: 0, mountPoint: '/mnt point', fsType: 'ext3', superOptions: ['rw', 'errors=continue'] });
  assert.equal(mounts[1]!.fsType, 'overlay');
  assert.ok(mounts[1]!.superOptions.includes('lowerdir=l/AB:l/CD'));
  assert.ok(mounts[1]!.superOptions.includes('upperdir=/var/lib/c/overlay/abc/diff'));
});

test('makeDevice gives the st_dev of this machine\'s root mount', () => {
  const root = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')).find((m) => m.mountPoint === '/');
  assert.ok(root !== undefined);
  assert.equal(makeDevice(root.major, root.minor), statSync('/', { bigint: true }).dev);
  assert.equal(makeDevice(0, 88), 88n);
  assert.equal(makeDevice(259, 1), (259n << 8n) | 1n);
});

test('parseMountInfo never throws (property)', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (text) => {
      for (const m of parseMountInfo(text)) assert.ok(m.mountPoint.startsWith('/'));
    }),
    { numRuns: 2000 },
  );
});
