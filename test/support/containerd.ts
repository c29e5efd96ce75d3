// A private containerd for the e2e tests: its own root, state, sockets and opt dir in a temp dir,
// the CRI plugin configured as these hosts need it (docs/kubernetes.md), and a "rune"
// CRI runtime whose runc shim execs the runtime under test.
import { createHash } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  describeRun,
  exists,
  inclavaredEnv,
  isAlive,
  listProcesses,
  makeOciImage,
  run,
  stopInclavared,
  unmountUnder,
  waitFor,
  type OciImage,
  type RunOptions,
  type RunResult,
} from './fixtures.ts';

/** Name of the CRI runtime handler that runs the runtime under test. */
export const CRI_RUNTIME_HANDLER = 'rune';

/** With {@link ContainerdOptions.shim}: a second CRI handler, the runtime under test through runc's shim. */
export const RUNC_SHIM_HANDLER = 'runc-shim';

/** Reference of the pause-like sandbox image {@link startContainerd} builds and imports. */
export const SANDBOX_IMAGE = 'localhost/inclavare/pause:1';

/** Options of {@link startContainerd}. */
export interface ContainerdOptions {
  /** The runc-compatible binary the "rune" CRI runtime (and {@link Containerd.runtimeRoot}) belongs to. */
  runtimeBinary: string;
  /** containerd's log level; default "info". */
  logLevel?: string;
  /**
   * Run the "rune" CRI runtime through containerd-shim-rune-v2 (runtime_type io.containerd.rune.v2) with this
   * dir (dist/) first on containerd's PATH, and this shim config (its `root` should be the runtime root).
   */
  shim?: { dir: string; configPath: string };
  /** `[stream_processors.<id>]` entries (e.g. an image layer decoder), in this order. */
  streamProcessors?: { id: string; accepts: string[]; returns: string; path: string; args?: string[]; env?: string[] }[];
  /** The CRI plugin's `image_decryption.key_model` ("node": CRI pulls pass the layer descriptor to decoders). */
  imageDecryptionKeyModel?: string;
  /** CRI registry mirrors, host → endpoints (e.g. a plain-HTTP loopback registry). */
  registryMirrors?: Record<string, string[]>;
}

/** A containerd started by {@link startContainerd}. */
export interface Containerd {
  /** The gRPC socket path (ctr -a, CRI). */
  address: string;
  /** Root of the runtime's state: CRI passes `--root <runtimeRoot>/<namespace>`; use it for `ctr --runc-root` too. */
  runtimeRoot: string;
  /** containerd's own log. */
  logFile: string;
  /** Runs `ctr -a <address> [-n namespace] args`. */
  ctr(args: readonly string[], opts?: RunOptions & { namespace?: string }): Promise<RunResult>;
  /** Like ctr() but throws unless it exits 0. */
  ctrOk(args: readonly string[], opts?: RunOptions & { namespace?: string }): Promise<RunResult>;
  /** `ctr images import --base-name <repository>` of an image built by makeOciImage. */
  importImage(image: OciImage, namespace: string): Promise<void>;
  /** Kills containerd, its shims and their containers, and unmounts what they left under the temp dir. */
  stop(): Promise<void>;
}

const SHIM_SOCKET_DIR = '/run/containerd/s';

/** containerd 1.6 puts shim sockets at /run/containerd/s/sha256(<address>/<namespace>/<id>). */
function shimSocketPath(address: string, namespace: string, id: string): string {
  return path.join(SHIM_SOCKET_DIR, createHash('sha256').update(path.join(address, namespace, id)).digest('hex'));
}

function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

function tomlString(s: string): string {
  return JSON.stringify(s);
}

/** config.toml (version 2) for a containerd confined to `dir`. */
function containerdConfig(dir: string, opts: ContainerdOptions): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const rt = `${cri}.containerd.runtimes.${CRI_RUNTIME_HANDLER}`;
  return [
    'version = 2',
    `root = ${tomlString(path.join(dir, 'root'))}`,
    `state = ${tomlString(path.join(dir, 'state'))}`,
    '',
    '[grpc]',
    `  address = ${tomlString(path.join(dir, 'containerd.sock'))}`,
    '[ttrpc]',
    `  address = ${tomlString(path.join(dir, 'containerd.sock.ttrpc'))}`,
    '[debug]',
    `  address = ${tomlString(path.join(dir, 'debug.sock'))}`,
    `  level = ${tomlString(opts.logLevel ?? 'info')}`,
    '[metrics]',
    '  address = ""',
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${tomlString(path.join(dir, 'opt'))}`,
    '',
    `[${cri}]`,
    `  sandbox_image = ${tomlString(SANDBOX_IMAGE)}`,
    // The sandbox asks for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which root lacks here.
    '  restrict_oom_score_adj = true',
    // hugetlb is bound to the v2 hierarchy on these hybrid hosts.
    '  disable_hugetlb_controller = true',
    '  tolerate_missing_hugetlb_controller = true',
    // The streaming server (exec/attach URLs) listens on loopback only.
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.cni]`,
    '  bin_dir = "/usr/lib/cni"',
    `  conf_dir = ${tomlString(path.join(dir, 'cni'))}`,
    `[${cri}.containerd]`,
    `  default_runtime_name = ${tomlString(CRI_RUNTIME_HANDLER)}`,
    '  snapshotter = "overlayfs"',
    ...(opts.shim
      ? [
        `[${rt}]`,
        // containerd-shim-rune-v2: CRI hands it the options as runtimeoptions.v1.Options{config_path}.
        '  runtime_type = "io.containerd.rune.v2"',
        '  pod_annotations = ["enclave.*"]',
        '  container_annotations = ["enclave.*"]',
        `[${rt}.options]`,
        `  ConfigPath = ${tomlString(opts.shim.configPath)}`,
        // The same runtime through runc's shim (BinaryName), for comparisons (bench/shim.ts).
        `[${cri}.containerd.runtimes.${RUNC_SHIM_HANDLER}]`,
        '  runtime_type = "io.containerd.runc.v2"',
        `[${cri}.containerd.runtimes.${RUNC_SHIM_HANDLER}.options]`,
        `  BinaryName = ${tomlString(opts.runtimeBinary)}`,
        `  Root = ${tomlString(path.join(dir, 'rune-root'))}`,
      ]
      : [
        `[${rt}]`,
        // The stock runc shim: with runtime_type io.containerd.runc.v2 CRI passes BinaryName/Root to it
        // (a custom runtime_type would get them as runtimeoptions.v1.Options, which the runc shim rejects).
        '  runtime_type = "io.containerd.runc.v2"',
        `[${rt}.options]`,
        `  BinaryName = ${tomlString(opts.runtimeBinary)}`,
        `  Root = ${tomlString(path.join(dir, 'rune-root'))}`,
      ]),
    ...(opts.imageDecryptionKeyModel === undefined ? [] : [`[${cri}.image_decryption]`, `  key_model = ${tomlString(opts.imageDecryptionKeyModel)}`]),
    ...Object.entries(opts.registryMirrors ?? {}).flatMap(([host, endpoints]) => [`[${cri}.registry.mirrors.${tomlString(host)}]`, `  endpoint = [${endpoints.map(tomlString).join(', ')}]`]),
    ...(opts.streamProcessors ?? []).flatMap((p) => [
      `[stream_processors.${tomlString(p.id)}]`,
      `  accepts = [${p.accepts.map(tomlString).join(', ')}]`,
      `  returns = ${tomlString(p.returns)}`,
      `  path = ${tomlString(p.path)}`,
      `  args = [${(p.args ?? []).map(tomlString).join(', ')}]`,
      `  env = [${(p.env ?? []).map(tomlString).join(', ')}]`,
    ]),
    '',
  ].join('\n');
}

/**
 * Starts containerd with everything under `tmp/containerd`, waits for its socket, and imports a
 * pause-like sandbox image ({@link SANDBOX_IMAGE}) into the k8s.io namespace.
 */
export async function startContainerd(tmp: string, opts: ContainerdOptions): Promise<Containerd> {
  const dir = path.join(tmp, 'containerd');
  const address = path.join(dir, 'containerd.sock');
  const runtimeRoot = path.join(dir, 'rune-root');
  const logFile = path.join(dir, 'containerd.log');
  for (const d of ['root', 'state', 'opt', 'cni', 'rune-root']) await mkdir(path.join(dir, d), { recursive: true });
  // Pods in these tests use the host network (NamespaceMode NODE), so CNI is never invoked; a
  // loopback-only network keeps the CRI plugin's network status ready without any bridge.
  await writeFile(
    path.join(dir, 'cni', '10-loopback.conflist'),
    JSON.stringify({ cniVersion: '0.4.0', name: 'e2e-loopback', plugins: [{ type: 'loopback' }] }),
  );
  const configPath = path.join(dir, 'config.toml');
  await writeFile(configPath, containerdConfig(dir, opts));
  const hadShimDir = await exists(SHIM_SOCKET_DIR);
  const hadRunContainerd = await exists(path.dirname(SHIM_SOCKET_DIR));

  const logFd = openSync(logFile, 'a');
  // The runtime inherits containerd's env through the shim: rune's inclavared stays in `dir`.
  const env = { ...process.env, ...inclavaredEnv(dir), ...(opts.shim ? { PATH: `${opts.shim.dir}:${process.env.PATH ?? ''}` } : {}) };
  const daemon = spawn('containerd', ['--config', configPath], { stdio: ['ignore', logFd, logFd], env });
  closeSync(logFd);
  let daemonExit: string | undefined;
  daemon.once('exit', (code, signal) => {
    daemonExit = `code ${code} signal ${signal}`;
  });
  daemon.once('error', (e) => {
    daemonExit = e.message;
  });

  const ctr = (args: readonly string[], o: RunOptions & { namespace?: string } = {}): Promise<RunResult> =>
    run('ctr', ['-a', address, ...(o.namespace ? ['-n', o.namespace] : []), ...args], o);
  const ctrOk = async (args: readonly string[], o: RunOptions & { namespace?: string } = {}): Promise<RunResult> => {
    const r = await ctr(args, o);
    if (r.code !== 0) throw new Error(`ctr failed: ${describeRun('ctr', args, r)}`);
    return r;
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // 1. Containers first, while their shims still watch them: the runtime deletes what it created.
    for (const ns of await readdir(runtimeRoot).catch(() => [] as string[])) {
      const nsRoot = path.join(runtimeRoot, ns);
      for (const id of await readdir(nsRoot).catch(() => [] as string[])) {
        await run(opts.runtimeBinary, ['--root', nsRoot, 'delete', '--force', id], { timeoutMs: 20_000 });
      }
    }
    // 2. containerd itself.
    if (daemon.pid !== undefined && daemonExit === undefined) {
      daemon.kill('SIGTERM');
      await waitFor('containerd to exit', () => daemonExit !== undefined, { timeoutMs: 10_000 }).catch(() => {
        daemon.kill('SIGKILL');
      });
    }
    // 3. containerd's socket: spare shim daemons waiting for it exit when it is gone (and remove their
    //    control sockets); then shims serving this containerd (they outlive it by design), and their sockets.
    await rm(address, { force: true });
    const waitingSpares = (): Promise<unknown[]> =>
      listProcesses().then((ps) => ps.filter((p) => p.argv[0] === 'containerd-shim-rune-v2-spare' && flagValue(p.argv, '-address') === address && isAlive(p.pid)));
    await waitFor('spare shim daemons to exit', async () => (await waitingSpares()).length === 0, { timeoutMs: 5_000 }).catch(() => undefined);
    const shims = (await listProcesses()).filter(
      (p) => path.basename(p.argv[0] ?? '').startsWith('containerd-shim') && flagValue(p.argv, '-address') === address,
    );
    for (const s of shims) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitFor('shims to exit', () => shims.every((s) => !isAlive(s.pid)), { timeoutMs: 10_000 }).catch(() => undefined);
    for (const s of shims) {
      const ns = flagValue(s.argv, '-namespace');
      const id = flagValue(s.argv, '-id');
      if (ns && id) await rm(shimSocketPath(address, ns, id), { force: true });
    }
    if (!hadShimDir) await rmdir(SHIM_SOCKET_DIR).catch(() => undefined);
    if (!hadRunContainerd) await rmdir(path.dirname(SHIM_SOCKET_DIR)).catch(() => undefined);
    await stopInclavared(inclavaredEnv(dir));
    // 4. Snapshot mounts, sandbox /dev/shm mounts and the like.
    await unmountUnder(dir);
  };

  try {
    await waitFor(
      'containerd to serve its socket',
      async () => {
        if (daemonExit !== undefined) {
          const log = await readFile(logFile, 'utf8').catch(() => '');
          throw new Error(`containerd exited early (${daemonExit}):\n${log.slice(-4000)}`);
        }
        return (await ctr(['version'], { timeoutMs: 5_000 })).code === 0;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const importImage = async (image: OciImage, namespace: string): Promise<void> => {
      await ctrOk(['images', 'import', '--base-name', image.repository, image.tar], { namespace, timeoutMs: 60_000 });
    };
    const pause = await makeOciImage(path.join(dir, 'sandbox-image'), {
      name: SANDBOX_IMAGE,
      cmd: ['sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 1; done'],
    });
    await importImage(pause, 'k8s.io');
    return { address, runtimeRoot, logFile, ctr, ctrOk, importImage, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
