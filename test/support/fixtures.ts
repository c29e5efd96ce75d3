// Shared fixtures for the end-to-end tests and the benchmark: the runtime under test, busybox root
// filesystems, OCI bundles and images, a process runner, and podman/cgroup hygiene. Everything is
// created in temp dirs owned by the caller; nothing here touches the network.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, readFileSync } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBusyboxRootfs as makeBusyboxRootfsSync } from './busybox.ts';

/** Absolute path of the repository (two levels above test/support). */
export const repoRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The OCI runtime the suite drives: $RUNE_E2E_RUNTIME, else the built dist/rune. */
export function runtimeBinary(): string {
  return process.env.RUNE_E2E_RUNTIME ?? path.join(repoRoot, 'dist/rune');
}

/** True when the runtime under test is plain runc (used while rune does not exist yet). */
export function isRunc(binary: string = runtimeBinary()): boolean {
  return path.basename(binary) === 'runc';
}

/**
 * The state root a runc-compatible runtime uses when the engine passes no --root:
 * runc keeps /run/runc, crun /run/crun, and rune /run/rune (named after the binary).
 */
export function defaultRuntimeRoot(binary: string = runtimeBinary()): string {
  return path.join('/run', path.basename(binary));
}

/** Options of {@link run}. */
export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the child's stdin, which is otherwise /dev/null. */
  input?: string | Buffer;
  /** Kill the child with SIGKILL after this long; default 60 s. */
  timeoutMs?: number;
}

/** Outcome of {@link run}; `code` is null when the child died of a signal. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** A child started by {@link runInBackground}. */
export interface BackgroundProcess {
  child: ChildProcess;
  /** Everything the child wrote to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Settles when the child exits (never rejects). */
  exited: Promise<RunResult>;
}

/** Starts `cmd args` and collects its output; see {@link run} for the options. */
export function runInBackground(cmd: string, args: readonly string[], opts: RunOptions = {}): BackgroundProcess {
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 60_000);
  const exited = new Promise<RunResult>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8') + (spawnError ? `\n${cmd}: ${spawnError.message}` : '');
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr, timedOut });
    };
    child.once('error', (e) => finish(null, null, e));
    child.once('close', (code, signal) => finish(code, signal));
  });
  return {
    child,
    stdout: () => Buffer.concat(out).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
    exited,
  };
}

/**
 * Waits until a background process has written `text` to stdout; fails at once, with its output,
 * if it exits first.
 */
export async function waitForOutput(p: BackgroundProcess, text: string, timeoutMs = 30_000): Promise<void> {
  let result: RunResult | undefined;
  void p.exited.then((r) => {
    result = r;
  });
  await waitFor(
    `${JSON.stringify(text)} on stdout`,
    () => {
      if (p.stdout().includes(text)) return true;
      if (result) throw new Error(`Process exited before printing ${JSON.stringify(text)}: ${describeRun(String(p.child.spawnfile), p.child.spawnargs.slice(1), result)}`);
      return false;
    },
    { timeoutMs },
  );
}

/** Runs `cmd args` to completion with a timeout and returns its exit status and output. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runInBackground(cmd, args, opts).exited;
}

/** Formats a command and its result for assertion messages. */
export function describeRun(cmd: string, args: readonly string[], r: RunResult): string {
  const how = r.timedOut ? 'timed out' : r.signal ? `died of ${r.signal}` : `exited ${r.code}`;
  return `${cmd} ${args.join(' ')} ${how}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;
}

/** Like {@link run} but throws (with the output) unless the command exits 0. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`Command failed: ${describeRun(cmd, args, r)}`);
  return r;
}

/** A host tool a test needs and the Debian package that provides it. */
export interface RequiredTool {
  bin: string;
  pkg: string;
}

async function findOnPath(bin: string): Promise<string | undefined> {
  if (bin.includes('/')) return (await isExecutable(bin)) ? bin : undefined;
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir, bin);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, fsConstants.X_OK);
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/**
 * Fails (never skips) when a tool is missing, naming the package to install, and when the runtime
 * under test does not exist yet.
 */
export async function requireTools(tools: readonly RequiredTool[]): Promise<void> {
  const missing: string[] = [];
  for (const t of tools) {
    if (!(await findOnPath(t.bin))) missing.push(`${t.bin} (apt-get install -y ${t.pkg})`);
  }
  if (missing.length > 0) throw new Error(`Cannot run the e2e tests: missing ${missing.join(', ')}`);
  if (process.getuid?.() !== 0) throw new Error('Cannot run the e2e tests: they need root (engines and runtimes run as root)');
  const bin = runtimeBinary();
  if (!(await isExecutable(bin))) {
    throw new Error(
      `Cannot run the e2e tests: runtime ${bin} is not an executable file; run \`npm run build\` ` +
        'or point RUNE_E2E_RUNTIME at a runc-compatible runtime (e.g. /usr/sbin/runc)',
    );
  }
}

/** Creates a fresh directory under the system temp dir. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Polls `probe` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 15_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True if `p` exists (without following a final symlink). */
export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Root filesystems, bundles, images

/** Fills `dir` with a minimal busybox root filesystem (see busybox.ts; bundles come from there too). */
export async function makeBusyboxRootfs(dir: string): Promise<void> {
  makeBusyboxRootfsSync(dir);
}

/** An OCI image built by {@link makeOciImage}. */
export interface OciImage {
  /** The OCI image layout directory. */
  layout: string;
  /** The layout as a tar archive (what `ctr images import` and `podman load` take). */
  tar: string;
  /** Repository part of the name, e.g. "docker.io/inclavare/busybox". */
  repository: string;
  /** Tag, also the layout's org.opencontainers.image.ref.name annotation, e.g. "latest". */
  tag: string;
  /** repository:tag. */
  reference: string;
}

/** Splits "repo/name:tag" into repository and tag (default tag "latest"). */
export function splitReference(name: string): { repository: string; tag: string } {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) return { repository: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repository: name, tag: 'latest' };
}

/**
 * Builds a one-layer busybox image with umoci in `dir` and archives the layout.
 * The layout's ref annotation carries only the tag, so importers need the repository separately
 * (`ctr images import --base-name <repository>`; `podman load` then `podman tag`).
 */
export async function makeOciImage(
  dir: string,
  { name, cmd, files = {} }: { name: string; cmd: string[]; files?: Record<string, { content: string | Uint8Array; mode?: number }> },
): Promise<OciImage> {
  const { repository, tag } = splitReference(name);
  await mkdir(dir, { recursive: true });
  const layout = path.join(dir, 'oci-layout');
  const unpacked = path.join(dir, 'unpacked');
  const image = `${layout}:${tag}`;
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', image]);
  await runOk('umoci', ['unpack', '--image', image, unpacked]);
  await makeBusyboxRootfs(path.join(unpacked, 'rootfs'));
  for (const [file, { content, mode = 0o644 }] of Object.entries(files)) {
    const target = path.join(unpacked, 'rootfs', file);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content, { mode });
  }
  await runOk('umoci', ['repack', '--image', image, unpacked]);
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  await runOk('umoci', [
    'config',
    '--image',
    image,
    ...cmd.flatMap((c) => ['--config.cmd', c]),
    '--config.env',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '--architecture',
    arch,
    '--os',
    'linux',
  ]);
  await runOk('umoci', ['gc', '--layout', layout]);
  await rm(unpacked, { recursive: true, force: true });
  const tar = path.join(dir, 'image.tar');
  await runOk('tar', ['-C', layout, '-cf', tar, '.']);
  return { layout, tar, repository, tag, reference: `${repository}:${tag}` };
}

// ---------------------------------------------------------------------------------------------
// podman

/** Options of {@link podmanEnv}. */
export interface PodmanEnvOptions {
  /** Default: {@link runtimeBinary}(). */
  runtimeBinary?: string;
  /** More variables conmon (and so the runtime) gets, e.g. INCLAVARED_IDLE_EXIT. */
  conmonEnv?: Record<string, string>;
}

/**
 * Writes containers.conf and storage.conf under `tmp/podman` and returns the environment that
 * makes podman use them. The settings are the ones these hosts need (docs/install.md, docs/troubleshooting.md):
 * cgroupfs (no systemd), file events logger, default_ulimits within the hard limits (no
 * CAP_SYS_RESOURCE), overlay storage under `tmp`, file locks instead of the host-wide shm lock,
 * and the runtime under test as the default runtime (conmon gets it from podman via -r).
 */
export async function podmanEnv(tmp: string, opts: PodmanEnvOptions = {}): Promise<NodeJS.ProcessEnv> {
  const bin = opts.runtimeBinary ?? runtimeBinary();
  const name = path.basename(bin);
  const base = path.join(tmp, 'podman');
  const dirs = {
    root: path.join(base, 'root'),
    runroot: path.join(base, 'runroot'),
    tmp: path.join(base, 'tmp'),
    copyTmp: path.join(base, 'copy-tmp'),
    networks: path.join(base, 'networks'),
    xdgConfig: path.join(base, 'xdg-config'),
    xdgData: path.join(base, 'xdg-data'),
  };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  const q = (s: string): string => JSON.stringify(s); // TOML basic strings accept JSON string escapes
  const containersConf = [
    '[containers]',
    // podman asks for nofile=1048576 by default, above the hard limit; without CAP_SYS_RESOURCE the
    // runtime cannot raise it ("error setting rlimits for ready process").
    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    'log_driver = "k8s-file"',
    'netns = "none"',
    '',
    '[network]',
    'network_backend = "netavark"',
    `network_config_dir = ${q(dirs.networks)}`,
    '',
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = ${q(path.join(base, 'events.log'))}`,
    `tmp_dir = ${q(dirs.tmp)}`,
    `image_copy_tmp_dir = ${q(dirs.copyTmp)}`,
    `static_dir = ${q(path.join(dirs.root, 'libpod'))}`,
    `volume_path = ${q(path.join(dirs.root, 'volumes'))}`,
    'lock_type = "file"',
    // podman hands conmon (and so the runtime) only these variables: keep rune's inclavared in the temp dir.
    `conmon_env_vars = [${['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...Object.entries({ ...inclavaredEnv(base), ...opts.conmonEnv }).map(([k, v]) => `${k}=${v}`)].map(q).join(', ')}]`,
    `runtime = ${q(name)}`,
    // Treat the runtime under test like runc (conmon passes --log-format=json to runtimes listed here).
    `runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", ${q(name)}]`,
    '',
    '[engine.runtimes]',
    `${q(name)} = [${q(bin)}]`,
    '',
  ].join('\n');
  const storageConf = [
    '[storage]',
    'driver = "overlay"',
    `graphroot = ${q(dirs.root)}`,
    `runroot = ${q(dirs.runroot)}`,
    '',
  ].join('\n');
  const containersConfPath = path.join(base, 'containers.conf');
  const storageConfPath = path.join(base, 'storage.conf');
  await writeFile(containersConfPath, containersConf);
  await writeFile(storageConfPath, storageConf);
  return {
    ...process.env,
    CONTAINERS_CONF: containersConfPath,
    CONTAINERS_STORAGE_CONF: storageConfPath,
    // Keeps podman's per-user files (~/.config/containers/...) inside the temp dir.
    XDG_CONFIG_HOME: dirs.xdgConfig,
    // containers/image unpacks archives (podman load) into TMPDIR, default /var/tmp.
    TMPDIR: dirs.copyTmp,
    XDG_DATA_HOME: dirs.xdgData,
    // rune starts inclavared for enclave containers: keep its sockets and platform key in the temp dir.
    ...inclavaredEnv(base),
  };
}

/** Environment that confines the inclavared rune starts (for enclave containers), and rune's digest cache, to `dir`. */
export function inclavaredEnv(dir: string): { INCLAVARED_ROOT: string; INCLAVARED_DATA_DIR: string; RUNE_CACHE_DIR: string } {
  return { INCLAVARED_ROOT: path.join(dir, 'inclavared'), INCLAVARED_DATA_DIR: path.join(dir, 'inclavared-data'), RUNE_CACHE_DIR: path.join(dir, 'rune-cache') };
}

/** Stops the inclavared confined by {@link inclavaredEnv}, if one runs. */
export async function stopInclavared(env: { INCLAVARED_ROOT?: string | undefined }): Promise<void> {
  if (env.INCLAVARED_ROOT === undefined) return;
  const pid = Number(await readFile(path.join(env.INCLAVARED_ROOT, 'inclavared.pid'), 'utf8').catch(() => ''));
  if (!(pid > 0)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  await waitFor('inclavared to stop', async () => !isAlive(pid));
}

/**
 * Copies an image built by {@link makeOciImage} into the podman storage selected by `env` and names
 * it `image.reference`. It pulls from the `oci:` layout by a relative path, because podman names
 * such an image after the path ("localhost/<path>", which must be lowercase, unlike mkdtemp names)
 * and because `podman load` extracts archives to /var/tmp whatever the configuration says.
 */
export async function podmanLoadImage(env: NodeJS.ProcessEnv, image: OciImage): Promise<void> {
  const rel = path.basename(image.layout);
  if (rel !== rel.toLowerCase()) throw new Error(`Cannot pull ${image.layout}: podman needs a lowercase layout dir name`);
  const pulled = await runOk('podman', ['pull', '--quiet', `oci:${rel}:${image.tag}`], { env, cwd: path.dirname(image.layout) });
  const id = pulled.stdout.trim();
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`Cannot tag the pulled image: podman pull printed ${JSON.stringify(pulled.stdout)}`);
  await runOk('podman', ['tag', id, image.reference], { env });
  await runOk('podman', ['untag', id, `localhost/${rel}:${image.tag}`], { env });
}

/**
 * Removes every container and image in the podman storage selected by `env`, then
 * `podman system reset` (which deletes graphroot, runroot and tmp_dir).
 */
export async function podmanReset(env: NodeJS.ProcessEnv): Promise<void> {
  await run('podman', ['rm', '--all', '--force', '--time', '0'], { env, timeoutMs: 60_000 });
  await run('podman', ['system', 'reset', '--force'], { env, timeoutMs: 60_000 });
  await stopInclavared(env);
}

// ---------------------------------------------------------------------------------------------
// Mount and cgroup hygiene

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = new Set<string>();
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const p = unescapeMountinfo(mp);
    if (p === dir || p.startsWith(prefix)) points.add(p);
  }
  return [...points].sort((a, b) => b.length - a.length);
}

/** Unmounts everything at or below `dir` (recursive, lazily if busy); throws if something stays mounted. */
export async function unmountUnder(dir: string): Promise<void> {
  for (const mp of await mountsUnder(dir)) {
    const r = await run('umount', ['-R', mp]);
    if (r.code !== 0) await run('umount', ['-l', mp]);
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`Cannot clean up ${dir}: still mounted: ${left.join(', ')}`);
}

/** Unmounts everything below `dir`, then deletes it. Refuses to delete across a mount. */
export async function removeTempDir(dir: string): Promise<void> {
  if (!dir.startsWith(os.tmpdir() + path.sep)) throw new Error(`Refusing to remove ${dir}: not under ${os.tmpdir()}`);
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** The cgroup directories that existed when the snapshot was taken. */
export interface CgroupSnapshot {
  dirs: Map<string, Set<string>>;
}

/** The cgroup hierarchies (mount points) and this process's own cgroup in each: where runtimes put containers. */
export async function cgroupParents(): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const roots: string[] = [];
  for (const line of info.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    const fstype = fields[sep + 1];
    const mp = fields[4];
    if (sep > 0 && mp && (fstype === 'cgroup' || fstype === 'cgroup2')) roots.push(unescapeMountinfo(mp));
  }
  // Runtimes place containers without a cgroupsPath below the caller's own cgroup in some
  // hierarchies (memory here is nested under /process_api/<id>), so watch those dirs too.
  const own = await readFile('/proc/self/cgroup', 'utf8').catch(() => '');
  const parents = new Set(roots);
  for (const line of own.split('\n')) {
    const [, controllers, p] = line.split(':');
    if (controllers === undefined || !p || p === '/') continue;
    for (const r of roots) {
      const base = path.basename(r);
      const names = controllers === '' ? ['unified'] : controllers.split(',').map((c) => c.replace(/^name=/, ''));
      if (names.includes(base)) parents.add(path.join(r, p));
    }
  }
  return [...parents];
}

/** Records the child cgroups of every hierarchy root (and of this process's own cgroups). */
export async function snapshotCgroups(): Promise<CgroupSnapshot> {
  const dirs = new Map<string, Set<string>>();
  for (const parent of await cgroupParents()) {
    const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
    dirs.set(parent, new Set(entries.filter((e) => e.isDirectory()).map((e) => e.name)));
  }
  return { dirs };
}

async function rmdirTree(dir: string, failures: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await rmdirTree(path.join(dir, e.name), failures);
  await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') failures.push(`${dir}: ${err.code ?? err.message}`);
  });
}

/**
 * Removes the cgroups named in `names` that did not exist when `snap` was taken, e.g. podman's
 * "libpod_parent" or containerd's per-namespace parents ("default", "k8s.io"), which engines leave
 * behind. Only listed names are touched: other tools on the host create cgroups concurrently.
 * Returns the ones that could not be removed.
 */
export async function removeNewCgroups(snap: CgroupSnapshot, names: readonly string[]): Promise<string[]> {
  const failures: string[] = [];
  for (const [parent, before] of snap.dirs) {
    for (const name of names) {
      if (before.has(name) || name.includes('/') || name.startsWith('.')) continue;
      if (await exists(path.join(parent, name))) await rmdirTree(path.join(parent, name), failures);
    }
  }
  return failures;
}

/**
 * Asserts that the runtime keeps a per-container state dir for `id` under `root` while the
 * container exists: runc, crun and rune all do (`<root>/<id>`), so this shows that the engine
 * really drove the runtime under test with the expected root.
 */
export async function assertRuntimeStateDir(root: string, id: string): Promise<void> {
  const dir = path.join(root, id);
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) {
    const present = await readdir(root).catch((e: Error) => [`<${e.message}>`]);
    throw new Error(
      `Expected runtime ${runtimeBinary()} to keep state for container ${id} in ${dir}, ` +
        `but ${root} holds [${present.join(', ')}]: the engine did not run the runtime under test there`,
    );
  }
}

/**
 * Records which of `dirs` (fixed host paths that engines create whatever their configuration, e.g.
 * /run/containers/networks) do not exist yet; the returned function removes those again, deepest
 * first, if they are empty by then.
 */
export async function guardHostDirs(dirs: readonly string[]): Promise<() => Promise<void>> {
  const absent: string[] = [];
  for (const d of dirs) if (!(await exists(d))) absent.push(d);
  absent.sort((a, b) => b.length - a.length);
  return async () => {
    for (const d of absent) await rmdir(d).catch(() => undefined);
  };
}

/** A process as seen in /proc. */
export interface ProcInfo {
  pid: number;
  argv: string[];
}

/** Every process with a readable, non-empty command line (kernel threads have none). */
export async function listProcesses(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const raw = await readFile(`/proc/${name}/cmdline`).catch(() => undefined);
    if (!raw || raw.length === 0) continue;
    const text = raw.toString('utf8');
    const argv = text.replace(/\0+$/, '').split('\0');
    // A process that set its title (process.title, setproctitle) has one string and NUL padding: its words.
    out.push({ pid: Number(name), argv: argv.length === 1 && /\0\0$/.test(text) ? argv[0]!.split(' ') : argv });
  }
  return out;
}

/** True while `pid` runs; a zombie (exited, not yet reaped by its parent) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces and parentheses.
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Waits up to `timeoutMs` for the processes `match` selects to exit, then SIGKILLs those left
 * (by pid). Use it for engine helpers that outlive the commands (conmon exits a moment after
 * the container). Returns the argv of the ones that had to be killed.
 */
export async function reapProcesses(match: (p: ProcInfo) => boolean, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = (await listProcesses()).filter(match);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = left.filter((p) => isAlive(p.pid));
  }
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  return left.map((p) => p.argv.join(' '));
}
