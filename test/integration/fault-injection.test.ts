/**
 * Fault injection (issue #16, item 3; docs/security.md "Fault injection"): rune, init-runelet and inclavared
 * are killed with SIGKILL at each named step of create, start, exec and delete (the RUNE_FAULT test hook,
 * src/util/fault.ts) or from outside at any time, for plain, sim and wasm containers, through the launcher
 * and through Node.js. After each crash `rune list` must agree with what exists (processes, cgroups, mounts,
 * state dirs, inclavared registrations and sockets: test/support/consistency.ts), `rune delete --force`
 * must remove every leftover, and two unrelated containers running throughout (a plain one and a sim one)
 * must be untouched.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBundle, makeBusyboxRootfs } from '../support/busybox.ts';
import { inclavaredEnv, isAlive, stopInclavared, waitFor } from '../support/fixtures.ts';
import { consistencyProblems, inspectContainer, leftovers, orphanSocketDirs, runeList, type ContainerReality, type RuneSetup } from '../support/consistency.ts';
import { assemble, helloWat } from '../unit/pal/wasi-programs.ts';

const repo = new URL('../..', import.meta.url).pathname;
const RUNE = join(repo, 'dist/rune');

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

type Kind = 'plain' | 'sim' | 'wasm';
const ENV: Record<Kind, string[]> = {
  plain: [],
  sim: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'],
  wasm: ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm'],
};

let work: string;
let rootfs: string;
let wasmRootfs: string;
let setup: RuneSetup;
let calls = 0;
let n = 0;

/** Runs rune with stdout/stderr in files (a created container keeps its stdio open); `env` is added to the test's. */
function rune(args: string[], env: Record<string, string> = {}): Result {
  const out = join(work, `out-${++calls}`);
  const err = join(work, `err-${calls}`);
  const outFd = openSync(out, 'w');
  const errFd = openSync(err, 'w');
  try {
    const res = spawnSync(RUNE, ['--root', setup.root, ...args], { cwd: work, timeout: 90_000, stdio: ['ignore', outFd, errFd], env: { ...process.env, ...env } });
    return { code: res.status, signal: res.signal, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
    rmSync(out, { force: true });
    rmSync(err, { force: true });
  }
}

function ok(res: Result, what: string): Result {
  assert.equal(res.code, 0, `${what}: exit ${res.code ?? res.signal}\n${res.stderr}`);
  return res;
}

/** A bundle of `kind` running a long sleep (longer than the whole file's run: the bystanders must outlive it) (sim, plain) or a wasm module that exits 3 at once. */
function bundle(kind: Kind, options: { env?: string[]; args?: string[] } = {}): string {
  const args = options.args ?? (kind === 'wasm' ? ['/exit3.wasm'] : ['sleep', '100000']);
  return makeBundle(join(work, `bundle-${++n}`), { rootfs: kind === 'wasm' ? wasmRootfs : rootfs, args, env: [...ENV[kind], ...(options.env ?? [])] });
}

function status(id: string): string | undefined {
  return runeList(setup).find((c) => c.id === id)?.status;
}

async function inspect(id: string): Promise<ContainerReality> {
  return inspectContainer(setup, id, { bundles: [join(work, `bundle-${n}`)] });
}

/** `rune list` agrees with the machine for `id`, and every state dir with runc state is listed. */
async function assertConsistent(id: string, context: string): Promise<ContainerReality> {
  const reality = await inspect(id);
  assert.deepEqual(consistencyProblems(reality, { attested: true }), [], `${context}: ${JSON.stringify(reality)}`);
  const listed = new Set(runeList(setup).map((c) => c.id));
  const unlisted = readdirSync(setup.root).filter((d) => existsSync(join(setup.root, d, 'runc', d, 'state.json')) && !listed.has(d));
  assert.deepEqual(unlisted, [], `${context}: containers with runc state that rune list leaves out`);
  return reality;
}

/** `rune delete --force` succeeds and nothing of the container is left. */
async function assertDeletedClean(id: string, context: string): Promise<void> {
  ok(rune(['delete', '--force', id]), `${context}: delete --force`);
  await assertGone(id, context);
}

async function assertGone(id: string, context: string): Promise<void> {
  // runc kills with SIGKILL and removes the cgroup at delete; the last exit can take a moment to show.
  let left: string[] = [];
  for (let i = 0; i < 40; i++) {
    left = leftovers(await inspect(id));
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(left, [], `${context}: left behind`);
  assert.deepEqual(orphanSocketDirs(setup.inclavaredRoot), [], `${context}: orphan attestation socket dirs`);
}

/** The two containers that run throughout and must never be touched. */
const bystanders: { id: string; pid: number; cgroups: string[]; key?: string }[] = [];

async function assertBystandersIntact(context: string): Promise<void> {
  const listed = runeList(setup);
  for (const b of bystanders) {
    const c = listed.find((l) => l.id === b.id);
    assert.equal(c?.status, 'running', `${context}: bystander ${b.id} is ${c?.status ?? 'gone'}`);
    assert.equal(c.pid, b.pid, `${context}: bystander ${b.id} has another pid`);
    const r = await inspect(b.id);
    assert.deepEqual(r.cgroups, b.cgroups, `${context}: bystander ${b.id}'s cgroups changed`);
    assert.ok(r.processes.includes(b.pid), `${context}: bystander ${b.id}'s init left its cgroup`);
    assert.deepEqual(consistencyProblems(r, { attested: true }), [], context);
  }
}

function inclavaredPid(): number | undefined {
  const pid = Number(readFileSync(join(setup.inclavaredRoot, 'inclavared.pid'), 'utf8').trim());
  return pid > 0 && isAlive(pid) ? pid : undefined;
}

/** Creates (and starts) a container without faults. */
function createStarted(kind: Kind, id: string, opts: { start?: boolean; env?: string[] } = {}): void {
  ok(rune(['create', '--bundle', bundle(kind, { env: opts.env }), id]), `create ${id}`);
  if (opts.start !== false) ok(rune(['start', id]), `start ${id}`);
}

before(async () => {
  assert.ok(existsSync(RUNE), 'dist/rune is missing: run `npm run build` first');
  work = mkdtempSync(join(tmpdir(), 'rune-faults-'));
  Object.assign(process.env, inclavaredEnv(work));
  rootfs = join(work, 'rootfs');
  makeBusyboxRootfs(rootfs);
  wasmRootfs = join(work, 'wasm-rootfs');
  makeBusyboxRootfs(wasmRootfs);
  writeFileSync(join(wasmRootfs, 'exit3.wasm'), await assemble(helloWat('wasm ran\n', '', 3)));
  setup = { rune: RUNE, root: join(work, 'root'), inclavaredRoot: process.env.INCLAVARED_ROOT! };
  for (const kind of ['plain', 'sim'] as const) {
    const id = `bystander-${kind}`;
    createStarted(kind, id);
    const r = await inspect(id);
    bystanders.push({ id, pid: r.listed!.pid, cgroups: r.cgroups });
  }
});

after(async () => {
  for (const id of existsSync(setup.root) ? readdirSync(setup.root) : []) {
    if (!id.startsWith('.')) rune(['delete', '--force', id], { RUNE_FAST_PATH: '0' });
  }
  await stopInclavared(process.env);
  delete process.env.INCLAVARED_ROOT;
  delete process.env.INCLAVARED_DATA_DIR;
  rmSync(work, { recursive: true, force: true });
});

/** One crash: the verb that is killed, at which step, and what must hold before `delete --force`. */
interface Case {
  kind: Kind;
  step: string;
  /** Through the launcher (default) or Node.js alone (RUNE_FAST_PATH=0). */
  node?: boolean;
  /** More environment for the faulted verb, and what the test name says of it. */
  env?: { vars: Record<string, string>; name: string };
  /** What runs before the faulted verb. */
  before: 'none' | 'created' | 'running';
  /** The faulted verb's arguments after the id is appended (default: the step's verb). */
  verb: 'create' | 'start' | 'exec' | 'delete';
  /** Checks after the crash (before the delete). */
  then?: (id: string) => Promise<void> | void;
}

const cases: Case[] = [];
for (const kind of ['plain', 'sim', 'wasm'] as const) {
  const enclave = kind !== 'plain';
  for (const node of enclave ? [false] : [false, true]) {
    cases.push({ kind, node, step: 'create:after-claim', before: 'none', verb: 'create', then: (id) => assert.equal(status(id), undefined, 'a claimed id is not a container yet') });
    if (enclave) cases.push({ kind, step: 'create:after-register', before: 'none', verb: 'create', then: (id) => assert.equal(status(id), undefined) });
    cases.push({
      kind,
      node,
      step: 'create:after-backend-create',
      before: 'none',
      verb: 'create',
      then: async (id) => {
        assert.equal(status(id), 'created');
        if (!enclave) return;
        // The backend's `run --detach` started init-runelet with the container, and the measurement was bound
        // before: init-runelet initialises on its own, the container is usable.
        await waitFor('init-runelet to report', () => existsSync(join(setup.root, id, 'control', 'status')));
        ok(rune(['start', id]), 'start after a create killed once the backend created and started the container');
        await waitFor('the workload to start', () => status(id) !== 'created');
      },
    });
    if (enclave) {
      cases.push({
        kind,
        step: 'create:after-backend-create',
        env: { vars: { RUNE_CREATE_OVERLAP: '0' }, name: ', measured first' },
        before: 'none',
        verb: 'create',
        // Measured first, the backend creates and rune starts init-runelet afterwards: it never ran, start says what to do.
        then: (id) => {
          assert.equal(status(id), 'created');
          assert.match(rune(['start', id]).stderr, /its init-runelet is not waiting \(it has stopped, or the create that started it did not finish\); delete it/);
        },
      });
      cases.push({
        kind,
        step: 'create:after-init-start',
        before: 'none',
        verb: 'create',
        // init-runelet initialises on its own: the container is usable, start runs the workload.
        then: async (id) => {
          await waitFor('init-runelet to report', () => existsSync(join(setup.root, id, 'control', 'status')));
          assert.equal(status(id), 'created');
          ok(rune(['start', id]), 'start after a create killed while init-runelet initialised');
          await waitFor('the workload to start', () => status(id) !== 'created');
        },
      });
      cases.push({
        kind,
        step: 'start:after-release',
        before: 'created',
        verb: 'start',
        // The workload was released: the container is started (running, or stopped once wasm exits), and a second start says so.
        then: async (id) => {
          await waitFor('init-runelet to record the release', () => existsSync(join(setup.root, id, 'control', 'released')));
          assert.notEqual(status(id), 'created');
          assert.match(rune(['start', id]).stderr, /it was already started/);
        },
      });
      cases.push({ kind, node: true, step: 'start:after-release', before: 'created', verb: 'start', then: (id) => assert.notEqual(status(id), 'created') });
    }
    if (kind !== 'wasm' && (enclave || node)) cases.push({ kind, node, step: 'exec:before-backend', before: 'running', verb: 'exec', then: (id) => assert.equal(status(id), 'running') });
    for (const step of ['delete:after-backend-delete', 'delete:after-unregister']) {
      cases.push({ kind, node, step, before: 'running', verb: 'delete', then: (id) => assert.equal(status(id), undefined, 'runc forgot it: not listed') });
    }
  }
}

describe('rune killed at each step', () => {
  for (const c of cases) {
    const how = `${c.node === true ? ' (Node.js)' : ''}${c.env?.name ?? ''}`;
    test(`${c.kind}${how}: rune ${c.verb} killed at ${c.step} leaves a consistent state that delete --force cleans up`, async () => {
      const id = `f${++n}-${c.kind}`;
      const fault = { RUNE_FAULT: c.step, ...(c.node === true ? { RUNE_FAST_PATH: '0' } : {}), ...c.env?.vars };
      let res: Result;
      if (c.before !== 'none') createStarted(c.kind, id, { start: c.before === 'running' });
      if (c.verb === 'create') res = rune(['create', '--bundle', bundle(c.kind), id], fault);
      else if (c.verb === 'start') res = rune(['start', id], fault);
      else if (c.verb === 'exec') res = rune(['exec', id, 'true'], fault);
      else res = rune(['delete', '--force', id], fault);
      assert.equal(res.signal, 'SIGKILL', `rune ${c.verb} did not stop at ${c.step}: exit ${res.code}\n${res.stderr}`);
      await assertConsistent(id, `after the crash at ${c.step}`);
      await c.then?.(id);
      await assertConsistent(id, `after the checks at ${c.step}`);
      await assertDeletedClean(id, c.step);
      await assertBystandersIntact(c.step);
    });
  }
});

describe('init-runelet killed', () => {
  test('init-runelet killed at init-runelet:after-init: create fails saying so and leaves nothing', async () => {
    const id = `f${++n}-init`;
    const res = rune(['create', '--bundle', bundle('sim', { env: ['RUNE_FAULT=init-runelet:after-init'] }), id]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /init-runelet exited before it initialised the enclave runtime/);
    await assertGone(id, 'init-runelet:after-init');
    await assertBystandersIntact('init-runelet:after-init');
  });

  test('init-runelet killed at init-runelet:after-release: start succeeds, the container is stopped, delete cleans up', async () => {
    const id = `f${++n}-init`;
    createStarted('sim', id, { start: false, env: ['RUNE_FAULT=init-runelet:after-release'] });
    ok(rune(['start', id]), 'start');
    await waitFor('the container to stop', () => status(id) === 'stopped');
    await assertConsistent(id, 'init-runelet:after-release');
    await assertDeletedClean(id, 'init-runelet:after-release');
    await assertBystandersIntact('init-runelet:after-release');
  });

  for (const when of ['created', 'running'] as const) {
    test(`kill -9 of init-runelet while ${when}: the container is stopped, no process is left in it${when === 'created' ? ', start fails clearly' : ''}`, async () => {
      const id = `f${++n}-init`;
      createStarted('sim', id, { start: when === 'running' });
      const pid = (await inspect(id)).listed!.pid;
      process.kill(pid, 'SIGKILL');
      await waitFor('the container to stop', () => status(id) === 'stopped');
      await assertConsistent(id, `init-runelet killed while ${when}`);
      if (when === 'created') {
        const start = rune(['start', id]);
        assert.equal(start.code, 1);
        assert.match(start.stderr, /Cannot start container "[^"]+": its init-runelet is not waiting/);
      }
      await assertDeletedClean(id, `init-runelet killed while ${when}`);
      await assertBystandersIntact(`init-runelet killed while ${when}`);
    });
  }

  test('kill -9 of rune exec while the exec runs: the container stays consistent and delete --force ends the exec too', async () => {
    const id = `f${++n}-exec`;
    createStarted('sim', id);
    const child = spawn(RUNE, ['--root', setup.root, 'exec', id, 'sleep', '300'], { stdio: 'ignore' });
    await waitFor('the exec to run', async () => (await inspect(id)).processes.length >= 3);
    child.kill('SIGKILL');
    await assertConsistent(id, 'rune exec killed');
    assert.equal(status(id), 'running');
    await assertDeletedClean(id, 'rune exec killed');
    await assertBystandersIntact('rune exec killed');
  });
});

describe('inclavared killed', () => {
  /** Stops the running daemon so that the next rune starts one with the fault in its environment. */
  async function freshDaemon(): Promise<void> {
    await stopInclavared(process.env);
  }

  for (const step of ['inclavared:register:after-socket', 'inclavared:register:after-save']) {
    test(`inclavared killed at ${step}: create fails clearly, and nothing is left once the daemon is back`, async () => {
      await freshDaemon();
      const id = `f${++n}-daemon`;
      const res = rune(['create', '--bundle', bundle('sim'), id], { RUNE_FAULT: step });
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /Cannot register container \w+ with inclavared|inclavared/);
      // create's cleanup started the daemon again to unregister (with the fault still in its environment).
      await freshDaemon();
      ok(rune(['attest', bystanders[1]!.id]), 'attest of the bystander starts the daemon again');
      await assertGone(id, step);
      await assertBystandersIntact(step);
    });
  }

  test('inclavared killed at inclavared:unregister:after-save: delete succeeds, the socket dir goes when the daemon is back', async () => {
    await freshDaemon();
    const id = `f${++n}-daemon`;
    createStarted('sim', id, { env: [] });
    // This create started the daemon with the fault in its environment.
    const res = rune(['delete', '--force', id], { RUNE_FAULT: 'inclavared:unregister:after-save' });
    ok(res, 'delete');
    await freshDaemon();
    // Until a daemon runs again the socket dir is left (the registry no longer names it); the next one removes it.
    ok(rune(['attest', bystanders[1]!.id]), 'attest of the bystander starts the daemon again');
    await assertGone(id, 'inclavared:unregister:after-save');
    await assertBystandersIntact('inclavared:unregister:after-save');
  });

  test('the inclavared rune starts holds none of the descriptors rune was given (conmon waits for EOF on its pipes)', async () => {
    await freshDaemon();
    const id = `f${++n}-fds`;
    const child = spawn(RUNE, ['--root', setup.root, 'create', '--bundle', bundle('sim'), id], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    const extra = child.stdio[3] as NodeJS.ReadableStream;
    let eof = false;
    extra.on('end', () => (eof = true)).resume();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0);
    assert.ok(inclavaredPid() !== undefined, 'rune create started inclavared');
    await waitFor('EOF on the pipe rune was given', () => eof, { timeoutMs: 5000 });
    await assertDeletedClean(id, 'fds');
  });

  test('kill -9 of inclavared: rune attest starts it again and the socket answers; delete while it is down unregisters', async () => {
    const id = `f${++n}-daemon`;
    createStarted('sim', id);
    ok(rune(['attest', id]), 'attest before');
    process.kill(inclavaredPid()!, 'SIGKILL');
    await waitFor('inclavared to die', () => inclavaredPid() === undefined);
    const attested = ok(rune(['attest', id, '--report-data', 'ab'.repeat(32), '--json']), 'attest after the daemon was killed');
    assert.equal((JSON.parse(attested.stdout) as { tee: string }).tee, 'sim');
    assert.ok(inclavaredPid() !== undefined);
    await assertConsistent(id, 'inclavared killed and restarted');

    process.kill(inclavaredPid()!, 'SIGKILL');
    await waitFor('inclavared to die', () => inclavaredPid() === undefined);
    await assertDeletedClean(id, 'delete while inclavared is down');
    await assertBystandersIntact('inclavared killed');
  });

  test('start of a created enclave container while inclavared is down works; the workload gets evidence once rune attest restarted it', async () => {
    const id = `f${++n}-daemon`;
    createStarted('sim', id, { start: false });
    process.kill(inclavaredPid()!, 'SIGKILL');
    await waitFor('inclavared to die', () => inclavaredPid() === undefined);
    ok(rune(['start', id]), 'start');
    assert.equal(status(id), 'running');
    ok(rune(['attest', id]), 'attest');
    await assertConsistent(id, 'start while inclavared is down');
    await assertDeletedClean(id, 'start while inclavared is down');
  });
});

test('every step the hook offers is exercised here', async () => {
  const { FAULT_STEPS } = await import('../../src/util/fault.ts');
  const covered = new Set([...cases.map((c) => c.step), 'init-runelet:after-init', 'init-runelet:after-release', 'inclavared:register:after-socket', 'inclavared:register:after-save', 'inclavared:unregister:after-save']);
  for (const step of Object.values(FAULT_STEPS).flat()) assert.ok(covered.has(step), `step ${step} has no test`);
});
