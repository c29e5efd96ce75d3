/**
 * init-runelet-sim (src/init/init-runelet-sim.c), the C PID 1 of sim enclave containers, run directly on a
 * control directory of a test (not as a PID 1: the conformance matrix in enclave-conformance.test.ts runs it
 * as one, through runc). What rune writes (encodeSimLaunch) is what it runs: program, args, env, cwd, limits,
 * the control-file protocol, the messages, and a damaged launch description refused with a status.
 * Needs dist/ (npm run build).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { repoRoot } from '../support/fixtures.ts';
import { encodeSimLaunch, SIM_LAUNCH_MAGIC } from '../../src/runelet/launch.ts';
import type { EnclaveDescription } from '../../src/runelet/description.ts';

const INIT = join(repoRoot, 'dist/init-runelet-sim');
const RLIMIT_EXEC = join(repoRoot, 'dist/rlimit-exec');

function description(over: Partial<EnclaveDescription['process']> = {}, extra: Partial<EnclaveDescription> = {}): EnclaveDescription {
  return {
    version: 1, id: 'c1', bundle: '/b', type: 'sim', runtime: 'sim', runtimeArgs: '', logLevel: 'info', measurement: 'sha384:00', created: '',
    process: { path: '/bin/sh', args: ['sh', '-c', 'exit 0'], env: ['PATH=/usr/bin:/bin'], cwd: '/', terminal: false, ...over },
    ...extra,
  };
}

/** A control directory with the start FIFO and `launch`, and a way to run init-runelet-sim on it. */
function controlDir(launch: Buffer): { dir: string; read(name: string): string | undefined; start(env?: NodeJS.ProcessEnv): ChildProcess & { out: string[]; err: string[] } } {
  const dir = mkdtempSync(join(tmpdir(), 'init-sim-'));
  spawnSync('mkfifo', ['-m', '600', join(dir, 'start')]);
  writeFileSync(join(dir, 'launch'), launch);
  return {
    dir,
    read: (name) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : undefined),
    start(env = { HOME: '/home/of-init' }) {
      const child = spawn(INIT, [dir], { env, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { out: string[]; err: string[] };
      child.out = [];
      child.err = [];
      child.stdout!.on('data', (d: Buffer) => child.out.push(d.toString()));
      child.stderr!.on('data', (d: Buffer) => child.err.push(d.toString()));
      return child;
    },
  };
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const exited = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));

/** Runs a launch to its end: ready, start byte, released, exit. */
async function runToEnd(launch: Buffer, env?: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string; exit: string | undefined; dir: string }> {
  const c = controlDir(launch);
  try {
    const child = c.start(env);
    const done = exited(child);
    await until('the ready status', () => c.read('status') !== undefined);
    assert.equal(c.read('status'), '{"state":"ready"}');
    assert.equal(c.read('released'), undefined, 'nothing is released before the start byte');
    writeFileSync(join(c.dir, 'start'), Buffer.from([1]));
    const { code } = await done;
    assert.equal(c.read('released'), '{}');
    return { code, out: child.out.join(''), err: child.err.join(''), exit: c.read('exit'), dir: c.dir };
  } finally {
    rmSync(c.dir, { recursive: true, force: true });
  }
}

test('runs the program of the launch description after the start byte: args, env (+ attestation socket, + HOME), cwd, exit code', async () => {
  const d = description(
    { path: '/bin/sh', args: ['sh', '-c', 'echo "$0|$1|$(pwd)|$A|$INCLAVARE_ATTESTATION_SOCKET|$HOME"; exit 7', 'one arg', 'two\nlines'], env: ['PATH=/bin', 'A=x=y'], cwd: '/tmp' },
    { attestationSocket: '/.rune/attest/s.sock' },
  );
  const r = await runToEnd(encodeSimLaunch(d, '/lib64/ld-linux-x86-64.so.2'));
  assert.equal(r.code, 7);
  assert.equal(r.out, 'one arg|two\nlines|/tmp|x=y|/.rune/attest/s.sock|/home/of-init\n');
  assert.equal(r.exit, '{"exitCode":7}');
  const own = await runToEnd(encodeSimLaunch(description({ args: ['sh', '-c', 'echo $HOME'], env: ['HOME=/mine'] }), '/ld'));
  assert.equal(own.out, '/mine\n', 'a HOME of the workload is kept');
  const none = await runToEnd(encodeSimLaunch(description({ args: ['sh', '-c', 'env | sort'], env: [] }), '/ld'));
  assert.equal(none.out.split('\n').filter((l) => !l.startsWith('PWD=')).join('\n'), 'HOME=/home/of-init\n', 'an empty env gets only HOME (and what sh sets itself)');
});

test('a bare program name is found in the workload\'s PATH; a missing or non-executable one fails as the sim runtime says', async () => {
  const found = await runToEnd(encodeSimLaunch(description({ path: 'sh', args: ['sh', '-c', 'exit 3'] }), '/ld'));
  assert.equal(found.code, 3);
  const missing = await runToEnd(encodeSimLaunch(description({ path: 'no-such-program', args: ['no-such-program'] }), '/ld'));
  assert.equal(missing.code, 1);
  assert.equal(missing.err, 'init-runelet: Cannot create process: entrypoint no-such-program in PATH does not exist\n');
  assert.equal(missing.exit, '{"exitCode":1}');
  const dir = mkdtempSync(join(tmpdir(), 'init-sim-prog-'));
  try {
    writeFileSync(join(dir, 'plain'), '#!/bin/sh\n', { mode: 0o644 });
    mkdirSync(join(dir, 'subdir'));
    const notExec = await runToEnd(encodeSimLaunch(description({ path: join(dir, 'plain'), args: ['plain'] }), '/ld'));
    assert.equal(notExec.err, `init-runelet: Cannot create process: entrypoint ${join(dir, 'plain')} is not executable\n`);
    const notFile = await runToEnd(encodeSimLaunch(description({ path: 'subdir', args: ['subdir'], cwd: dir, env: ['PATH=.'] }), '/ld'));
    assert.equal(notFile.err, 'init-runelet: Cannot create process: entrypoint subdir in PATH is not a regular file\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resource limits are set by the rlimit-exec command, on the workload only', async () => {
  const d = description({ args: ['sh', '-c', 'ulimit -Sn; ulimit -Hn'], rlimits: [{ resource: 7, soft: 40, hard: 50 }] });
  // encodeSimLaunch names the in-container loader and rlimit-exec; here rlimit-exec runs directly.
  const tokens = encodeSimLaunch(d, '/ld').toString('utf8').split('\0');
  const kept: string[] = [];
  for (let i = 1; i + 1 < tokens.length; i += 2) if (tokens[i] !== 'through') kept.push(tokens[i]!, tokens[i + 1]!);
  const launch = Buffer.from([SIM_LAUNCH_MAGIC, 'through', RLIMIT_EXEC, ...kept].map((t) => `${t}\0`).join(''));
  const r = await runToEnd(launch);
  assert.equal(r.out, '40\n50\n');
  assert.deepEqual(tokens.slice(tokens.indexOf('through'), tokens.indexOf('through') + 2), ['through', '/.rune/lib/ld']);
});

test('before the start byte TERM ends it with 143 and nothing runs; after it, a signal reaches the workload only when it handles it', async () => {
  const c = controlDir(encodeSimLaunch(description({ args: ['sh', '-c', 'echo must-not-run'] }), '/ld'));
  try {
    const child = c.start();
    const done = exited(child);
    await until('the ready status', () => c.read('status') !== undefined);
    child.kill('SIGTERM');
    assert.deepEqual(await done, { code: 143, signal: null });
    assert.equal(child.out.join(''), '');
    assert.equal(c.read('exit'), undefined);
  } finally {
    rmSync(c.dir, { recursive: true, force: true });
  }
  for (const [script, expected] of [
    ['trap "echo got-usr1" USR1; echo up; while :; do sleep 0.02; done', 'got-usr1'],
    ['echo up; sleep 0.5; echo still-here', 'still-here'],
  ] as const) {
    // The handler runs in a loop, so the script ends only by USR1 (trap) or by itself (no trap: not delivered, as to a PID 1).
    const body = script.startsWith('trap') ? script.replace('echo got-usr1', 'echo got-usr1; exit 5') : script;
    const c2 = controlDir(encodeSimLaunch(description({ args: ['sh', '-c', body] }), '/ld'));
    try {
      const child = c2.start();
      const done = exited(child);
      await until('the ready status', () => c2.read('status') !== undefined);
      writeFileSync(join(c2.dir, 'start'), Buffer.from([1]));
      await until('the workload to start', () => child.out.join('').includes('up'));
      await new Promise((r) => setTimeout(r, 50)); // the shell has set its trap before it echoed
      child.kill('SIGUSR1');
      const { code } = await done;
      assert.match(child.out.join(''), new RegExp(expected));
      assert.equal(code, script.startsWith('trap') ? 5 : 0);
    } finally {
      rmSync(c2.dir, { recursive: true, force: true });
    }
  }
});

test('a killed workload gives 128+n', async () => {
  const r = await runToEnd(encodeSimLaunch(description({ args: ['sh', '-c', 'kill -KILL $$'] }), '/ld'));
  assert.equal(r.code, 137);
  assert.equal(r.exit, '{"exitCode":137}');
});

test('a damaged or foreign launch description is refused in the status, naming the problem; nothing runs', async () => {
  const valid = encodeSimLaunch(description({ args: ['sh', '-c', 'echo ran'] }), '/ld');
  const cases: [string, Buffer, RegExp][] = [
    ['another format', Buffer.from('inclavare-init-sim/2\0path\0/bin/sh\0'), /not in the format this init-runelet-sim reads \(inclavare-init-sim\/1\): rebuild rune/],
    ['an unknown key', Buffer.concat([valid, Buffer.from('colour\0blue\0')]), /unknown key colour: rebuild rune/],
    ['a key without value', Buffer.concat([valid, Buffer.from('arg\0')]), /key arg has no value/],
    ['an unterminated last token', valid.subarray(0, valid.length - 1), /last token is not terminated/],
    ['no program', Buffer.from(`${SIM_LAUNCH_MAGIC}\0cwd\0/\0`), /lacks the program, its arguments or its working directory/],
    ['limits without rlimit-exec', Buffer.concat([valid, Buffer.from('rlimit\x007=1:1\0')]), /resource limits but no rlimit-exec command/],
    ['an empty file', Buffer.alloc(0), /not a regular file of 1 byte to 16 MiB/],
  ];
  for (const [what, launch, message] of cases) {
    const c = controlDir(launch);
    try {
      const child = c.start();
      const { code } = await exited(child);
      assert.equal(code, 1, what);
      const status = JSON.parse(c.read('status') ?? '{}') as { state: string; message: string };
      assert.equal(status.state, 'error', what);
      assert.match(status.message, message, what);
      assert.match(child.err.join(''), /^init-runelet: /, what);
      assert.doesNotMatch(child.out.join(''), /ran/, what);
    } finally {
      rmSync(c.dir, { recursive: true, force: true });
    }
  }
});

test('encodeSimLaunch refuses a NUL byte in what it passes, naming the field', () => {
  assert.throws(() => encodeSimLaunch(description({ args: ['sh', 'a\0b'] }), '/ld'), /process\.args\[1\] contains a NUL byte/);
  assert.throws(() => encodeSimLaunch(description({ env: ['A=\0'] }), '/ld'), /process\.env\[0\] contains a NUL byte/);
});

test('fuzz: random damage to a launch description never crashes init-runelet-sim (it reports an error or waits ready)', async () => {
  const valid = encodeSimLaunch(description({ args: ['sh', '-c', 'exit 0'], rlimits: [{ resource: 7, soft: 64, hard: 64 }] }, { timings: '/nonexistent/t.json' }), '/ld');
  for (let i = 0; i < 150; i++) {
    const bytes = Buffer.from(valid);
    const edits = 1 + (i % 4);
    for (let e = 0; e < edits; e++) bytes[randomBytes(4).readUInt32LE() % bytes.length] = randomBytes(1)[0]!;
    const cut = i % 5 === 0 ? bytes.subarray(0, randomBytes(4).readUInt32LE() % bytes.length + 1) : bytes;
    const c = controlDir(cut);
    try {
      const child = c.start();
      const done = exited(child);
      await until('a status', () => c.read('status') !== undefined || child.exitCode !== null || child.signalCode !== null);
      if (c.read('status') === '{"state":"ready"}') child.kill('SIGKILL');
      const { code, signal } = await done;
      assert.ok(signal === 'SIGKILL' || code === 1, `case ${i}: exit ${code} signal ${signal} for ${JSON.stringify(cut.toString('latin1'))}`);
      if (signal === null) assert.equal((JSON.parse(c.read('status') ?? '{}') as { state?: string }).state, 'error', `case ${i}`);
    } finally {
      rmSync(c.dir, { recursive: true, force: true });
    }
  }
});
