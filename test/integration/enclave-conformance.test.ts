/**
 * Conformance of enclave containers (issue #11, item 7): every config that plain runc runs here runs the same
 * way with ENCLAVE_TYPE=sim added. Each config runs once plain (runc through rune) and once as a sim enclave
 * container, under the same container id and rootfs, in one create/state/start/state/kill/delete lifecycle;
 * the workload reports what it sees of itself (hostname, ids and groups, capabilities, rlimits, mounts,
 * namespaces, sysctls, devices, cgroup limits, env) and the two reports must be equal, as must `rune state`.
 * wasm runs where a config applies to it (the module cannot see ids or limits; it must run under them).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { OciConfig } from '../../src/oci/config.ts';
import { makeBundle, makeBusyboxRootfs } from '../support/busybox.ts';
import { inclavaredEnv, stopInclavared } from '../support/fixtures.ts';
import { buildWasm } from '../support/wasm.ts';
import { hostNode } from '../../src/rune/enclave/bundle.ts';
import { linuxSys } from '../../src/sys/linux.ts';

const repo = new URL('../..', import.meta.url).pathname;
const RUNE = join(repo, 'dist/rune');
const SIM = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'];
const WASM = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=wasm'];

let work: string;
let root: string;
let wasmModule: Uint8Array;

/** What the workload reports about itself; ends with END so the test knows it is complete. */
const PROBE = [
  'echo "hostname=$(hostname) domainname=$(cat /proc/sys/kernel/domainname)"',
  'echo "id=$(id)"',
  "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
  'echo "soft: $(ulimit -Sa | tr -s " " | tr "\\n" ";")"',
  'echo "hard: nofile=$(ulimit -Hn) nproc=$(ulimit -Hu) core=$(ulimit -Hc) stack=$(ulimit -Hs)"',
  'env | grep -v -e ^INCLAVARE_ATTESTATION_SOCKET= -e ^SHLVL= | sort',
  // every mount but rune's own under /.rune: mount point, options, type, source and super options
  'while read -r _ _ _ _ mp opts rest; do case "$mp" in /.rune*) continue;; esac; echo "mount $mp $opts ${rest#*- }"; done < /proc/self/mountinfo',
  'echo "uid_map=$(cat /proc/self/uid_map | tr -s " " | tr "\\n" ";") gid_map=$(cat /proc/self/gid_map | tr -s " " | tr "\\n" ";")"',
  'echo "cgroup=$(grep -v -e ^0:: /proc/self/cgroup | sort | tr "\\n" ";")"',
  'echo "net=$(ls /sys/class/net | tr "\\n" " ")"',
  'echo "root-writable=$(touch /.probe 2>/dev/null && echo yes || echo no) proc-sys-writable=$( (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo yes || echo no)"',
  'echo "kcore=$(wc -c < /proc/kcore 2>&1) keys=$(cat /proc/keys 2>&1 | wc -l)"',
  'echo "sysctl ip_unprivileged_port_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"',
  'echo "devices: $(ls -ln /dev | grep "^c" | tr -s " " | cut -d " " -f 1,3,4,5,6,10 | tr "\\n" ";")"',
  'echo "null-writable=$( (echo x > /dev/null) 2>/dev/null && echo yes || echo no) probe-dev=$( (head -c 1 /dev/probe | wc -c) 2>&1)"',
  'echo "pids.max=$(cat /sys/fs/cgroup/pids/pids.max 2>&1) memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>&1) cfs_quota=$(cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us 2>&1)"',
  'echo "forks=$(for i in 1 2 3 4; do sh -c true & done; wait; echo ok)"',
  'echo END',
  'exec sleep 1000',
].join('\n');

interface Config {
  name: string;
  /** True when a wasm enclave container must run under it as well. */
  wasm: boolean;
  edit: (c: OciConfig) => void;
}

type Linux = {
  namespaces: { type: string }[];
  uidMappings?: unknown;
  gidMappings?: unknown;
  sysctl?: Record<string, string>;
  devices?: unknown[];
  resources?: { devices?: unknown[]; memory?: unknown; pids?: unknown; cpu?: unknown };
  maskedPaths?: string[];
  readonlyPaths?: string[];
};
const linux = (c: OciConfig): Linux => c.linux as Linux;
const proc = (c: OciConfig): Record<string, unknown> => c.process as Record<string, unknown>;

const CONFIGS: Config[] = [
  { name: "runc's default spec (read-only root, RLIMIT_NOFILE 1024, masked and read-only paths)", wasm: true, edit: () => undefined },
  {
    name: 'small rlimits (RLIMIT_NOFILE 64/128, RLIMIT_NPROC 64, no core files, RLIMIT_STACK 1 MiB)',
    wasm: true,
    edit: (c) => {
      proc(c).rlimits = [
        { type: 'RLIMIT_NOFILE', soft: 64, hard: 128 },
        { type: 'RLIMIT_NPROC', soft: 64, hard: 64 },
        { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
        { type: 'RLIMIT_STACK', soft: 1048576, hard: 1048576 },
      ];
    },
  },
  {
    name: 'a tiny RLIMIT_NOFILE (16)',
    wasm: false,
    edit: (c) => {
      proc(c).rlimits = [{ type: 'RLIMIT_NOFILE', soft: 16, hard: 16 }];
    },
  },
  {
    name: 'a non-root user with additional gids and a low RLIMIT_NPROC (32)',
    wasm: true,
    edit: (c) => {
      proc(c).user = { uid: 1000, gid: 1000, additionalGids: [10, 20, 30] };
      proc(c).rlimits = [
        { type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 },
        { type: 'RLIMIT_NPROC', soft: 32, hard: 32 },
      ];
    },
  },
  {
    name: 'a user namespace with uid/gid mappings (rootfs owned by the host root, no /.rune in it)',
    wasm: true,
    edit: (c) => {
      linux(c).namespaces.push({ type: 'user' });
      linux(c).uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      linux(c).gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    },
  },
  {
    name: 'a user namespace with a non-root user',
    wasm: false,
    edit: (c) => {
      linux(c).namespaces.push({ type: 'user' });
      linux(c).uidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
      linux(c).gidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
      proc(c).user = { uid: 1000, gid: 1000, additionalGids: [10] };
    },
  },
  {
    name: 'more masked and read-only paths, a writable root and sysctls',
    wasm: true,
    edit: (c) => {
      c.root = { ...c.root, readonly: false };
      linux(c).maskedPaths = [...(linux(c).maskedPaths ?? []), '/proc/meminfo', '/etc/hosts'];
      linux(c).readonlyPaths = [...(linux(c).readonlyPaths ?? []), '/tmp'];
      linux(c).sysctl = { 'kernel.domainname': 'conformance.example', 'net.ipv4.ip_unprivileged_port_start': '80' };
    },
  },
  {
    name: 'devices and device cgroup rules',
    wasm: true,
    edit: (c) => {
      linux(c).devices = [{ path: '/dev/probe', type: 'c', major: 1, minor: 5, fileMode: 0o640, uid: 0, gid: 0 }];
      linux(c).resources = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 5, access: 'r' }] };
    },
  },
  {
    name: 'cgroup limits (memory, pids, cpu quota)',
    wasm: true,
    edit: (c) => {
      linux(c).resources = {
        ...linux(c).resources,
        memory: { limit: 512 * 1024 * 1024 },
        pids: { limit: 100 },
        cpu: { quota: 50000, period: 100000 },
      };
    },
  },
];

interface Run {
  facts: string[];
  states: Record<string, unknown>[];
  stderr: string;
}

/** Runs rune with output in files (a created container keeps its stdio open). */
function rune(args: string[], stdio: { out: string; err: string }, append = false): { code: number | null; stdout: string; stderr: string } {
  const flags = append ? 'a' : 'w';
  const outFd = openSync(stdio.out, flags);
  const errFd = openSync(stdio.err, flags);
  try {
    const res = spawnSync(RUNE, ['--root', root, ...args], { cwd: work, timeout: 60_000, stdio: ['ignore', outFd, errFd] });
    return { code: res.status, stdout: append ? '' : readFileSync(stdio.out, 'utf8'), stderr: append ? '' : readFileSync(stdio.err, 'utf8') };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
}

function call(args: string[]): { code: number | null; stdout: string; stderr: string } {
  return rune(args, { out: join(work, 'call.out'), err: join(work, 'call.err') });
}

/** `rune state` minus what differs between any two runs (pid, created). */
function state(id: string): Record<string, unknown> {
  const res = call(['state', id]);
  assert.equal(res.code, 0, res.stderr);
  const { pid, created, ...rest } = JSON.parse(res.stdout) as Record<string, unknown>;
  assert.ok(typeof pid === 'number' && (rest.status === 'stopped' || pid > 0), `state has a pid: ${res.stdout}`);
  assert.equal(typeof created, 'string');
  return rest;
}

async function until(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function bundleFor(dir: string, rootfs: string, args: string[], env: string[], edit: (c: OciConfig) => void): string {
  rmSync(dir, { recursive: true, force: true });
  return makeBundle(dir, { rootfs, args, env, edit });
}

/** create, state, start, state (once the probe has reported), kill KILL, state, delete. */
async function lifecycle(id: string, bundle: string): Promise<Run> {
  const io = { out: join(work, `${id}.out`), err: join(work, `${id}.err`) };
  const created = rune(['create', '--bundle', bundle, id], io);
  assert.equal(created.code, 0, `create failed: ${created.stderr}`);
  const states = [state(id)];
  assert.equal(rune(['start', id], io, true).code, 0);
  await until(`the probe of ${id}`, () => readFileSync(io.out, 'utf8').includes('END\n'));
  states.push(state(id));
  assert.equal(call(['kill', id, 'KILL']).code, 0);
  await until(`${id} to stop`, () => state(id).status === 'stopped');
  states.push(state(id));
  const deleted = call(['delete', id]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(existsSync(join(root, id)), false, 'delete leaves nothing');
  return { facts: readFileSync(io.out, 'utf8').split('\n'), states, stderr: readFileSync(io.err, 'utf8') };
}

/** The same lifecycle for a wasm module: it runs and exits 0 with its output. */
async function wasmRun(id: string, rootfs: string, config: Config): Promise<void> {
  writeFileSync(join(rootfs, 'hello.wasm'), wasmModule);
  const b = bundleFor(join(work, `bundle-${id}`), rootfs, ['/hello.wasm'], WASM, config.edit);
  const io = { out: join(work, `${id}.out`), err: join(work, `${id}.err`) };
  const created = rune(['create', '--bundle', b, id], io);
  assert.equal(created.code, 0, `create failed: ${created.stderr}`);
  assert.equal(state(id).status, 'created');
  assert.equal(rune(['start', id], io, true).code, 0);
  await until(`${id} to finish`, () => state(id).status === 'stopped');
  assert.equal(readFileSync(io.out, 'utf8'), 'hello from wasm\n', readFileSync(io.err, 'utf8'));
  assert.equal(call(['delete', id]).code, 0);
}

const plainFacts = new Map<string, string[]>();

before(async () => {
  assert.ok(existsSync(RUNE), 'dist/rune is missing: run `npm run build` first');
  work = mkdtempSync(join(tmpdir(), 'enclave-conformance-'));
  // Mapped ids of user namespaces must reach the rootfs and the bundle.
  chmodSync(work, 0o755);
  Object.assign(process.env, inclavaredEnv(work));
  root = join(work, 'root');
  wasmModule = await buildWasm('hello');
});
after(async () => {
  for (const id of existsSync(root) ? readdirSync(root) : []) call(['delete', '--force', id]);
  await stopInclavared(process.env);
  delete process.env.INCLAVARED_ROOT;
  delete process.env.INCLAVARED_DATA_DIR;
  rmSync(work, { recursive: true, force: true });
});

describe('enclave containers run every config plain runc runs, and see the same', () => {
  CONFIGS.forEach((config, i) => {
    test(`${config.name}: a sim enclave container sees what a plain container sees, and rune state agrees`, async () => {
      const rootfs = join(work, `rootfs-${i}`);
      makeBusyboxRootfs(rootfs);
      const id = `conf-${i}`;
      const plain = await lifecycle(id, bundleFor(join(work, `bundle-${id}-plain`), rootfs, ['sh', '-c', PROBE], [], config.edit));
      assert.ok(plain.facts.includes('END'), plain.stderr);
      plainFacts.set(config.name, plain.facts);
      const sim = await lifecycle(id, bundleFor(join(work, `bundle-${id}-sim`), rootfs, ['sh', '-c', PROBE], SIM, config.edit));
      assert.deepEqual(sim.facts, plain.facts, `stderr of the sim run: ${sim.stderr}`);
      const withoutBundle = (s: Record<string, unknown>): Record<string, unknown> => ({ ...s, bundle: undefined });
      assert.deepEqual(sim.states.map(withoutBundle), plain.states.map(withoutBundle));
      assert.deepEqual(sim.states.map((s) => s.status), ['created', 'running', 'stopped']);
      assert.equal(sim.states[0]!.bundle, join(work, `bundle-${id}-sim`), "state reports the engine's bundle");
      if (config.wasm) await wasmRun(`${id}-wasm`, rootfs, config);
    });
  });

  test('the probe tells configs apart (a comparison of equal reports is not vacuous)', () => {
    const reports = [...plainFacts.values()];
    assert.ok(reports.length >= 2, 'the configs ran');
    for (let i = 1; i < reports.length; i++) assert.notDeepEqual(reports[i], reports[0]);
  });
});

describe('signals and hooks as runc delivers and runs them', () => {
  const TRAPPED = ['HUP', 'INT', 'QUIT', 'USR1', 'USR2', 'ALRM', 'WINCH', 'CONT'];
  const script = `${TRAPPED.map((s) => `trap "echo got ${s}" ${s}`).join('; ')}; echo ready; while :; do sleep 0.05; done`;

  /** Every trapped signal, then TERM (not trapped: a PID 1 ignores it), then KILL; returns the workload's log and the states. */
  async function signals(id: string, bundle: string): Promise<{ log: string; states: unknown[] }> {
    const io = { out: join(work, `${id}.out`), err: join(work, `${id}.err`) };
    assert.equal(rune(['create', '--bundle', bundle, id], io).code, 0, readFileSync(io.err, 'utf8'));
    const states: unknown[] = [state(id).status];
    assert.equal(rune(['start', id], io, true).code, 0);
    await until('ready', () => readFileSync(io.out, 'utf8').includes('ready'));
    for (const sig of TRAPPED) {
      assert.equal(call(['kill', id, sig]).code, 0);
      await until(`the trap of ${sig}`, () => readFileSync(io.out, 'utf8').includes(`got ${sig}\n`));
    }
    assert.equal(call(['kill', id, 'TERM']).code, 0);
    await new Promise((r) => setTimeout(r, 300));
    states.push(state(id).status);
    assert.equal(call(['kill', id, 'SIGKILL']).code, 0);
    await until(`${id} to stop`, () => state(id).status === 'stopped');
    states.push(state(id).status);
    assert.equal(call(['delete', id]).code, 0);
    return { log: readFileSync(io.out, 'utf8'), states };
  }

  test('rune kill delivers each signal the workload handles, a PID 1 ignores TERM it does not handle, KILL stops it', async () => {
    const rootfs = join(work, 'rootfs-signals');
    makeBusyboxRootfs(rootfs);
    const plain = await signals('conf-signals', bundleFor(join(work, 'bundle-signals-plain'), rootfs, ['sh', '-c', script], [], () => undefined));
    const sim = await signals('conf-signals', bundleFor(join(work, 'bundle-signals-sim'), rootfs, ['sh', '-c', script], SIM, () => undefined));
    assert.deepEqual(sim, plain);
    assert.deepEqual(plain.states, ['created', 'running', 'stopped']);
  });

  test('rune kill of a container that is still created stops it', async () => {
    const rootfs = join(work, 'rootfs-created-kill');
    makeBusyboxRootfs(rootfs);
    const outcome = async (env: string[], sig: string): Promise<string> => {
      const id = `conf-ckill-${sig}`;
      const b = bundleFor(join(work, `bundle-ckill-${env.length}-${sig}`), rootfs, ['sh', '-c', 'echo started'], env, () => undefined);
      assert.equal(call(['create', '--bundle', b, id]).code, 0);
      assert.equal(call(['kill', id, sig]).code, 0);
      await until(`${id} to stop`, () => state(id).status === 'stopped', 5000);
      const s = state(id).status as string;
      assert.equal(call(['delete', id]).code, 0);
      return s;
    };
    for (const sig of ['KILL', 'TERM']) assert.equal(await outcome(SIM, sig), await outcome([], sig), sig);
  });

  /** Hook runs: name, env, id, status, and whether the state carried the engine's bundle; between the marks of create and start. */
  let hookRuns: { plain: string[]; sim: string[] } | undefined;

  test('hooks run at the same steps, with the id and the status runc reports', async () => {
    const rootfs = join(work, 'rootfs-hooks');
    makeBusyboxRootfs(rootfs);
    const logDir = join(work, 'hooks');
    mkdirSync(logDir, { recursive: true });
    const log = join(logDir, 'hooks.log');
    // startContainer runs in the container (after pivot_root): it reaches the log through a bind mount.
    const hook = (name: string, file = log): unknown => ({
      path: '/bin/sh',
      args: ['sh', '-c', `{ echo -n "${name} $HOOK_ENV "; cat; echo; } >> ${file}`],
      env: [`HOOK_ENV=env-of-${name}`],
      timeout: 10,
    });
    const run = async (env: string[], tag: string): Promise<string[]> => {
      writeFileSync(log, '');
      chmodSync(log, 0o666);
      const bundle = bundleFor(join(work, `bundle-hooks-${tag}`), rootfs, ['sh', '-c', 'sleep 1000'], env, (c) => {
        c.hooks = {
          createRuntime: [hook('createRuntime')],
          createContainer: [hook('createContainer')],
          startContainer: [hook('startContainer', '/hooklog/hooks.log')],
          prestart: [hook('prestart')],
          poststart: [hook('poststart')],
          poststop: [hook('poststop')],
        };
        (c.mounts as unknown[]).push({ destination: '/hooklog', type: 'bind', source: logDir, options: ['rbind', 'rw'] });
      });
      const mark = (what: string): void => writeFileSync(log, `${what}\n`, { flag: 'a' });
      assert.equal(call(['create', '--bundle', bundle, 'conf-hooks']).code, 0);
      mark('created');
      assert.equal(call(['start', 'conf-hooks']).code, 0);
      mark('started');
      assert.equal(call(['kill', 'conf-hooks', 'KILL']).code, 0);
      await until('stop', () => state('conf-hooks').status === 'stopped');
      assert.equal(call(['delete', 'conf-hooks']).code, 0);
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [name, hookEnv, ...rest] = line.split(' ');
          if (hookEnv === undefined) return name!;
          const s = JSON.parse(rest.join(' ')) as { id: string; status: string; bundle: string };
          return `${name} ${hookEnv} ${s.id} ${s.status} ${s.bundle === bundle ? 'engine-bundle' : `other-bundle ${s.bundle}`}`;
        });
    };
    hookRuns = { plain: await run([], 'plain'), sim: await run(SIM, 'sim') };
    // startContainer is compared by its own test below.
    const steps = (lines: string[]): string[] => lines.filter((l) => !l.startsWith('startContainer ')).map((l) => l.replace(/ (engine|other)-bundle.*$/, ''));
    assert.deepEqual(steps(hookRuns.sim), steps(hookRuns.plain));
    assert.ok(hookRuns.plain.every((l) => !l.includes(' ') || l.includes(`env-of-${l.split(' ')[0]}`)), 'each hook got its env');
  });

  test('hooks see the engine bundle in the state on their stdin', () => {
    assert.ok(hookRuns !== undefined, 'the hooks ran');
    const hooks = (lines: string[]): string[] => lines.filter((l) => l.includes(' ')).sort();
    assert.equal(hooks(hookRuns.plain).length, 6);
    assert.ok(hooks(hookRuns.plain).every((l) => l.endsWith(' engine-bundle')), `plain hooks see the engine bundle: ${hookRuns.plain.join('; ')}`);
    assert.deepEqual(hooks(hookRuns.sim), hooks(hookRuns.plain));
  });

  test('startContainer hooks run at start, as with a plain container', () => {
    assert.ok(hookRuns !== undefined, 'the hooks ran');
    assert.ok(hookRuns.plain.indexOf('created') < hookRuns.plain.findIndex((l) => l.startsWith('startContainer ')), 'plain: after create');
    assert.deepEqual(hookRuns.sim, hookRuns.plain);
  });

  /** A startContainer hook's stdin, env and cwd, and what follows a failing one: start's exit status, the states, the container's output. */
  async function startHook(id: string, env: string[], hooks: unknown[], tag: string): Promise<{ start: number | null; states: string[]; out: string; err: string; seen: string }> {
    const rootfs = join(work, 'rootfs-start-hooks');
    if (!existsSync(rootfs)) makeBusyboxRootfs(rootfs);
    const logDir = join(work, `start-hooks-${tag}`);
    rmSync(logDir, { recursive: true, force: true });
    mkdirSync(logDir);
    const bundle = bundleFor(join(work, `bundle-start-hooks-${tag}`), rootfs, ['sh', '-c', 'echo workload ran; sleep 1000'], env, (c) => {
      c.hooks = { startContainer: hooks };
      c.annotations = { 'org.example.a': 'x', 'org.example.b': 'y' };
      proc(c).cwd = '/tmp';
      proc(c).rlimits = [{ type: 'RLIMIT_NOFILE', soft: 256, hard: 512 }];
      (c.mounts as unknown[]).push({ destination: '/hooklog', type: 'bind', source: logDir, options: ['rbind', 'rw'] });
    });
    const io = { out: join(work, `${id}-${tag}.out`), err: join(work, `${id}-${tag}.err`) };
    assert.equal(rune(['create', '--bundle', bundle, id], io).code, 0, readFileSync(io.err, 'utf8'));
    const states = [state(id).status as string];
    const started = rune(['start', id], io, true).code;
    states.push(state(id).status as string);
    if (states[1] === 'running') await until('the workload', () => readFileSync(io.out, 'utf8').includes('workload ran'));
    call(['kill', id, 'KILL']);
    await until(`${id} to stop`, () => state(id).status === 'stopped');
    assert.equal(call(['delete', id]).code, 0);
    const seen = readdirSync(logDir).sort().map((f) => `${f}: ${readFileSync(join(logDir, f), 'utf8').replaceAll(bundle, 'BUNDLE')}`).join('\n');
    return { start: started, states, out: readFileSync(io.out, 'utf8'), err: readFileSync(io.err, 'utf8'), seen };
  }

  test('a startContainer hook gets runc\'s state (pid 1, the engine\'s bundle, the annotations), the process env, cwd and rlimits, and start waits for it', async () => {
    const hooks = [
      { path: '/bin/sh', args: ['sh', '-c', 'cat > /hooklog/state; env | grep -v -e ^PWD= -e ^SHLVL= | sort > /hooklog/env; pwd > /hooklog/cwd; echo "$(ulimit -Sn) $(ulimit -Hn)" > /hooklog/limits; sleep 1; echo done > /hooklog/done'] },
      { path: '/bin/sh', args: ['sh', '-c', 'echo "$0 $1 $HOOK_ENV" > /hooklog/second', 'second', 'arg1'], env: ['HOOK_ENV=own'], timeout: 5 },
    ];
    const plain = await startHook('conf-start-hook', [], hooks, 'plain');
    const sim = await startHook('conf-start-hook', SIM, hooks, 'sim');
    assert.match(plain.seen, /done: done/, 'the plain hooks ran to the end before start returned');
    assert.match(plain.seen, /second: second arg1 own/);
    assert.match(plain.seen, /limits: 256 512/, 'the hook runs under the process rlimits');
    assert.match(plain.seen, /"pid":1,"bundle":"BUNDLE","annotations":\{"org.example.a":"x"/);
    assert.deepEqual(plain.states, ['created', 'running']);
    assert.deepEqual(sim, plain);
  });

  test('a failing startContainer hook: start succeeds as runc\'s does, the workload never runs, the container stops with runc\'s message on its stderr', async () => {
    for (const [what, hook] of [
      ['exit status', { path: '/bin/sh', args: ['sh', '-c', 'echo hook-out; echo hook-err >&2; exit 3'] }],
      ['timeout', { path: '/bin/sleep', args: ['sleep', '10'], timeout: 1 }],
      ['missing', { path: '/nonexistent/hook' }],
    ] as const) {
      const plain = await startHook('conf-start-fail', [], [hook], `fail-plain`);
      const sim = await startHook('conf-start-fail', SIM, [hook], `fail-sim`);
      assert.equal(plain.start, 0, what);
      assert.deepEqual(plain.states, ['created', 'stopped'], what);
      assert.equal(plain.out, '', `${what}: the workload did not run`);
      assert.match(plain.err, /^error running hook #0: /, what);
      assert.deepEqual(sim, plain, what);
    }
  });

  test('rune run with a failing startContainer hook exits 1 with runc\'s message, as with a plain container', () => {
    const rootfs = join(work, 'rootfs-start-hooks');
    const outcome = (env: string[], tag: string): { code: number | null; stdout: string; stderr: string } => {
      const b = bundleFor(join(work, `bundle-run-hook-${tag}`), rootfs, ['sh', '-c', 'echo workload ran'], env, (c) => {
        c.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'echo nope >&2; exit 2'] }] };
      });
      return call(['run', '--bundle', b, 'conf-run-hook']);
    };
    const plain = outcome([], 'plain');
    assert.equal(plain.code, 1, plain.stderr);
    assert.deepEqual(outcome(SIM, 'sim'), plain);
  });
});

describe('the attestation socket under users and user namespaces', () => {
  // The workload asks its socket for evidence with the injected Node.js (busybox has no unix-socket client).
  const client = [
    "const http = require('node:http');",
    "const req = http.request({ socketPath: process.env.INCLAVARE_ATTESTATION_SOCKET, path: '/v1/evidence', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {",
    "  let body = ''; res.on('data', (c) => { body += c; }); res.on('end', () => console.log(`evidence ${res.statusCode} ${JSON.parse(body).tee}`));",
    '});',
    "req.on('error', (e) => console.log(`error ${e.code}`));",
    "req.end(JSON.stringify({ reportData: 'c0ffee' }));",
  ].join('\n');
  const users: [string, (c: OciConfig) => void][] = [
    ['root', () => undefined],
    ['a non-root user with additional gids', (c) => { proc(c).user = { uid: 1000, gid: 1000, additionalGids: [10] }; }],
    ['root of a user namespace', (c) => {
      linux(c).namespaces.push({ type: 'user' });
      linux(c).uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      linux(c).gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    }],
    ['a non-root user in a user namespace', (c) => {
      linux(c).namespaces.push({ type: 'user' });
      linux(c).uidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
      linux(c).gidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
      proc(c).user = { uid: 1000, gid: 1000 };
    }],
  ];
  users.forEach(([who, edit], i) => {
    test(`a workload running as ${who} gets evidence from its attestation socket, which only its container sees`, () => {
      const rootfs = join(work, `rootfs-attest-${i}`);
      makeBusyboxRootfs(rootfs);
      writeFileSync(join(rootfs, 'client.js'), client);
      const loader = join('/.rune/lib', basename(hostNode(linuxSys()).loader));
      const b = bundleFor(join(work, `bundle-attest-${i}`), rootfs, ['sh', '-c', `id -u; ${loader} --library-path /.rune/lib /.rune/node /client.js`], SIM, edit);
      const id = `conf-attest-${i}`;
      const res = call(['run', '--bundle', b, id]);
      assert.equal(res.code, 0, res.stderr);
      const [uid, answer] = res.stdout.trim().split('\n');
      assert.equal(uid, i % 2 === 1 ? '1000' : '0');
      assert.equal(answer, 'evidence 200 sim', res.stderr);
    });
  });

  test('the socket is private to the container on the host: no directory on its path is writable by others, and inclavared\'s root is closed to them', () => {
    const b = bundleFor(join(work, 'bundle-attest-host'), join(work, 'rootfs-attest-0'), ['sh', '-c', 'sleep 1000'], SIM, () => undefined);
    assert.equal(call(['create', '--bundle', b, 'conf-attest-host']).code, 0);
    try {
      const [control, key] = readFileSync(join(root, 'conf-attest-host', 'attestation'), 'utf8').split('\n');
      const daemonRoot = dirname(control!);
      const socket = join(daemonRoot, 'containers', key!, 'attest.sock');
      assert.ok(existsSync(socket));
      assert.equal(statSync(daemonRoot).mode & 0o077, 0, "others cannot reach anything under inclavared's root");
      for (let dir = dirname(socket); dir.startsWith(daemonRoot); dir = dirname(dir)) {
        assert.equal(statSync(dir).mode & 0o022, 0, `${dir} is not writable by group or others`);
      }
    } finally {
      assert.equal(call(['delete', '--force', 'conf-attest-host']).code, 0);
    }
  });
});

describe('settings an enclave runtime cannot honour are refused at create, naming them', () => {
  const refuse = (name: string, env: string[], edit: (c: OciConfig) => void, pattern: RegExp): void => {
    test(name, () => {
      const rootfs = join(work, `rootfs-refuse-${name.length}`);
      if (!existsSync(rootfs)) makeBusyboxRootfs(rootfs);
      writeFileSync(join(rootfs, 'hello.wasm'), wasmModule);
      const args = env === WASM ? ['/hello.wasm'] : ['sh', '-c', 'true'];
      const b = bundleFor(join(work, `bundle-refuse-${name.length}`), rootfs, args, env, edit);
      const res = call(['create', '--bundle', b, 'conf-refused']);
      assert.equal(res.code, 1);
      assert.match(res.stderr, pattern);
      assert.equal(existsSync(join(root, 'conf-refused')), false, 'nothing is left behind');
      mkdirSync(root, { recursive: true });
    });
  };
  refuse(
    'wasm under RLIMIT_NOFILE 16: the module runs inside init-runelet, which needs more open files',
    WASM,
    (c) => {
      proc(c).rlimits = [{ type: 'RLIMIT_NOFILE', soft: 16, hard: 16 }];
    },
    /Cannot honour process\.rlimits RLIMIT_NOFILE 16 with enclave runtime wasm/,
  );
  refuse(
    'sim for a non-root user under RLIMIT_NPROC 8: init-runelet threads would count towards it',
    SIM,
    (c) => {
      proc(c).user = { uid: 1000, gid: 1000 };
      proc(c).rlimits = [{ type: 'RLIMIT_NPROC', soft: 8, hard: 8 }];
    },
    /Cannot honour process\.rlimits RLIMIT_NPROC 8/,
  );
  refuse(
    'a soft limit above the hard limit, as runc refuses it',
    SIM,
    (c) => {
      proc(c).rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }];
    },
    /process\.rlimits RLIMIT_NOFILE: the soft limit 2048 is above the hard limit 1024/,
  );
});
