/**
 * A small runc for FakeSys: keeps each container's status under its --root in the fake tree, answers
 * state/list from it, and (for enclave containers) plays init-runelet: once the backend starts PID 1 it
 * reports PAL init and listens on the control FIFO.
 */
import { join } from 'node:path';
import { FakeSys, type SpawnAnswer } from '../../../../src/sys/fake.ts';
import type { AttestationService } from '../../../../src/rune/enclave/attestation.ts';
import type { RuneContext } from '../../../../src/rune/context.ts';
import { RuneLog } from '../../../../src/rune/log.ts';

export const RUNC = '/usr/sbin/runc';
export const ROOT = '/run/rune';
export const DIST = '/opt/inclavare/dist';

/** runc's global flags that take a value. */
const VALUE_FLAGS = new Set(['--root', '--log', '--log-format', '--rootless', '--criu']);

/** What the fake runc does, per test. */
export interface FakeRuncOptions {
  /** Exit status of each command (default 0), e.g. { create: 1 }. */
  fail?: Record<string, number>;
  /** What init-runelet reports after PAL init (default ready). */
  init?: { state: 'ready' } | { state: 'error'; message: string };
  /** The workload's exit code, written when the container is started (enclave: after the FIFO byte). */
  exitCode?: number;
  /** More of rune's environment. */
  env?: Record<string, string>;
}

/** One container as the fake runc keeps it. */
interface Container {
  status: 'created' | 'running' | 'stopped';
  bundle: string;
}

/** The fake runc's command: global flags skipped. Returns root, command and its arguments. */
export function parseRuncArgs(args: string[]): { root: string; command: string; rest: string[] } {
  let root = '/run/runc';
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    if (VALUE_FLAGS.has(args[i]!)) {
      if (args[i] === '--root') root = args[i + 1]!;
      i++;
    }
  }
  return { root, command: args[i] ?? '', rest: args.slice(i + 1) };
}

/** A FakeSys with a runc, the host's node and ldd, rune's dist/, and a fake inclavared. */
export function fakeHost(options: FakeRuncOptions = {}): { sys: FakeSys; ctx: RuneContext; attestation: { registered: string[]; unregistered: string[]; bound: string[] } } {
  const sys = new FakeSys({ env: { PATH: '/usr/bin:/usr/sbin', RUNE_DIST_DIR: DIST, ...options.env } });
  sys.addFile(RUNC, '#!fake runc', { executable: true, mode: 0o755 });
  sys.addFile(process.execPath, 'node', { executable: true, mode: 0o755 });
  sys.addFile(join(DIST, 'init-runelet.mjs'), '// init-runelet');
  sys.addFile(join(DIST, 'init-runelet-sim'), 'ELF init-runelet-sim', { executable: true, mode: 0o755 });
  sys.addFile('/lib64/ld-linux-x86-64.so.2', 'ld');
  sys.addFile('/lib/x86_64-linux-gnu/libc.so.6', 'libc');
  const containers = new Map<string, Container>();
  const attestation = { registered: [] as string[], unregistered: [] as string[], bound: [] as string[] };

  const startPid1 = (root: string, c: { status: string }): SpawnAnswer => {
    c.status = 'running';
    // An enclave container's PID 1 is init-runelet: it reports PAL init, then waits on its FIFO.
    const control = join(root, '..', 'control');
    if (sys.has(join(control, 'start'))) {
      sys.addFile(join(control, 'status'), JSON.stringify(options.init ?? { state: 'ready' }));
      if ((options.init ?? { state: 'ready' }).state === 'ready') sys.node(join(control, 'start'))!.reader = true;
      else c.status = 'stopped';
    }
    return {};
  };
  sys.spawn = (file, args): SpawnAnswer | undefined => {
    if (file === 'ldd') {
      return { stdout: '\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n' };
    }
    if (file !== RUNC) return { status: 127, stderr: `${file}: not found\n` };
    if (args[0] === '--version') return { stdout: 'runc version 1.1.5\nspec: 1.0.2-dev\ngo: go1.19.8\n' };
    const { root, command, rest } = parseRuncArgs(args);
    const status = options.fail?.[command];
    if (status !== undefined) return { status, stderr: `runc ${command} failed\n` };
    const id = rest.filter((a) => !a.startsWith('-')).at(command === 'kill' && rest.length > 1 ? -2 : -1) ?? '';
    const key = `${root}/${id}`;
    const c = containers.get(key);
    switch (command) {
      case 'create':
      case 'run': {
        const b = rest.indexOf('--bundle');
        containers.set(key, { status: 'created', bundle: b >= 0 ? rest[b + 1]! : '.' });
        sys.addDir(key, 0o711);
        // run --detach: created and started (rune's overlapped create of an enclave container); run: to the end.
        if (command === 'run' && (rest.includes('--detach') || rest.includes('-d'))) return startPid1(root, containers.get(key)!);
        if (command === 'run') {
          containers.get(key)!.status = 'stopped';
          return { status: options.exitCode ?? 0 };
        }
        return {};
      }
      case 'start': {
        if (c === undefined) return { status: 1, stderr: `container ${id} does not exist\n` };
        return startPid1(root, c);
      }
      case 'state': {
        if (c === undefined) return { status: 1, stderr: `container ${id} does not exist\n` };
        return { stdout: JSON.stringify({ ociVersion: '1.0.2', id, pid: c.status === 'stopped' ? 0 : 1234, status: c.status, bundle: c.bundle, rootfs: `${c.bundle}/rootfs`, created: '2026-01-02T03:04:05Z', owner: '' }) };
      }
      case 'kill':
        if (c === undefined) return { status: 1, stderr: `container ${id} does not exist\n` };
        c.status = 'stopped';
        return {};
      case 'delete':
        if (c === undefined) return { status: 1, stderr: `container ${id} does not exist\n` };
        if (c.status === 'running' && !rest.includes('--force')) return { status: 1, stderr: 'cannot delete a running container\n' };
        containers.delete(key);
        sys.drop(key);
        return {};
      default:
        return {};
    }
  };

  const service: AttestationService = {
    register(_env, request) {
      attestation.registered.push(request.id);
      const socketDir = `/run/inclavared/containers/${request.id}`;
      return Promise.resolve({ controlSocket: '/run/inclavared/control.sock', socketDir, socket: `${socketDir}/attest.sock` });
    },
    unregister(_env, _controlSocket, key) {
      attestation.unregistered.push(key);
      return Promise.resolve();
    },
    bindMeasurement(_env, _controlSocket, key, measurement) {
      attestation.bound.push(`${key}=${measurement}`);
      return Promise.resolve();
    },
  };
  const ctx: RuneContext = {
    root: ROOT,
    log: new RuneLog({ format: 'text', debug: false, sys }),
    globals: {},
    sys,
    attestation: service,
  };
  return { sys, ctx, attestation };
}

/** Puts a bundle into the fake tree: config.json with `process` edits, and a rootfs with /bin/sh. */
export function addBundle(sys: FakeSys, dir: string, options: { env?: string[]; args?: string[]; edit?: (c: Record<string, unknown>) => void } = {}): string {
  const config: Record<string, unknown> = {
    ociVersion: '1.0.2',
    process: { args: options.args ?? ['sh', '-c', 'true'], env: ['PATH=/usr/bin:/bin', ...(options.env ?? [])], cwd: '/', user: { uid: 0, gid: 0 } },
    root: { path: 'rootfs' },
    mounts: [],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
  };
  options.edit?.(config);
  sys.addFile(join(dir, 'config.json'), JSON.stringify(config));
  sys.addFile(join(dir, 'rootfs/bin/sh'), '#!busybox', { executable: true, mode: 0o755 });
  return dir;
}

export const SIM = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'];
