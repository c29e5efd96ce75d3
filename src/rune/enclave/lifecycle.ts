/**
 * The host side of an enclave container's lifecycle (docs/enclave-runtimes.md "Lifecycle"):
 *
 *   create  validate the enclave configuration, compute the measurement, write the enclave description and
 *           a derived bundle, let the backend create the container, then start its PID 1 (init-runelet) at
 *           once so that it loads the enclave runtime and calls PAL init *during create*: a failing PAL init
 *           fails `rune create` with the runtime's own message, and leaves nothing behind. init-runelet then
 *           waits on the control FIFO.
 *   start   write one byte to the control FIFO: init-runelet runs the startContainer hooks (when the config has
 *           some, rune waits for its report, as runc's start waits for them), then create_process + exec.
 *   state   the backend's state, except that a container whose workload was not started yet is "created"
 *           and the bundle is the engine's.
 *   kill    the backend's kill reaches init-runelet, which forwards the signal to the runtime.
 *   delete  the backend's delete, then the attestation socket and rune's state go.
 */
import { basename, join } from 'node:path';
import type { InclavareError } from '../../errors/errors.ts';
import { runeError } from '../codes.ts';
import { distDir } from '../../util/dist-dir.ts';
import type { OciConfig } from '../../oci/config.ts';
import { backendArgs, captureBackend, findBackend, runBackend } from '../backend.ts';
import type { RuneContext } from '../context.ts';
import { claimContainer, removeState, type ContainerPaths } from '../state.ts';
import type { Sys } from '../../sys/sys.ts';
import { attestationTee, inclavaredAttestation, registerAttestation, unregisterAttestation, type AttestationRegistration, type AttestationService } from './attestation.ts';
import { cachedHostNode, deriveConfig } from './bundle.ts';
import { IN_CONTAINER } from '../../runelet/description.ts';
import type { EnclaveConfig } from './config.ts';
import { CONTROL, type EnclaveDescription, type InitStatus, type OciHook, type StartContainerHooks, type StartStatus } from '../../runelet/description.ts';
import { measureWorkload, type WorkloadMeasurement, type WorkloadToMeasure } from './measurement.ts';
import { DigestCache, digestCacheConfigFromEnv } from './digest-cache.ts';
import { nodeTreeReader } from '../../sys/tree.ts';
import { canRaiseHardLimits, ownHardLimits, planRlimits } from './rlimits.ts';
import { findEntrypoint, missingAncestors, type MountLike } from './rootfs-path.ts';
import { encodeSimLaunch } from '../../runelet/launch.ts';
import { faultPoint } from '../../util/fault.ts';


/** Host paths of an enclave container's extra state. */
export function enclavePaths(paths: ContainerPaths): { control: string; bundle: string; started: string; startHooks: string; fifo: string; status: string; exit: string; startStatus: string; released: string } {
  const control = join(paths.dir, 'control');
  return {
    control,
    bundle: join(paths.dir, 'bundle'),
    started: join(paths.dir, 'started'),
    /** Present when the container has startContainer hooks: the launcher hands `start` to Node.js, which waits for them. */
    startHooks: join(paths.dir, 'start-hooks'),
    fifo: join(control, CONTROL.start),
    status: join(control, CONTROL.status),
    exit: join(control, CONTROL.exit),
    startStatus: join(control, CONTROL.started),
    released: join(control, CONTROL.released),
  };
}

function configError(message: string): InclavareError {
  return runeError('RUNE_ERR_ENCLAVE_CONFIG', message);
}

const SGX_DEVICES = ['/dev/sgx_enclave', '/dev/sgx/enclave', '/dev/isgx'];

/** Refuses an enclave type this host cannot provide, naming what is missing. */
export function checkHostSupports(sys: Sys, type: string): void {
  if (type === 'sim') return;
  if (type === 'tdx' || type === 'snp') {
    const tsm = sys.env.RUNE_TSM_PATH ?? '/sys/kernel/config/tsm/report';
    if (sys.stat(tsm) === undefined) {
      throw configError(`Cannot run enclave type ${type}: this host is not a confidential VM with configfs-tsm (${tsm} is missing); use ENCLAVE_TYPE=sim for a software enclave`);
    }
    return;
  }
  if (type === 'intelSgx') {
    if (!SGX_DEVICES.some((d) => sys.stat(d) !== undefined)) {
      throw configError(`Cannot run enclave type intelSgx: this host has no SGX device (${SGX_DEVICES.join(', ')}); use ENCLAVE_TYPE=sim for a software enclave`);
    }
    return;
  }
  throw configError(`Cannot run enclave type ${type}: this rune does not support it on this host; use sim, tdx, snp or intelSgx`);
}

/** Everything about the workload rune decides on the host. */
export interface PreparedEnclave {
  description: EnclaveDescription;
  rootfs: string;
  /** process.rlimits of init-runelet (undefined: none; sim applies the config's to the workload instead). */
  initRlimits: unknown;
  /** The host uid and gid of the container's process user (through the user namespace's mappings). */
  hostUser: { uid: number; gid: number };
  /** What the rootfs measurement covered and how the digest cache served it. */
  measured: { entries: number; bytes: number; cache?: WorkloadMeasurement['cache'] };
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

/** The container's process user as the container sees it. */
function containerUser(config: OciConfig): { uid: number; gid: number } {
  const user = (config.process?.user ?? {}) as { uid?: number; gid?: number };
  return { uid: user.uid ?? 0, gid: user.gid ?? 0 };
}

/** The container's process user as the host sees it. */
function hostUserOf(config: OciConfig): { uid: number; gid: number } {
  const user = containerUser(config);
  const linux = (config.linux ?? {}) as { namespaces?: { type: string; path?: string }[]; uidMappings?: IdMapping[]; gidMappings?: IdMapping[] };
  const userns = (linux.namespaces ?? []).some((ns) => ns.type === 'user');
  const uid = hostId(user.uid, userns ? (linux.uidMappings ?? []) : undefined);
  const gid = hostId(user.gid, userns ? (linux.gidMappings ?? []) : undefined);
  if (uid === undefined || gid === undefined) {
    throw configError(`Cannot create enclave container: process.user ${user.uid}:${user.gid} is not mapped by linux.uidMappings/gidMappings`);
  }
  return { uid, gid };
}

/** A validated enclave container before its measurement: the description's `measurement` is still empty. */
export interface PlannedEnclave extends Omit<PreparedEnclave, 'measured'> {
  /** What the measurement covers. */
  workload: WorkloadToMeasure;
}

/** Computes the measurement of a planned enclave container (no side effects but the digest cache's; see measureWorkload for `absent`). */
export async function measurePlanned(sys: Sys, planned: PlannedEnclave, options: { cache?: DigestCache; absent?: readonly string[] } = {}): Promise<PreparedEnclave> {
  const { workload, ...rest } = planned;
  const { measurement, tree, cache } = await measureWorkload(workload, sys, options);
  return { ...rest, description: { ...rest.description, measurement }, measured: { entries: tree.entries, bytes: tree.bytes, ...(cache !== undefined ? { cache } : {}) } };
}

/** Validates the configuration against the bundle (no side effects); the measurement is left to {@link measurePlanned}. */
export function planEnclave(sys: Sys, id: string, bundle: string, config: OciConfig, enclave: EnclaveConfig): PlannedEnclave {
  checkHostSupports(sys, enclave.type);
  const rootPath = config.root?.path ?? 'rootfs';
  const rootfs = rootPath.startsWith('/') ? rootPath : join(bundle, rootPath);
  const args = config.process?.args ?? [];
  if (args.length === 0 || typeof args[0] !== 'string' || args[0] === '') {
    throw configError(`Cannot create enclave container ${JSON.stringify(id)}: config.json has no process.args (the workload to run in the enclave)`);
  }
  const cwd = typeof config.process?.cwd === 'string' ? config.process.cwd : '/';
  const mounts = Array.isArray(config.mounts) ? (config.mounts as MountLike[]) : [];
  const entry = findEntrypoint(rootfs, args[0]!, enclave.workloadEnv, cwd, mounts, sys);
  if (entry === undefined) {
    throw runeError(
      'RUNE_ERR_ENTRYPOINT',
      `Cannot create enclave container ${JSON.stringify(id)}: entrypoint ${JSON.stringify(args[0])} is not a file in the container's rootfs${args[0]!.includes('/') ? '' : ' (searched the process PATH)'}`,
    );
  }
  if (enclave.runtime === 'wasm' && !sys.readHead(entry.host, 4).equals(Buffer.from([0, 0x61, 0x73, 0x6d]))) {
    throw runeError('RUNE_ERR_ENTRYPOINT', `Cannot create wasm enclave container ${JSON.stringify(id)}: entrypoint ${entry.inContainer} is not a WebAssembly module (no \\0asm header)`);
  }
  let runtimeInContainer = enclave.runtime;
  if (enclave.runtime !== 'sim' && enclave.runtime !== 'wasm') {
    if (sys.stat(enclave.runtime) === undefined) {
      throw configError(`Cannot load enclave runtime ${enclave.runtime}: the file does not exist on this host`);
    }
    if (!sys.readHead(enclave.runtime, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
      throw configError(`Cannot load enclave runtime ${enclave.runtime}: it is not a shared library (no ELF header)`);
    }
    runtimeInContainer = join(IN_CONTAINER.palDir, basename(enclave.runtime));
  }
  const hostUser = hostUserOf(config);
  // rune's own hard limits and whether it may raise them matter only for the limits the config sets.
  const hasRlimits = Array.isArray(config.process?.rlimits) && config.process.rlimits.length > 0;
  const rlimits = planRlimits(config.process?.rlimits, {
    runtime: enclave.runtime === 'sim' || enclave.runtime === 'wasm' ? enclave.runtime : 'native',
    nprocApplies: hostUser.uid !== 0,
    ownHard: hasRlimits ? ownHardLimits(sys.readFile('/proc/self/limits').toString('utf8')) : new Map(),
    canRaise: hasRlimits ? canRaiseHardLimits(sys.readFile('/proc/self/status').toString('utf8')) : true,
  });
  const workload: WorkloadToMeasure = { type: enclave.type, runtime: enclave.runtime, runtimeArgs: enclave.runtimeArgs, rootfs, mounts, entrypoint: entry, args, env: enclave.workloadEnv, cwd, secrets: enclave.secrets };
  const description: EnclaveDescription = {
    version: 1,
    id,
    bundle,
    type: enclave.type,
    runtime: runtimeInContainer,
    ...(runtimeInContainer !== enclave.runtime ? { runtimeHostPath: enclave.runtime } : {}),
    runtimeArgs: enclave.runtimeArgs,
    logLevel: enclave.logLevel,
    measurement: '',
    process: {
      path: entry.inContainer,
      args,
      env: enclave.workloadEnv,
      cwd,
      terminal: config.process?.terminal === true,
      ...(rlimits.workload.length > 0 ? { rlimits: rlimits.workload } : {}),
    },
    created: sys.now().toISOString(),
  };
  return { description, rootfs, initRlimits: rlimits.initRunelet, hostUser, workload };
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

/**
 * The config's startContainer hooks, which init-runelet runs at `rune start` (undefined: none). A hook that
 * is not an object with a string path, string args and env and a numeric timeout is refused, as runc's
 * create refuses it.
 */
export function startContainerHooks(config: OciConfig): OciHook[] | undefined {
  const hooks = config.hooks as Record<string, unknown> | null | undefined;
  const list = hooks !== null && typeof hooks === 'object' ? hooks.startContainer : undefined;
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) throw configError('Cannot create enclave container: hooks.startContainer in config.json is not an array');
  const strings = (v: unknown): boolean => v === undefined || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
  list.forEach((hook: unknown, i) => {
    const h = hook as Record<string, unknown> | null;
    if (h === null || typeof h !== 'object' || typeof h.path !== 'string' || !strings(h.args) || !strings(h.env) || (h.timeout !== undefined && typeof h.timeout !== 'number')) {
      throw configError(`Cannot create enclave container: hooks.startContainer[${i}] in config.json is not a hook (a string path, string args and env, a number timeout)`);
    }
  });
  return list.length > 0 ? (list as OciHook[]) : undefined;
}

/** The runtime-spec version the backend reports (`runc --version`: "spec: 1.0.2-dev"), for the hooks' state. */
export function backendSpecVersion(sys: Sys, backend: string, config: OciConfig): string {
  const res = captureBackend(sys, backend, ['--version']);
  const version = res.status === 0 ? /^spec: (\S+)/m.exec(res.stdout)?.[1] : undefined;
  return version ?? config.ociVersion ?? '1.0.2';
}

/** What init-runelet needs to run the startContainer hooks, as runc would have: their state's version and annotations. */
function describeStartHooks(sys: Sys, backend: string, config: OciConfig): StartContainerHooks | undefined {
  const hooks = startContainerHooks(config);
  if (hooks === undefined) return undefined;
  const annotations = config.annotations !== undefined && Object.keys(config.annotations).length > 0 ? config.annotations : undefined;
  return { hooks, ociVersion: backendSpecVersion(sys, backend, config), ...(annotations !== undefined ? { annotations } : {}) };
}

/**
 * Waits for a report init-runelet writes into the control directory: the report, 'stopped' when
 * init-runelet stopped without one (checked every 50 polls), or 'timeout'. It polls every millisecond for the
 * first 20 (init-runelet's C build reports ready about 1 ms after runc starts it), then every 5.
 */
async function waitForReport<T>(sys: Sys, file: string, alive: () => boolean, timeoutMs: number): Promise<T | 'stopped' | 'timeout'> {
  const deadline = sys.now().getTime() + timeoutMs;
  const read = (): T | undefined => (sys.stat(file) === undefined ? undefined : (JSON.parse(sys.readFile(file).toString('utf8')) as T));
  for (let i = 0; sys.now().getTime() < deadline; i++) {
    const status = read();
    if (status !== undefined) return status;
    if (i % 50 === 49 && !alive()) return read() ?? 'stopped';
    await sys.sleep(i < 20 ? 1 : 5);
  }
  return 'timeout';
}

/** Waits for init-runelet's report after PAL init. */
async function waitForInit(sys: Sys, statusFile: string, alive: () => boolean, timeoutMs = 60_000): Promise<InitStatus> {
  const status = await waitForReport<InitStatus>(sys, statusFile, alive, timeoutMs);
  if (status === 'stopped') return { state: 'error', message: 'init-runelet exited before it initialised the enclave runtime (see the container output)' };
  if (status === 'timeout') return { state: 'error', message: `init-runelet did not initialise the enclave runtime within ${timeoutMs / 1000} s` };
  return status;
}

/** Says whether the backend reports the container running. */
function backendRunning(sys: Sys, backend: string, paths: ContainerPaths, id: string): boolean {
  const s = captureBackend(sys, backend, ['--root', paths.backendRoot, 'state', id]);
  return s.status === 0 && (JSON.parse(s.stdout) as { status: string }).status === 'running';
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

/**
 * Whether create may measure the rootfs while the backend creates the container (`overlapped` in
 * createEnclaveContainer): only when nothing but the backend itself runs in between that could change the
 * rootfs or need the measurement first. OCI hooks that run during create (createRuntime, createContainer,
 * prestart, poststart: the derived bundle keeps them) could write to the rootfs, and init-runelet fetches a
 * container's secrets with evidence during create; either makes create measure first. RUNE_CREATE_OVERLAP=0
 * turns it off.
 */
function canOverlapMeasurement(config: OciConfig, enclave: EnclaveConfig, env: Readonly<Record<string, string | undefined>>, service: AttestationService | undefined): boolean {
  if (env.RUNE_CREATE_OVERLAP === '0' || enclave.secrets !== undefined) return false;
  const hooks = (config.hooks ?? {}) as Record<string, unknown>;
  if (['createRuntime', 'createContainer', 'prestart', 'poststart'].some((k) => Array.isArray(hooks[k]) && hooks[k].length > 0)) return false;
  // Attestation: the container is registered before the measurement is known, which is bound later.
  return attestationTee(enclave.type, enclave.runtime) === undefined || (service ?? inclavaredAttestation).bindMeasurement !== undefined;
}

/**
 * `rune create` of an enclave container. Returns the exit status (0) or throws with the cause.
 *
 * The rootfs measurement (tens of ms with the digest cache warm, seconds without it for a large rootfs) is
 * what an enclave container adds to create. When canOverlapMeasurement() allows, the container is
 * registered with inclavared pending (no measurement: its socket refuses evidence), and the measurement runs
 * and is bound to the registration while the backend creates the container (about 100 ms that cost the
 * measurement nothing): the paths the backend may create meanwhile (mount points that do not exist yet:
 * missingAncestors()) are skipped by the digest, as a digest taken before the backend ran would not have
 * them; the rest of the rootfs is not written by the backend. The measurement is the same as measuring first
 * (a test compares both). With a sim or wasm runtime the backend also starts init-runelet in the same call
 * (`run --detach`: one backend process less, and init-runelet's Node.js start overlaps the end of the
 * measurement). That is safe: init-runelet only initialises the runtime and waits for `rune start`, and asks
 * for no evidence; the workload, the first code that can, runs after create returned, by when the measurement
 * is bound (until then the pending registration refuses evidence). A native PAL's init runs only once the
 * measurement is bound.
 */
export async function createEnclaveContainer(options: CreateEnclaveOptions, ctx: RuneContext): Promise<number> {
  const { id } = options;
  const t0 = performance.now();
  const phases: string[] = [];
  const sys = ctx.sys;
  // RUNE_TIMINGS=DIR (benchmarks, docs/benchmarks.md "Where enclave start time goes"): the epoch ms of each step.
  const timingsDir = sys.env.RUNE_TIMINGS !== undefined && sys.env.RUNE_TIMINGS.startsWith('/') ? sys.env.RUNE_TIMINGS : undefined;
  // A pool worker (src/inclavared/pool/worker.ts) says when the call reached it: its process started earlier.
  const callStart = Number(sys.env.RUNE_TIMINGS_CALL_START);
  const marks: Record<string, number> = { processStart: callStart > 0 ? callStart : performance.timeOrigin, createStart: performance.timeOrigin + t0 };
  const phase = (name: string): void => {
    const now = performance.now();
    marks[name] = performance.timeOrigin + now;
    phases.push(`${name} ${(now - t0).toFixed(1)} ms`);
  };
  // The digest cache works on the real file system only (not on a test's fake tree); RUNE_CACHE=off disables it.
  const cacheConfig = sys.tree === nodeTreeReader ? digestCacheConfigFromEnv(sys.env) : undefined;
  const measureOptions = cacheConfig !== undefined ? { cache: new DigestCache(cacheConfig) } : {};
  const planned = planEnclave(sys, id, options.bundle, options.config, options.enclave);
  const overlapped = canOverlapMeasurement(options.config, options.enclave, sys.env, ctx.attestation);
  let prepared: PreparedEnclave | undefined;
  const logMeasured = (p: PreparedEnclave): void => {
    const c = p.measured.cache;
    ctx.log.debug(
      `rune: measured ${p.measured.entries} paths, ${p.measured.bytes} bytes of content${overlapped ? ' while the backend created the container' : ''}; digest cache ${
        c === undefined ? 'off' : c.untrusted !== undefined ? `not used (${c.untrusted})` : `${c.hits} hits (${c.hitBytes} bytes), ${c.misses} hashed, ${c.recorded} recorded${c.note !== undefined ? ` (${c.note})` : ''}`
      }`,
    );
  };
  if (!overlapped) {
    prepared = await measurePlanned(sys, planned, measureOptions);
    phase('measured');
    logMeasured(prepared);
  }
  const backend = findBackend(sys, ctx.backendFlag);
  const host = cachedHostNode(sys, join(ctx.root, '.host-node.json'));
  const dist = distDir(sys.env);
  const initScript = join(dist, 'init-runelet.mjs');
  if (sys.stat(initScript) === undefined) {
    throw runeError('RUNE_ERR_INSTALL', `Cannot create enclave container: ${initScript} is missing (rebuild rune with npm run build)`);
  }
  const paths = claimContainer(sys, ctx.root, id);
  faultPoint(sys.env.RUNE_FAULT, 'create:after-claim');
  const ep = enclavePaths(paths);
  let created = false;
  try {
    sys.mkdir(ep.control, { mode: 0o700 });
    sys.mkfifo(ep.fifo, 0o600);
    // init-runelet runs as the container's user, which a user namespace maps to another host id.
    const { uid, gid } = planned.hostUser;
    if (uid !== 0 || gid !== 0) {
      sys.chown(ep.control, uid, gid);
      sys.chown(ep.fifo, uid, gid);
    }
    makeMountPoint(sys, planned.rootfs);

    const description = prepared?.description ?? { ...planned.description };
    const startHooks = describeStartHooks(sys, backend, options.config);
    if (startHooks !== undefined) description.startContainer = startHooks;
    const tee = attestationTee(description.type, options.enclave.runtime);
    let registration: AttestationRegistration | undefined;
    if (overlapped) phase('configured');
    if (tee !== undefined) {
      const secrets = options.enclave.secrets;
      // Overlapped, the container is registered without its measurement (pending: its socket refuses
      // evidence), which is bound below once measured, before the backend starts init-runelet.
      registration = await registerAttestation(sys, paths, {
        ...(overlapped ? {} : { measurement: description.measurement }),
        tee,
        service: ctx.attestation,
        ...(secrets !== undefined ? { relay: secrets.verdictd } : {}),
      });
      phase('registered with inclavared');
      description.attestationSocket = join(IN_CONTAINER.attestDir, basename(registration.socket));
      if (secrets !== undefined) description.secrets = { resources: secrets.resources, verdictd: secrets.verdictd, verdictdKey: secrets.verdictdKey };
    }
    if (timingsDir !== undefined) description.timings = join(IN_CONTAINER.timings, `${id}.init.json`);
    const initSim = simInit(sys.env, description) ? join(dist, 'init-runelet-sim') : undefined;
    if (initSim !== undefined) {
      if (sys.stat(initSim) === undefined) throw runeError('RUNE_ERR_INSTALL', `Cannot create enclave container: ${initSim} is missing (rebuild rune with npm run build)`);
      let launch: Buffer;
      try {
        launch = encodeSimLaunch(description, host.loader);
      } catch (err) {
        throw configError(`Cannot create enclave container ${JSON.stringify(id)}: ${(err as Error).message}`);
      }
      sys.writeFileAtomic(join(ep.control, CONTROL.launch), launch, { mode: 0o644 });
    }
    // Overlapped, this first description has no measurement yet (init-runelet reads nothing of it that the
    // measurement decides); it is written again, complete, before the backend starts init-runelet.
    sys.writeFileAtomic(paths.enclaveFile, JSON.stringify(description, null, 2), { mode: 0o644 });
    if (startHooks !== undefined) sys.writeFileAtomic(ep.startHooks, `${startHooks.hooks.length}\n`, { mode: 0o644 });
    const modules: Record<string, string> = {};
    {
      // koffi and its prebuilt native module (a separate package per platform): the native PAL loader and
      // init-runelet's zombie reaper load it when they need it.
      const nodeModules = join(dist, '..', 'node_modules');
      modules.koffi = join(nodeModules, 'koffi');
      const native = `@koromix/koffi-${process.platform}-${process.arch}`;
      modules[native] = join(nodeModules, native);
    }
    const derived = deriveConfig(options.config, options.bundle, {
      rlimitExec: join(dist, 'rlimit-exec'),
      initSim,
      hookExec: join(dist, 'hook-exec'),
      exists: (path) => sys.stat(path) !== undefined,
      initRlimits: planned.initRlimits,
      host,
      initScript,
      chunksDir: join(dist, 'chunks'),
      enclaveFile: paths.enclaveFile,
      controlDir: ep.control,
      attestDir: registration?.socketDir,
      palLibrary: description.runtimeHostPath,
      modules,
      secretsOwner: description.secrets !== undefined ? containerUser(options.config) : undefined,
      timingsDir,
    });
    sys.mkdir(ep.bundle, { mode: 0o700 });
    sys.writeFileAtomic(join(ep.bundle, 'config.json'), JSON.stringify(derived), { mode: 0o644 });

    // One backend call (`run --detach`: create, and start init-runelet) when overlapped with our own runtime,
    // which writes nothing to the rootfs (why that is safe: the comment above this function). A native PAL's
    // pal_init is not ours (a LibOS may write to the rootfs): create, and start init-runelet once measured.
    const oneCall = overlapped && (options.enclave.runtime === 'sim' || options.enclave.runtime === 'wasm');
    const createArgs = withBundle(options.raw, ep.bundle);
    const runFlags = new Set(['--detach', '-d', '--keep', '--no-subreaper']);
    const backendCall = [...(oneCall ? ['run', '--detach'] : ['create']), ...createArgs.slice(1).filter((a) => !runFlags.has(a))];
    // What the backend may create in the rootfs while the overlapped measurement walks it.
    const absent = overlapped ? missingAncestors(planned.rootfs, [...mountDestinations(derived), typeof derived.process?.cwd === 'string' ? derived.process.cwd : '/'], sys) : [];
    const creating = runBackend(sys, backend, backendArgs(paths.backendRoot, ctx.globals, backendCall), { extraFds: options.extraFds }).then((status) => {
      if (status === 0) created = true;
      if (oneCall) phase('backend created');
      return status;
    });
    if (overlapped) {
      try {
        prepared = await measurePlanned(sys, planned, { ...measureOptions, absent });
        description.measurement = prepared.description.measurement;
        phase('measured');
        logMeasured(prepared);
        if (registration !== undefined) {
          await (ctx.attestation ?? inclavaredAttestation).bindMeasurement!(sys.env, registration.controlSocket, registration.key, description.measurement);
          phase('measurement bound');
        }
      } finally {
        // A failure still waits for the backend, so that the cleanup below knows what to delete.
        await creating;
      }
    }
    const status = await creating;
    if (status !== 0) throw runeError('RUNE_ERR_BACKEND', `Cannot create enclave container ${JSON.stringify(id)}: the backend runtime failed (exit status ${status}; its message is above)`);
    // The complete description, written once runc has bind-mounted the first one (a rename while runc opens
    // the mount source fails its mount with ENOENT).
    if (overlapped) sys.writeFileAtomic(paths.enclaveFile, JSON.stringify(description, null, 2), { mode: 0o644 });
    faultPoint(sys.env.RUNE_FAULT, 'create:after-backend-create');
    if (oneCall) {
      marks['init-runelet started'] = marks['backend created']!;
    } else {
      // Start PID 1 now: init-runelet initialises the enclave runtime during create, then waits for `rune start`.
      phase('backend created');
      const started = captureBackend(sys, backend, backendArgs(paths.backendRoot, ctx.globals, ['start', id]));
      phase('init-runelet started');
      if (started.status !== 0) throw runeError('RUNE_ERR_BACKEND', `Cannot start init-runelet of ${JSON.stringify(id)}: ${started.stderr.trim()}`);
    }
    faultPoint(sys.env.RUNE_FAULT, 'create:after-init-start');
    const alive = (): boolean => backendRunning(sys, backend, paths, id);
    const init = await waitForInit(sys, ep.status, alive);
    if (init.state !== 'ready') {
      if (init.code === 'secrets') throw runeError('RUNE_ERR_SECRETS', `Cannot create enclave container ${JSON.stringify(id)}: ${init.message}`);
      throw runeError('RUNE_ERR_ENCLAVE_INIT', `Cannot create enclave container ${JSON.stringify(id)}: ${init.message}`);
    }
    phase('enclave runtime initialised');
    if (timingsDir !== undefined) {
      const m = prepared!.measured;
      sys.writeFileAtomic(join(timingsDir, `${id}.create.json`), JSON.stringify({ id, runtime: options.enclave.runtime, overlapped, marks, measured: m }), { mode: 0o644 });
    }
    ctx.log.debug(`rune: enclave container ${id} initialised (${description.type}/${description.runtime}, measurement ${description.measurement}); Node.js ready after ${t0.toFixed(0)} ms, then ${phases.join(', ')}`);
    return 0;
  } catch (err) {
    if (created) captureBackend(sys, backend, backendArgs(paths.backendRoot, ctx.globals, ['delete', '--force', id]));
    await unregisterAttestation(sys, paths, ctx.attestation).catch(() => undefined);
    removeState(sys, paths);
    throw err;
  }
}

/**
 * Whether PID 1 is init-runelet-sim, the C build of init-runelet (src/init/init-runelet-sim.c), instead of
 * the Node.js one: for the `sim` runtime, when the container declares no secrets (fetched with RATS-TLS,
 * which is Node.js code) and has no startContainer hooks (run by init-runelet at start). RUNE_SIM_INIT=node
 * keeps the Node.js init-runelet (for comparison); any other value than `c` or unset is refused.
 */
export function simInit(env: NodeJS.ProcessEnv, description: EnclaveDescription): boolean {
  const choice = env.RUNE_SIM_INIT;
  if (choice !== undefined && choice !== 'c' && choice !== 'node') {
    throw configError(`Invalid RUNE_SIM_INIT=${JSON.stringify(choice)}: it is "c" (the default) or "node" (PID 1 of a sim container is the Node.js init-runelet)`);
  }
  return description.runtime === 'sim' && choice !== 'node' && description.secrets === undefined && description.startContainer === undefined;
}

/** The mount destinations of an OCI config. */
function mountDestinations(config: OciConfig): string[] {
  const mounts = Array.isArray(config.mounts) ? (config.mounts as MountLike[]) : [];
  return mounts.map((m) => m.destination).filter((d): d is string => typeof d === 'string');
}

/**
 * Makes the /.rune mount point in the rootfs from the host. runc would make it inside the container, which
 * fails in a user namespace whose root does not own the rootfs (`mkdir /.rune: permission denied`, issue #11),
 * and on a read-only rootfs runc makes it on the host as well, as for any missing mount point. An existing
 * /.rune that is not a directory (a symlink out of the rootfs) is refused.
 */
export function makeMountPoint(sys: Sys, rootfs: string): void {
  const dir = join(rootfs, IN_CONTAINER.dir);
  const existing = sys.lstat(dir);
  if (existing?.type === 'directory') return;
  if (existing !== undefined) {
    throw runeError('RUNE_ERR_MOUNT_POINT', `Cannot create enclave container: ${IN_CONTAINER.dir} in its rootfs (${dir}) exists and is not a directory; rune mounts the enclave runtime there`);
  }
  try {
    sys.mkdir(dir, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw runeError('RUNE_ERR_MOUNT_POINT', `Cannot create enclave container: cannot make the mount point ${dir} (${(err as Error).message})`, { cause: err });
  }
}

/**
 * `rune start` of an enclave container: releases init-runelet, which runs the startContainer hooks and then
 * creates and runs the workload. With startContainer hooks it returns once they ran, as runc's start does;
 * a failing hook ends the container (its error on the container's stderr, exit status 1) and start still
 * succeeds, as runc 1.1's does: the init it released failed after the start signal.
 */
export async function startEnclaveContainer(ctx: RuneContext, paths: ContainerPaths, id: string): Promise<number> {
  const sys = ctx.sys;
  const ep = enclavePaths(paths);
  if (sys.stat(ep.started) !== undefined || sys.stat(ep.released) !== undefined) {
    throw runeError('RUNE_ERR_WRONG_STATE', `Cannot start container ${JSON.stringify(id)}: it was already started`);
  }
  try {
    sys.writeFifo(ep.fifo, Buffer.from([1]));
  } catch (err) {
    throw runeError('RUNE_ERR_WRONG_STATE', `Cannot start container ${JSON.stringify(id)}: its init-runelet is not waiting (it has stopped, or the create that started it did not finish); delete it with rune delete --force`, { cause: err });
  }
  faultPoint(sys.env.RUNE_FAULT, 'start:after-release');
  const description = JSON.parse(sys.readFile(paths.enclaveFile).toString('utf8')) as EnclaveDescription;
  if (description.startContainer !== undefined) {
    const backend = findBackend(sys, ctx.backendFlag);
    const alive = (): boolean => backendRunning(sys, backend, paths, id);
    // No time limit: runc's start waits for the hooks as long as they run (each may have its own timeout).
    const report = await waitForReport<StartStatus>(sys, ep.startStatus, alive, Number.POSITIVE_INFINITY);
    if (report !== 'timeout' && (report === 'stopped' || report.state === 'error')) {
      ctx.log.debug(`rune: container ${id} stopped at start: ${report === 'stopped' ? 'init-runelet exited' : report.message}`);
      // runc's start returns once its init has exited: wait (briefly) until the backend sees it stopped.
      for (let i = 0; i < 200 && alive(); i++) await sys.sleep(5);
    }
  }
  sys.writeFileAtomic(ep.started, sys.now().toISOString(), { mode: 0o644 });
  return 0;
}

/** The backend's state of an enclave container, as the engine must see it. */
export function patchEnclaveState(sys: Sys, paths: ContainerPaths, state: Record<string, unknown>): Record<string, unknown> {
  const description = JSON.parse(sys.readFile(paths.enclaveFile).toString('utf8')) as EnclaveDescription;
  const patched: Record<string, unknown> = { ...state, bundle: description.bundle };
  // Started: `rune start` recorded it, or init-runelet read the start byte (a start killed in between).
  const ep = enclavePaths(paths);
  if (state.status === 'running' && sys.stat(ep.started) === undefined && sys.stat(ep.released) === undefined) patched.status = 'created';
  return patched;
}
