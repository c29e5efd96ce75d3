/** init-runelet's exec channel (src/init/exec-channel.ts) against a recording runtime, on a temp socket. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { execInPid1, parseExecRequest, serveExecChannel } from '../../../src/init/exec-channel.ts';
import type { EnclaveRuntime, PalProcessSpec } from '../../../src/pal/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'exec-channel-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A runtime whose processes end when killed, or with `exit` after `ms`. */
function recordingRuntime(exit = 0, ms = 20): EnclaveRuntime & { created: PalProcessSpec[]; kills: [number, number][] } {
  const created: PalProcessSpec[] = [];
  const kills: [number, number][] = [];
  const waiting = new Map<number, (code: number) => void>();
  return {
    name: '/pal/libtest.so',
    version: 3,
    created,
    kills,
    init: async () => undefined,
    createProcess: async (spec) => (created.push(spec), 1000 + created.length - 1),
    exec: (pid) =>
      new Promise((resolve) => {
        waiting.set(pid, resolve);
        if (ms >= 0) setTimeout(() => resolve(exit), ms);
      }),
    kill: async (pid, signal) => {
      kills.push([pid, signal]);
      waiting.get(pid)?.(128 + signal);
    },
    destroy: async () => undefined,
  };
}

function raw(path: string, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect(path, () => s.write(text));
    s.on('data', (c) => (got += c.toString()));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
}

void describe('exec channel', () => {
  test('parseExecRequest never throws and accepts only well-formed requests', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.record({ argv: fc.anything(), env: fc.anything(), cwd: fc.anything(), pid: fc.anything() }).map((r) => JSON.stringify(r))), (line) => {
        const r = parseExecRequest(line);
        if (typeof r !== 'string') assert.ok(r.argv.length > 0 && Number.isSafeInteger(r.pid));
      }),
      { numRuns: 5000 },
    );
    assert.equal(parseExecRequest('{"argv":[],"env":[],"cwd":"/","pid":5}'), 'argv must be a non-empty array of strings');
    assert.equal(parseExecRequest('[1]'), 'the request is not a JSON object');
  });

  test('runs a command with the caller\'s stdio in the given runtime, 0600, and reports its exit code', async () => {
    const runtime = recordingRuntime(7);
    const path = join(dir, 'a.sock');
    const channel = await serveExecChannel(path, runtime, (env) => env.concat('ADDED=1'));
    try {
      assert.equal(statSync(path).mode & 0o777, 0o600);
      // A real process whose stdio is /dev/null: the channel reopens it through /proc.
      const child = spawn('sleep', ['5'], { stdio: 'ignore' });
      const outcome = await execInPid1(path, { argv: ['/bin/tool', 'x'], env: ['A=1'], cwd: '/w', pid: child.pid! }, []);
      child.kill();
      assert.deepEqual(outcome, { exit: 7 });
      assert.deepEqual(runtime.created[0]!.argv, ['/bin/tool', 'x']);
      assert.deepEqual(runtime.created[0]!.env, ['A=1', 'ADDED=1']);
    } finally {
      channel.close();
    }
  });

  test('malformed input and stdio that cannot be reopened are refused by name; the server stays up', async () => {
    const runtime = recordingRuntime();
    const path = join(dir, 'b.sock');
    const channel = await serveExecChannel(path, runtime, (env) => env);
    try {
      assert.match(await raw(path, 'not json\n'), /"error":"the request is not JSON"/);
      assert.match(await raw(path, '{"argv":["x"],"env":[],"cwd":"/","pid":999999999}\n'), /cannot reach the exec's stdin/);
      // A process whose stdout is a socket (node's 'pipe' is a socketpair).
      const child = spawn('sleep', ['5'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const viaSocket = await execInPid1(path, { argv: ['x'], env: [], cwd: '/', pid: child.pid! }, []);
      child.kill();
      assert.deepEqual(viaSocket, { refused: "cannot reach the exec's stdout: it is a socket, which cannot be reopened" });
      assert.equal(runtime.created.length, 0);
      assert.match(await raw(path, 'x'.repeat(1 << 20) + 'y'), /over 1048576 bytes/);
    } finally {
      channel.close();
    }
  });

  test('a runelet that goes away takes its process with it (SIGKILL)', async () => {
    const runtime = recordingRuntime(0, -1);
    const path = join(dir, 'c.sock');
    const channel = await serveExecChannel(path, runtime, (env) => env);
    try {
      const child = spawn('sleep', ['5'], { stdio: ['ignore', 'ignore', 'ignore'] });
      const s = net.connect(path, () => s.write(`${JSON.stringify({ argv: ['x'], env: [], cwd: '/', pid: child.pid })}\n`));
      await new Promise<void>((resolve) => s.on('data', (c) => c.toString().includes('started') && resolve()));
      s.write('{"signal":15}\nnot json\n');
      await new Promise((r) => setTimeout(r, 50));
      s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      child.kill();
      assert.deepEqual(runtime.kills[0], [1000, 15]);
    } finally {
      channel.close();
    }
  });

  test('no channel: refused, naming PAL v1', async () => {
    const outcome = await execInPid1(join(dir, 'none.sock'), { argv: ['x'], env: [], cwd: '/', pid: 2 }, []);
    assert.ok('refused' in outcome && /PAL API v1/.test(outcome.refused));
  });
});
