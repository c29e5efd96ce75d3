// scripts/setup.sh checks its prerequisites before it changes anything, and says what to do (exit 2).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { repoRoot } from '../support/fixtures.ts';

const work = mkdtempSync(join(tmpdir(), 'setup-script-'));
after(() => rmSync(work, { recursive: true, force: true }));
// A copy that any user can read (a checkout under /root is not), so the non-root case reaches the script.
chmodSync(work, 0o755);
mkdirSync(join(work, 'scripts'));
copyFileSync(join(repoRoot, 'scripts/setup.sh'), join(work, 'scripts/setup.sh'));
const SETUP = join(work, 'scripts/setup.sh');

/** A directory with fake `node` (printing `version`, failing the version check) and optionally `npm`. */
function fakeTools(name: string, opts: { node?: string; npm?: boolean }): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  if (opts.node !== undefined) {
    const major = Number(opts.node.slice(1).split('.')[0]);
    const minor = Number(opts.node.split('.')[1]);
    const ok = major > 20 || (major === 20 && minor >= 10);
    writeFileSync(join(dir, 'node'), `#!/bin/sh\n[ "$1" = --version ] && { echo ${opts.node}; exit 0; }\nexit ${ok ? 0 : 1}\n`);
    chmodSync(join(dir, 'node'), 0o755);
  }
  if (opts.npm) {
    writeFileSync(join(dir, 'npm'), '#!/bin/sh\necho 10.0.0\n');
    chmodSync(join(dir, 'npm'), 0o755);
  }
  return dir;
}

/** Runs setup.sh with PATH = `dir` plus the system directories without node (a copy of sh, id, grep...). */
function setup(path: string, uid?: number): { status: number | null; stderr: string; stdout: string } {
  const res = spawnSync('/bin/bash', [SETUP], {
    env: { PATH: path, HOME: work },
    encoding: 'utf8',
    timeout: 30_000,
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  return { status: res.status, stderr: res.stderr, stdout: res.stdout };
}

/** A bin directory with the tools setup.sh uses before its prerequisite checks, and no node or npm. */
function systemTools(): string {
  const dir = join(work, 'system');
  mkdirSync(dir, { recursive: true });
  for (const tool of ['id', 'dirname', 'grep', 'cat', 'sed', 'tail', 'env']) spawnSync('ln', ['-sf', `/usr/bin/${tool}`, join(dir, tool)]);
  return dir;
}

describe('scripts/setup.sh prerequisites', () => {
  const system = systemTools();

  test('refuses to run as another user than root, saying how to run it', () => {
    const res = setup(`${fakeTools('ok', { node: 'v20.20.0', npm: true })}:${system}`, 65534);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /setup: run me as root/);
  });

  test('names a missing Node.js and where to get Node 20', () => {
    const res = setup(system);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /Node\.js 20\.10 or newer is required, and there is no 'node' on PATH/);
    assert.match(res.stderr, /node_20\.x/);
  });

  test("refuses Debian's Node 18, naming the version found", () => {
    const res = setup(`${fakeTools('old', { node: 'v18.19.0', npm: true })}:${system}`);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /Node\.js 20\.10 or newer is required; 'node' on PATH is v18\.19\.0/);
  });

  test('refuses Node 20 older than 20.10', () => {
    const res = setup(`${fakeTools('early', { node: 'v20.9.0', npm: true })}:${system}`);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /is v20\.9\.0/);
  });

  test('names a missing npm', () => {
    const res = setup(`${fakeTools('nonpm', { node: 'v20.20.0' })}:${system}`);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /npm is required next to Node\.js v20\.20\.0, and there is no 'npm' on PATH/);
  });
});
