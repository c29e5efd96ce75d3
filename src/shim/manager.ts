/**
 * The shim binary's `start` and `delete` (containerd's shim v2 contract; docs/shim.md). Both run once per
 * container, so they are kept lean: no protobuf library, no task service; the daemon is a separate Node.js
 * process started by `start` only when the pod has none yet.
 *
 * start:  cwd = the bundle, runtime options (an Any, or nothing) on stdin. Groups containers by the
 *         `io.kubernetes.cri.sandbox-id` annotation (one shim per pod); the socket is
 *         /run/containerd/s/sha256(<containerd address>/<namespace>/<group id>), as containerd 1.6 names its
 *         shims' sockets. If a shim already serves that socket, prints its address; else binds the socket
 *         here, hands the listening fd to a detached daemon and prints the address (containerd's first
 *         request waits in the socket's backlog until the daemon accepts it).
 * delete: containerd calls it after Delete, and when a shim died: force-deletes the container through rune,
 *         unmounts the rootfs, removes a dead shim's socket, and prints a DeleteResponse (exit 137, as runc's).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import path from 'node:path';
import { shimError } from './codes.ts';
import { loadConfig, type ShimConfig } from './config.ts';
import { decodeRuntimeOptions, encodeDeleteResponse } from './options.ts';

/** Where containerd 1.6 puts shim sockets. */
export const SHIM_SOCKET_DIR = '/run/containerd/s';
/** The annotation CRI sets on every container of a pod: the sandbox's id. */
export const SANDBOX_ID_ANNOTATION = 'io.kubernetes.cri.sandbox-id';
/** The file in each bundle where `start` records the shim's socket (for `delete`). */
export const BUNDLE_SOCKET_FILE = 'rune-shim.socket';
/** The file in each bundle where Create records rune's path, root and INCLAVARED_ROOT, one a line (for `delete`). */
export const BUNDLE_ARGS_FILE = 'rune-shim.args';

/** A container (or shim group) id containerd and the shim accept. */
export const SHIM_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** A containerd namespace name the shim accepts. */
export const SHIM_NAMESPACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/;

/** The flags containerd passes (Go flag syntax: -name value). */
export interface ShimFlags {
  namespace: string;
  id: string;
  address: string;
  publishBinary: string;
  bundle: string;
  debug: boolean;
  action: string;
}

/** Parses the shim's argv (after node and the script). */
export function parseShimFlags(argv: readonly string[]): ShimFlags {
  const flags: ShimFlags = { namespace: '', id: '', address: '', publishBinary: '', bundle: '', debug: false, action: '' };
  const names: Record<string, keyof ShimFlags> = { namespace: 'namespace', id: 'id', address: 'address', 'publish-binary': 'publishBinary', bundle: 'bundle' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('-')) {
      const [rawName, inline] = arg.replace(/^--?/, '').split('=', 2) as [string, string | undefined];
      if (rawName === 'debug') {
        flags.debug = inline === undefined || inline === 'true';
        continue;
      }
      if (rawName === 'v' || rawName === 'version') {
        flags.action = 'version';
        continue;
      }
      const key = names[rawName];
      if (key === undefined) throw shimError('SHIM_ERR_USAGE', `Unknown flag ${arg}: containerd-shim-rune-v2 takes -namespace, -id, -address, -publish-binary, -bundle, -debug`);
      const value = inline ?? argv[++i];
      if (value === undefined) throw shimError('SHIM_ERR_USAGE', `Flag ${arg} needs a value`);
      (flags as unknown as Record<string, string>)[key] = value;
    } else if (flags.action === '') {
      flags.action = arg;
    } else {
      throw shimError('SHIM_ERR_USAGE', `Unexpected argument ${JSON.stringify(arg)}: give one action, start or delete`);
    }
  }
  if (flags.action !== 'version') {
    if (flags.namespace === '') throw shimError('SHIM_ERR_USAGE', 'Missing -namespace: containerd-shim-rune-v2 is run by containerd (runtime io.containerd.rune.v2)');
    if (flags.id === '') throw shimError('SHIM_ERR_USAGE', 'Missing -id');
    if (!SHIM_ID_RE.test(flags.id)) throw shimError('SHIM_ERR_USAGE', `Invalid -id ${JSON.stringify(flags.id)}: use letters, digits, "_", "." and "-"`);
    if (!SHIM_NAMESPACE_RE.test(flags.namespace)) throw shimError('SHIM_ERR_USAGE', `Invalid -namespace ${JSON.stringify(flags.namespace)}`);
  }
  return flags;
}

/** The socket path containerd 1.6 uses for a shim: sha256 of <address>/<namespace>/<id> under /run/containerd/s. */
export function shimSocketPath(address: string, namespace: string, id: string): string {
  return path.join(SHIM_SOCKET_DIR, createHash('sha256').update(path.join(address, namespace, id)).digest('hex'));
}

/** The resolved config `start` records in each bundle. */
export interface BundleRecord {
  config: ShimConfig;
  socket: string;
  group: string;
}

function readBundleConfig(bundle: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path.join(bundle, 'config.json'), 'utf8');
  } catch (e) {
    throw shimError('SHIM_ERR_BUNDLE', `Cannot read the bundle's config.json in ${bundle}: containerd runs the shim with the bundle as its working directory`, { cause: e });
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new TypeError('not an object');
    return doc as Record<string, unknown>;
  } catch (e) {
    throw shimError('SHIM_ERR_BUNDLE', `Cannot parse ${path.join(bundle, 'config.json')}: it is not a JSON object`, { cause: e });
  }
}

/** The shim group of a container: its pod's sandbox id, else its own id. */
export function groupOf(spec: Record<string, unknown>, id: string): string {
  const ann = spec.annotations as Record<string, unknown> | undefined;
  const sandbox = ann?.[SANDBOX_ID_ANNOTATION];
  return typeof sandbox === 'string' && SHIM_ID_RE.test(sandbox) ? sandbox : id;
}

/** True when something accepts a connection on the unix socket `socket` (it is closed again at once). */
export function canConnect(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function readStdin(): Uint8Array {
  // The launcher read stdin already when it handed start over.
  if (process.env.RUNE_SHIM_OPTIONS !== undefined) return Buffer.from(process.env.RUNE_SHIM_OPTIONS, 'hex');
  try {
    return readFileSync(0);
  } catch {
    return new Uint8Array();
  }
}

function listen(server: Server, socket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: socket, backlog: 128 }, () => resolve());
  });
}

/** `start`: prints the ttrpc address of the shim serving this container's pod. */
export async function start(flags: ShimFlags, shimScript: string): Promise<string> {
  const bundle = process.cwd();
  const options = decodeRuntimeOptions(readStdin());
  const config = loadConfig(options.configPath, path.dirname(shimScript));
  const spec = readBundleConfig(bundle);
  const group = groupOf(spec, flags.id);
  const socket = shimSocketPath(flags.address, flags.namespace, group);
  const address = `unix://${socket}`;
  const record: BundleRecord = { config, socket, group };
  writeFileSync(path.join(bundle, BUNDLE_SOCKET_FILE), socket);
  if (existsSync(socket)) {
    if (await canConnect(socket)) {
      writeFileSync(path.join(bundle, 'address'), address);
      return address;
    }
    rmSync(socket, { force: true }); // a dead shim's
  }
  mkdirSync(SHIM_SOCKET_DIR, { recursive: true, mode: 0o711 });
  const server = createServer();
  try {
    await listen(server, socket);
  } catch (e) {
    // Another start of the same pod won the race: use its shim.
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' && (await canConnect(socket))) {
      writeFileSync(path.join(bundle, 'address'), address);
      return address;
    }
    throw shimError('SHIM_ERR_UNAVAILABLE', `Cannot listen on ${socket}`, { cause: e });
  }
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  // The daemon's stderr goes to the bundle's `log` fifo, which containerd copies into its own log.
  let logFd: number | 'ignore' = 'ignore';
  try {
    if (statSync(path.join(bundle, 'log')).isFIFO()) logFd = openSync(path.join(bundle, 'log'), constants.O_RDWR | constants.O_NONBLOCK);
  } catch {
    // no log fifo (started by hand)
  }
  const args = [shimScript, '-namespace', flags.namespace, '-id', group, '-address', flags.address, '-publish-binary', flags.publishBinary, ...(flags.debug ? ['-debug'] : [])];
  const child = spawn(process.execPath, args, {
    argv0: 'containerd-shim-rune-v2',
    cwd: bundle,
    detached: true,
    stdio: ['ignore', 'ignore', logFd, fd],
    env: { ...process.env, RUNE_SHIM_RECORD: JSON.stringify(record) },
  });
  if (typeof logFd === 'number') closeSync(logFd);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(shimError('SHIM_ERR_UNAVAILABLE', `Cannot start the shim daemon ${process.execPath}`, { cause: e })));
  });
  child.unref();
  // Not server.close(): libuv would unlink the socket's path. The caller exits, dropping our copy of the fd.
  server.unref();
  writeFileSync(path.join(bundle, 'address'), address);
  writeFileSync(path.join(bundle, 'shim.pid'), String(child.pid));
  return address;
}

/** Runs rune with the record's root for this namespace. */
export function runeArgs(config: ShimConfig, namespace: string, bundle: string, args: readonly string[]): string[] {
  return ['--root', path.join(config.root, namespace), '--log', path.join(bundle, 'log.json'), '--log-format', 'json', ...args];
}

/** The environment rune runs with (inclavared's location from the config). */
export function runeEnv(config: ShimConfig): NodeJS.ProcessEnv {
  return config.inclavaredRoot === '' ? process.env : { ...process.env, INCLAVARED_ROOT: config.inclavaredRoot };
}

/** `delete`: cleans up after a container whose shim is gone (or done); returns the DeleteResponse bytes. */
export async function deleteAction(flags: ShimFlags): Promise<Uint8Array> {
  const bundle = flags.bundle !== '' ? flags.bundle : process.cwd();
  const read = (name: string): string => {
    try {
      return readFileSync(path.join(bundle, name), 'utf8');
    } catch {
      return '';
    }
  };
  const [runtime, root, inclavared] = read(BUNDLE_ARGS_FILE).split('\n');
  if (runtime && root) {
    const env = inclavared ? { ...process.env, INCLAVARED_ROOT: inclavared } : process.env;
    spawnSync(runtime, ['--root', root, '--log', path.join(bundle, 'log.json'), '--log-format', 'json', 'delete', '--force', flags.id], { stdio: 'ignore', env, timeout: 30_000 });
  }
  spawnSync('umount', ['-l', path.join(bundle, 'rootfs')], { stdio: 'ignore' });
  const socket = read(BUNDLE_SOCKET_FILE);
  if (socket.startsWith(`${SHIM_SOCKET_DIR}/`) && !socket.includes('..') && existsSync(socket) && !(await canConnect(socket))) {
    try {
      unlinkSync(socket);
    } catch {
      // gone meanwhile
    }
  }
  return encodeDeleteResponse(0, 128 + 9, new Date());
}

/** The lines of {@link BUNDLE_ARGS_FILE}. */
export function bundleArgsText(config: ShimConfig, namespace: string): string {
  return `${config.runtime}\n${path.join(config.root, namespace)}\n${config.inclavaredRoot}\n`;
}
