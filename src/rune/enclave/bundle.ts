/**
 * The derived bundle of an enclave container: the engine's config.json, unchanged except that PID 1 is
 * init-runelet, run by the host's Node.js injected read-only under /.rune (docs/enclave-containers.md "What happens": the
 * node binary and the libraries it links, started through the dynamic loader, so nothing in the image is
 * needed), with the container's enclave description, its control directory and its attestation socket
 * bind-mounted beside it. The engine's bundle is never written to.
 */
import { basename, isAbsolute, join, posix } from 'node:path';
import { runeError } from '../codes.ts';
import type { OciConfig } from '../../oci/config.ts';
import { IN_CONTAINER, type OciHook } from '../../runelet/description.ts';
import type { Sys } from '../../sys/sys.ts';

/**
 * init-runelet's own environment (the workload's is in the enclave description): one libuv worker thread and
 * (initCommand) one V8 worker, so that its Node.js needs few tasks under a low RLIMIT_NPROC (issue #11), and
 * nothing from the workload's env (NODE_OPTIONS there must not reach init-runelet).
 */
export const INIT_RUNELET_ENV = ['UV_THREADPOOL_SIZE=1'];

/**
 * With a native PAL library, pal_exec blocks a libuv worker for as long as a process runs: the workload holds
 * one, and each `rune exec` into the same instance (src/init/exec-channel.ts) another, so init-runelet gets four
 * (up to three concurrent execs; a fourth waits for one to end). Still well under INIT_RUNELET_MIN_NPROC.
 */
export const INIT_RUNELET_NATIVE_ENV = ['UV_THREADPOOL_SIZE=4'];

/** The host's Node.js as it will be injected: the binary, the loader and the libraries it links. */
export interface HostNode {
  node: string;
  loader: string;
  libs: string[];
}

/**
 * The host's node binary and its shared libraries, from a cache file when one matches the binary (size and
 * modification time), else from ldd (which costs a few milliseconds on every enclave create).
 */
export function cachedHostNode(sys: Sys, cacheFile: string, nodePath: string = process.execPath): HostNode {
  const node = sys.realpath(nodePath);
  const st = sys.stat(node);
  const stamp = `${node}:${st?.size}:${st?.mtimeMs}`;
  try {
    const cached = JSON.parse(sys.readFile(cacheFile).toString('utf8')) as HostNode & { stamp: string };
    if (cached.stamp === stamp && [cached.loader, ...cached.libs].every((lib) => sys.stat(lib) !== undefined)) {
      return { node: cached.node, loader: cached.loader, libs: cached.libs };
    }
  } catch {
    // no cache yet, or a damaged one: ask ldd
  }
  const found = hostNode(sys, node);
  try {
    sys.writeFileAtomic(cacheFile, JSON.stringify({ ...found, stamp }), { mode: 0o600 });
  } catch {
    // the cache is an optimisation only
  }
  return found;
}

/** Finds the host's node binary and its shared libraries (with ldd). */
export function hostNode(sys: Sys, nodePath: string = process.execPath): HostNode {
  const node = sys.realpath(nodePath);
  const res = sys.capture('ldd', [node]);
  if (res.status !== 0 || res.error) {
    throw runeError('RUNE_ERR_HOST_NODE', `Cannot list the libraries of ${node} with ldd: ${res.stderr.trim() || res.error?.message}`);
  }
  const libs: string[] = [];
  let loader: string | undefined;
  for (const line of res.stdout.split('\n')) {
    const linked = /=>\s+(\/\S+)/.exec(line);
    const direct = /^\s*(\/\S+)\s+\(/.exec(line);
    if (linked?.[1]) libs.push(linked[1]);
    else if (direct?.[1]) loader = direct[1];
  }
  if (loader === undefined) {
    throw runeError('RUNE_ERR_HOST_NODE', `Cannot inject ${node} into the container: it is not dynamically linked (no loader in ldd's output)`);
  }
  return { node, loader, libs };
}

/**
 * The command line of PID 1 inside the container: the loader runs node, node runs init-runelet; or, with
 * `sim` (a sim container that needs no Node.js in PID 1), the loader runs init-runelet-sim.
 */
export function initCommand(host: HostNode, sim = false): string[] {
  const loader = [join(IN_CONTAINER.libDir, basename(host.loader)), '--library-path', IN_CONTAINER.libDir];
  return sim ? [...loader, IN_CONTAINER.initSim] : [...loader, IN_CONTAINER.node, '--v8-pool-size=1', IN_CONTAINER.init];
}

/** Host paths the derived bundle mounts. */
export interface DerivedBundleSources {
  host: HostNode;
  /** dist/init-runelet.mjs */
  initScript: string;
  /** dist/chunks: code init-runelet imports lazily. */
  chunksDir?: string | undefined;
  /** ROOT/ID/enclave.json */
  enclaveFile: string;
  /** ROOT/ID/control */
  controlDir: string;
  /** inclavared's per-container socket directory, when attestation is available. */
  attestDir?: string | undefined;
  /** A native PAL library (host path). */
  palLibrary?: string | undefined;
  /** Node.js packages init-runelet loads at run time (koffi for native PALs): name → host directory. */
  modules?: Record<string, string>;
  /** dist/init-runelet-sim: PID 1 instead of the Node.js init-runelet (a sim container without secrets or startContainer hooks). */
  initSim?: string | undefined;
  /** dist/rlimit-exec (sim: sets the workload's resource limits). */
  rlimitExec?: string | undefined;
  /** process.rlimits of init-runelet itself (undefined: none, it inherits the backend's). */
  initRlimits?: unknown;
  /** Says whether a host path exists (the chunks and module directories are optional). */
  exists?: (path: string) => boolean;
  /** dist/hook-exec: runs each host-side hook with the engine's bundle in its state (undefined: hooks unchanged). */
  hookExec?: string | undefined;
  /** The container's process user (its own ids): with secrets, the /run/secrets tmpfs belongs to it. */
  secretsOwner?: { uid: number; gid: number } | undefined;
  /** RUNE_TIMINGS's directory (benchmarks): mounted read-write at /.rune/timings. */
  timingsDir?: string | undefined;
}

/** A mount destination with /var/run read as /run (images link one to the other). */
function runPath(destination: unknown): string {
  const d = typeof destination === 'string' ? posix.normalize(destination).replace(/\/+$/, '') || '/' : '';
  return d === '/var/run' || d.startsWith('/var/run/') ? d.slice(4) : d;
}

/**
 * Adds the /run/secrets tmpfs (mode 0700, owned by the process user: init-runelet writes the secrets as that
 * user) where it is neither hidden by a later mount of /run nor hides a mount below it (Kubernetes mounts its
 * service-account token at /var/run/secrets/kubernetes.io/...). A config that mounts /run/secrets itself is
 * refused: one of the two would hide the other.
 */
export function withSecretsMount(mounts: unknown[], owner: { uid: number; gid: number }): unknown[] {
  const dest = (m: unknown): string => runPath((m as { destination?: unknown } | null)?.destination);
  if (mounts.some((m) => dest(m) === IN_CONTAINER.secrets)) {
    throw runeError('RUNE_ERR_ENCLAVE_CONFIG', `Cannot deliver secrets: the config already mounts ${IN_CONTAINER.secrets}, where rune puts them; mount that volume elsewhere`);
  }
  const secrets = {
    destination: IN_CONTAINER.secrets,
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', 'noexec', 'mode=700', `uid=${owner.uid}`, `gid=${owner.gid}`, 'size=64m'],
  };
  let at = mounts.length;
  let lastAncestor = -1;
  mounts.forEach((m, i) => {
    if (dest(m) === '/' || dest(m) === '/run') lastAncestor = i;
  });
  const below = mounts.findIndex((m, i) => i > lastAncestor && dest(m).startsWith(`${IN_CONTAINER.secrets}/`));
  if (below !== -1) at = below;
  else if (lastAncestor !== -1) at = lastAncestor + 1;
  return [...mounts.slice(0, at), secrets, ...mounts.slice(at)];
}

/**
 * The config's hooks, each run through hook-exec on the host so that the state on its stdin names the
 * engine's bundle, not the derived one runc was given (env and timeout kept: hook-exec execs the hook in its
 * own process). startContainer hooks are not here: init-runelet runs them at `rune start` (deriveConfig).
 */
export function wrapHooks(hooks: unknown, bundle: string, hookExec: string): unknown {
  if (hooks === null || typeof hooks !== 'object') return hooks;
  const wrapped: Record<string, unknown> = {};
  for (const [kind, list] of Object.entries(hooks as Record<string, unknown>)) {
    if (!Array.isArray(list)) {
      wrapped[kind] = list;
      continue;
    }
    wrapped[kind] = (list as OciHook[]).map((hook) => {
      if (hook === null || typeof hook !== 'object' || typeof hook.path !== 'string') return hook;
      const command = [hookExec, JSON.stringify(bundle), hook.path, ...(Array.isArray(hook.args) ? hook.args : [])];
      return { ...hook, path: command[0]!, args: command };
    });
  }
  return wrapped;
}

const RO = ['rbind', 'ro', 'nosuid', 'nodev'];

function bind(source: string, destination: string, options: string[] = RO): Record<string, unknown> {
  return { destination, type: 'bind', source, options };
}

/**
 * The derived config: the original with an absolute rootfs, init-runelet as the process with its own env
 * and rlimits (the workload's are in the enclave description), and the /.rune mounts
 * appended.
 */
export function deriveConfig(original: OciConfig, bundle: string, sources: DerivedBundleSources): OciConfig {
  const exists = sources.exists ?? (() => true);
  const config = structuredClone(original);
  const rootPath = config.root?.path ?? 'rootfs';
  config.root = { ...config.root, path: isAbsolute(rootPath) ? rootPath : join(bundle, rootPath) };
  config.process = { ...config.process, args: initCommand(sources.host, sources.initSim !== undefined), env: [...(sources.palLibrary !== undefined ? INIT_RUNELET_NATIVE_ENV : INIT_RUNELET_ENV)] };
  if (sources.initRlimits === undefined) delete config.process.rlimits;
  else config.process.rlimits = sources.initRlimits;
  // init-runelet runs the startContainer hooks at `rune start` (they are in the enclave description): runc
  // would run them when it starts init-runelet, which rune does at create.
  if (config.hooks !== null && typeof config.hooks === 'object') delete (config.hooks as Record<string, unknown>).startContainer;
  if (sources.hookExec !== undefined && config.hooks !== undefined) config.hooks = wrapHooks(config.hooks, bundle, sources.hookExec) as OciConfig['hooks'];
  let mounts = Array.isArray(config.mounts) ? [...(config.mounts as unknown[])] : [];
  if (sources.secretsOwner !== undefined) mounts = withSecretsMount(mounts, sources.secretsOwner);
  mounts.push({ destination: IN_CONTAINER.dir, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=4m'] });
  mounts.push(bind(sources.host.node, IN_CONTAINER.node));
  for (const lib of [...sources.host.libs, sources.host.loader]) mounts.push(bind(lib, join(IN_CONTAINER.libDir, basename(lib))));
  mounts.push(bind(sources.initScript, IN_CONTAINER.init));
  if (sources.initSim !== undefined) mounts.push(bind(sources.initSim, IN_CONTAINER.initSim));
  if (sources.chunksDir !== undefined && exists(sources.chunksDir)) mounts.push(bind(sources.chunksDir, IN_CONTAINER.chunks));
  mounts.push(bind(sources.enclaveFile, IN_CONTAINER.enclave));
  mounts.push(bind(sources.controlDir, IN_CONTAINER.control, ['rbind', 'nosuid', 'nodev', 'noexec']));
  if (sources.attestDir !== undefined) mounts.push(bind(sources.attestDir, IN_CONTAINER.attestDir));
  if (sources.timingsDir !== undefined) mounts.push(bind(sources.timingsDir, IN_CONTAINER.timings, ['rbind', 'nosuid', 'nodev', 'noexec']));
  if (sources.rlimitExec !== undefined) mounts.push(bind(sources.rlimitExec, IN_CONTAINER.rlimitExec));
  if (sources.palLibrary !== undefined) mounts.push(bind(sources.palLibrary, join(IN_CONTAINER.palDir, basename(sources.palLibrary))));
  for (const [name, dir] of Object.entries(sources.modules ?? {})) {
    if (exists(dir)) mounts.push(bind(dir, join(IN_CONTAINER.modules, name)));
  }
  config.mounts = mounts;
  return config;
}
