/**
 * The host side of an enclave container's lifecycle (docs/enclave-runtimes.md "Lifecycle"):
 *
 *   create  validate the enclave configuration, compute the measurement, write the enclave description and
 *           a derived bundle, let the backend create the container, then start its PID 1 (init-runelet) at
 *           once so that it loads the enclave runtime and calls PAL init *during create*: a failing PAL init
 *           fails `rune create` with the runtime's own message, and leaves nothing behind. init-runelet then
 *           waits on the control FIFO.
 *   start   write one byte to the control FIFO: init-runelet calls create_process + exec.
 *   state   the backend's state, except that a container whose workload was not started yet is "created"
 *           and the bundle is the engine's.
 *   kill    the backend's kill reaches init-runelet, which forwards the signal to the runtime.
 *   delete  the backend's delete, then the attestation socket and rune's state go.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, closeSync, constants as fsConstants, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InclavareError } from '../../errors/errors.ts';
import { distDir } from '../../util/dist-dir.ts';
import type { OciConfig } from '../../oci/config.ts';
import { backendArgs, captureBackend, findBackend, runBackend } from '../backend.ts';
import type { RuneContext } from '../context.ts';
import { claimContainer, type ContainerPaths } from '../state.ts';
import { attestationTee, registerAttestation, unregisterAttestation } from './attestation.ts';
import { cachedHostNode, deriveConfig } from './bundle.ts';
import { IN_CONTAINER } from '../../runelet/description.ts';
import type { EnclaveConfig } from './config.ts';
import { CONTROL, type EnclaveDescription, type InitStatus } from '../../runelet/description.ts';
import { computeMeasurement, runtimeIdentity, sha384Hex } from './measurement.ts';
import { planRlimits } from './rlimits.ts';
import { findEntrypoint, type MountLike } from './rootfs-path.ts';


/** Host paths of an enclave container's extra state. */
export function enclavePaths(paths: ContainerPaths): { control: string; bundle: string; started: string; fifo: string; status: string; exit: string } {
  const control = join(paths.dir, 'control');
  return {
    control,
    bundle: join(paths.dir, 'bundle'),
    started: join(paths.dir, 'started'),
    fifo: join(control, CONTROL.start),
    status: join(control, CONTROL.status),
    exit: join(control, CONTROL.exit),
  };
}

function configError(message: string): InclavareError {
  return new InclavareError('RUNE_ERR_ENCLAVE_CONFIG', 'invalid-argument', message);
}

const SGX_DEVICES = ['/dev/sgx_enclave', '/dev/sgx/enclave', '/dev/isgx'];

/** Refuses an enclave type this host cannot provide, naming what is missing. */
export function checkHostSupports(type: string): void {
  if (type === 'sim') return;
  if (type === 'tdx' || type === 'snp') {
    const tsm = process.env.RUNE_TSM_PATH ?? '/sys/kernel/config/tsm/report';
    if (!existsSync(tsm)) {
      throw configError(`Cannot run enclave type ${type}: this host is not a confidential VM with configfs-tsm (${tsm} is missing); use ENCLAVE_TYPE=sim for a software enclave`);
    }
    return;
  }
  if (type === 'intelSgx') {
    if (!SGX_DEVICES.some((d) => existsSync(d))) {
      throw configError(`Cannot run enclave type intelSgx: this host has no SGX device (${SGX_DEVICES.join(', ')}); use ENCLAVE_TYPE=sim for a software enclave`);
    }
    return;
  }
  throw configError(`Cannot run enclave type ${type}: this rune does not support it on this host; use sim, tdx, snp or intelSgx`);
}

function readMagic(path: string, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const n = readSync(fd, buf);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Everything about the workload rune decides on the host. */
export interface PreparedEnclave {
  description: EnclaveDescription;
  rootfs: string;
  /** process.rlimits of init-runelet (undefined: none; sim applies the config's to the workload instead). */
  initRlimits: unknown;
  /** The host uid and gid of the container's process user (through the user namespace's mappings). */
  hostUser: { uid: number; gid: number };
}

interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** The host id of container id `id` under `mappings` (no user namespace: itself); undefined when it is not mapped. */
export function hostId(id: number, mappings: IdMapping[] | undefined): number | undefined {
  if (mappings === undefined) return id;
  for (const m of mappings) if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  return undefined;
}

/** The container's process user as the host sees it. */
function hostUserOf(config: OciConfig): { uid: number; gid: number } {
  const user = (config.process?.user ?? {}) as { uid?: number; gid?: number };
  const linux = (config.linux ?? {}) as { namespaces?: { type: string; path?: string }[]; uidMappings?: IdMapping[]; gidMappings?: IdMapping[] };
  const userns = (linux.namespaces ?? []).some((ns) => ns.type === 'user');
  const uid = hostId(user.uid ?? 0, userns ? (linux.uidMappings ?? []) : undefined);
  const gid = hostId(user.gid ?? 0, userns ? (linux.gidMappings ?? []) : undefined);
  if (uid === undefined || gid === undefined) {
    throw configError(`Cannot create enclave container: process.user ${user.uid ?? 0}:${user.gid ?? 0} is not mapped by linux.uidMappings/gidMappings`);
  }
  return { uid, gid };
}

/** Validates the configuration against the bundle and computes the measurement (no side effects). */
export function prepareEnclave(id: string, bundle: string, config: OciConfig, enclave: EnclaveConfig): PreparedEnclave {
  checkHostSupports(enclave.type);
  const rootPath = config.root?.path ?? 'rootfs';
  const rootfs = rootPath.startsWith('/') ? rootPath : join(bundle, rootPath);
  const args = config.process?.args ?? [];
  if (args.length === 0 || typeof args[0] !== 'string' || args[0] === '') {
    throw configError(`Cannot create enclave container ${JSON.stringify(id)}: config.json has no process.args (the workload to run in the enclave)`);
  }
  const cwd = typeof config.process?.cwd === 'string' ? config.process.cwd : '/';
  const mounts = Array.isArray(config.mounts) ? (config.mounts as MountLike[]) : [];
  const entry = findEntrypoint(rootfs, args[0]!, enclave.workloadEnv, cwd, mounts);
  if (entry === undefined) {
    throw new InclavareError(
      'RUNE_ERR_ENTRYPOINT',
      'invalid-argument',
      `Cannot create enclave container ${JSON.stringify(id)}: entrypoint ${JSON.stringify(args[0])} is not a file in the container's rootfs${args[0]!.includes('/') ? '' : ' (searched the process PATH)'}`,
    );
  }
  if (enclave.runtime === 'wasm' && !readMagic(entry.host, 4).equals(Buffer.from([0, 0x61, 0x73, 0x6d]))) {
    throw new InclavareError('RUNE_ERR_ENTRYPOINT', 'invalid-argument', `Cannot create wasm enclave container ${JSON.stringify(id)}: entrypoint ${entry.inContainer} is not a WebAssembly module (no \\0asm header)`);
  }
  let runtimeInContainer = enclave.runtime;
  if (enclave.runtime !== 'sim' && enclave.runtime !== 'wasm') {
    if (!existsSync(enclave.runtime)) {
      throw configError(`Cannot load enclave runtime ${enclave.runtime}: the file does not exist on this host`);
    }
    if (!readMagic(enclave.runtime, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
      throw configError(`Cannot load enclave runtime ${enclave.runtime}: it is not a shared library (no ELF header)`);
    }
    runtimeInContainer = join(IN_CONTAINER.palDir, basename(enclave.runtime));
  }
  const hostUser = hostUserOf(config);
  const rlimits = planRlimits(config.process?.rlimits, { runtime: enclave.runtime === 'sim' || enclave.runtime === 'wasm' ? enclave.runtime : 'native', nprocApplies: hostUser.uid !== 0 });
  const identity = runtimeIdentity(enclave.runtime);
  const measurement = computeMeasurement({
    type: enclave.type,
    ...identity,
    runtimeArgs: enclave.runtimeArgs,
    entrypoint: entry.inContainer,
    entrypointDigest: sha384Hex(readFileSync(entry.host)),
    args,
    env: enclave.workloadEnv,
    cwd,
  });
  const description: EnclaveDescription = {
    version: 1,
    id,
    bundle,
    type: enclave.type,
    runtime: runtimeInContainer,
    ...(runtimeInContainer !== enclave.runtime ? { runtimeHostPath: enclave.runtime } : {}),
    runtimeArgs: enclave.runtimeArgs,
    logLevel: enclave.logLevel,
    measurement,
    process: {
      path: entry.inContainer,
      args,
      env: enclave.workloadEnv,
      cwd,
      terminal: config.process?.terminal === true,
      ...(rlimits.workload.length > 0 ? { rlimits: rlimits.workload } : {}),
    },
    created: new Date().toISOString(),
  };
  return { description, rootfs, initRlimits: rlimits.initRunelet, hostUser };
}

/** Replaces the engine's --bundle in create/run arguments with the derived bundle. */
export function withBundle(raw: string[], bundle: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const arg = raw[i]!;
    if (arg === '--bundle' || arg === '-b') {
      i++;
      continue;
    }
    if (arg.startsWith('--bundle=') || arg.startsWith('-b=')) continue;
    out.push(arg);
  }
  // after the command name: `create --bundle B ...`
  out.splice(1, 0, '--bundle', bundle);
  return out;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for init-runelet's report after PAL init. */
async function waitForInit(statusFile: string, alive: () => boolean, timeoutMs = 60_000): Promise<InitStatus> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < deadline; i++) {
    if (existsSync(statusFile)) return JSON.parse(readFileSync(statusFile, 'utf8')) as InitStatus;
    if (i % 50 === 49 && !alive()) {
      if (existsSync(statusFile)) return JSON.parse(readFileSync(statusFile, 'utf8')) as InitStatus;
      return { state: 'error', message: 'init-runelet exited before it initialised the enclave runtime (see the container output)' };
    }
    await sleep(5);
  }
  return { state: 'error', message: `init-runelet did not initialise the enclave runtime within ${timeoutMs / 1000} s` };
}

/** Options of {@link createEnclaveContainer}. */
export interface CreateEnclaveOptions {
  id: string;
  raw: string[];
  bundle: string;
  config: OciConfig;
  enclave: EnclaveConfig;
  extraFds: number;
}

/** `rune create` of an enclave container. Returns the exit status (0) or throws with the cause. */
export async function createEnclaveContainer(options: CreateEnclaveOptions, ctx: RuneContext): Promise<number> {
  const { id } = options;
  const t0 = performance.now();
  const phases: string[] = [];
  const phase = (name: string): void => {
    phases.push(`${name} ${(performance.now() - t0).toFixed(1)} ms`);
  };
  const prepared = prepareEnclave(id, options.bundle, options.config, options.enclave);
  phase('measured');
  const backend = findBackend(ctx.backendFlag);
  const host = cachedHostNode(join(ctx.root, '.host-node.json'));
  const initScript = join(distDir(), 'init-runelet.mjs');
  if (!existsSync(initScript)) {
    throw new InclavareError('RUNE_ERR_INSTALL', 'failed-precondition', `Cannot create enclave container: ${initScript} is missing (rebuild rune with npm run build)`);
  }
  const paths = claimContainer(ctx.root, id);
  const ep = enclavePaths(paths);
  let created = false;
  try {
    mkdirSync(ep.control, { mode: 0o700 });
    execFileSync('mkfifo', ['-m', '0600', ep.fifo]);
    // init-runelet runs as the container's user, which a user namespace maps to another host id.
    const { uid, gid } = prepared.hostUser;
    if (uid !== 0 || gid !== 0) {
      chownSync(ep.control, uid, gid);
      chownSync(ep.fifo, uid, gid);
    }
    makeMountPoint(prepared.rootfs);

    const description = prepared.description;
    const tee = attestationTee(description.type, options.enclave.runtime);
    let attestDir: string | undefined;
    if (tee !== undefined) {
      const registration = await registerAttestation(paths, description.measurement, tee);
      phase('registered with inclavared');
      attestDir = registration.socketDir;
      description.attestationSocket = join(IN_CONTAINER.attestDir, basename(registration.socket));
    }
    writeFileSync(paths.enclaveFile, JSON.stringify(description, null, 2), { mode: 0o644 });
    const modules: Record<string, string> = {};
    {
      // koffi and its prebuilt native module (a separate package per platform): the native PAL loader and
      // init-runelet's zombie reaper load it when they need it.
      const nodeModules = join(distDir(), '..', 'node_modules');
      modules.koffi = join(nodeModules, 'koffi');
      const native = `@koromix/koffi-${process.platform}-${process.arch}`;
      modules[native] = join(nodeModules, native);
    }
    const derived = deriveConfig(options.config, options.bundle, {
      rlimitExec: join(distDir(), 'rlimit-exec'),
      hookExec: join(distDir(), 'hook-exec'),
      initRlimits: prepared.initRlimits,
      host,
      initScript,
      chunksDir: join(distDir(), 'chunks'),
      enclaveFile: paths.enclaveFile,
      controlDir: ep.control,
      attestDir,
      palLibrary: description.runtimeHostPath,
      modules,
    });
    mkdirSync(ep.bundle, { mode: 0o700 });
    writeFileSync(join(ep.bundle, 'config.json'), JSON.stringify(derived));

    const createArgs = withBundle(options.raw, ep.bundle);
    createArgs[0] = 'create';
    const runFlags = new Set(['--detach', '-d', '--keep', '--no-subreaper']);
    const status = await runBackend(backend, backendArgs(paths.backendRoot, ctx.globals, createArgs.filter((a) => !runFlags.has(a))), { extraFds: options.extraFds });
    if (status !== 0) throw new InclavareError('RUNE_ERR_BACKEND', 'internal', `Cannot create enclave container ${JSON.stringify(id)}: the backend runtime failed (exit status ${status}; its message is above)`);
    created = true;
    // Start PID 1 now: init-runelet initialises the enclave runtime during create, then waits for `rune start`.
    phase('backend created');
    const started = captureBackend(backend, backendArgs(paths.backendRoot, ctx.globals, ['start', id]));
    phase('init-runelet started');
    if (started.status !== 0) throw new InclavareError('RUNE_ERR_BACKEND', 'internal', `Cannot start init-runelet of ${JSON.stringify(id)}: ${started.stderr.trim()}`);
    const alive = (): boolean => {
      const s = captureBackend(backend, ['--root', paths.backendRoot, 'state', id]);
      return s.status === 0 && (JSON.parse(s.stdout) as { status: string }).status === 'running';
    };
    const init = await waitForInit(ep.status, alive);
    if (init.state !== 'ready') {
      throw new InclavareError('RUNE_ERR_ENCLAVE_INIT', 'failed-precondition', `Cannot create enclave container ${JSON.stringify(id)}: ${init.message}`);
    }
    phase('enclave runtime initialised');
    ctx.log.debug(`rune: enclave container ${id} initialised (${description.type}/${description.runtime}, measurement ${description.measurement}); Node.js ready after ${t0.toFixed(0)} ms, then ${phases.join(', ')}`);
    return 0;
  } catch (err) {
    if (created) captureBackend(backend, backendArgs(paths.backendRoot, ctx.globals, ['delete', '--force', id]));
    await unregisterAttestation(paths).catch(() => undefined);
    rmSync(paths.dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Makes the /.rune mount point in the rootfs from the host. runc would make it inside the container, which
 * fails in a user namespace whose root does not own the rootfs (`mkdir /.rune: permission denied`, issue #11),
 * and on a read-only rootfs runc makes it on the host as well, as for any missing mount point. An existing
 * /.rune that is not a directory (a symlink out of the rootfs) is refused.
 */
export function makeMountPoint(rootfs: string): void {
  const dir = join(rootfs, IN_CONTAINER.dir);
  try {
    if (lstatSync(dir).isDirectory()) return;
    throw configError(`Cannot create enclave container: ${IN_CONTAINER.dir} in its rootfs (${dir}) exists and is not a directory; rune mounts the enclave runtime there`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new InclavareError('RUNE_ERR_ENCLAVE_CONFIG', 'failed-precondition', `Cannot create enclave container: cannot make the mount point ${dir} (${(err as Error).message})`, { cause: err });
  }
}

/** `rune start` of an enclave container: releases init-runelet, which creates and runs the workload. */
export function startEnclaveContainer(paths: ContainerPaths, id: string): number {
  const ep = enclavePaths(paths);
  if (existsSync(ep.started)) {
    throw new InclavareError('RUNE_ERR_STATE', 'failed-precondition', `Cannot start container ${JSON.stringify(id)}: it was already started`);
  }
  let fd: number;
  try {
    fd = openSync(ep.fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw new InclavareError('RUNE_ERR_STATE', 'failed-precondition', `Cannot start container ${JSON.stringify(id)}: its init-runelet is not waiting (it has stopped)`, { cause: err });
  }
  try {
    writeSync(fd, Buffer.from([1]));
  } finally {
    closeSync(fd);
  }
  writeFileSync(ep.started, new Date().toISOString());
  return 0;
}

/** The backend's state of an enclave container, as the engine must see it. */
export function patchEnclaveState(paths: ContainerPaths, state: Record<string, unknown>): Record<string, unknown> {
  const description = JSON.parse(readFileSync(paths.enclaveFile, 'utf8')) as EnclaveDescription;
  const patched: Record<string, unknown> = { ...state, bundle: description.bundle };
  if (state.status === 'running' && !existsSync(enclavePaths(paths).started)) patched.status = 'created';
  return patched;
}
