/**
 * The spare daemon (docs/shim.md "The spare daemon"): a shim daemon started ahead, with its modules loaded,
 * that waits on a root-only control socket until the C launcher's `start` hands it a shim. It then serves
 * that shim's socket exactly as a daemon the launcher started would, and containerd's `start` costs no
 * Node.js start.
 *
 *   control socket  /run/containerd-shim-rune/spare-<sha256 hex>.sock (dir 0700, socket 0600). The launcher
 *                   names it from containerd's address and the identity (path, device, inode, mtime) of
 *                   containerd-shim-rune-v2.mjs and of itself, and passes the name in $RUNE_SHIM_SPARE.
 *   request         4-byte big-endian length (at most 1 MiB), then NUL-terminated fields: "rune-spare-1",
 *                   the shim's socket, namespace, group id, containerd's address, publish binary, debug
 *                   ("0"/"1"), the runtime options in hex, the bundle, then the launcher's environment.
 *   reply           "ok <pid>\n" once the shim socket listens, or "error <text>\n".
 *
 * The spare takes one connection: it closes its control socket at the first, so two starts never get the
 * same spare. It exits after an idle time, when containerd's socket is gone, when its control socket is no
 * longer its own, and on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { chmodSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { setPriority } from 'node:os';
import path from 'node:path';
import { describeError } from '../errors/errors.ts';
import { shimError } from './codes.ts';
import { canConnect, SHIM_ID_RE, SHIM_NAMESPACE_RE, SHIM_SOCKET_DIR, shimSocketPath, type ShimFlags } from './manager.ts';

/** Where the control sockets live (root only). */
export const SPARE_DIR = '/run/containerd-shim-rune';
/** The first field of every request (the protocol's version). */
export const SPARE_MAGIC = 'rune-spare-1';
/** The largest request body. */
export const MAX_HANDOFF = 1 << 20;
/** How long a connection may take to send its request. */
export const HANDOFF_TIMEOUT_MS = 2000;
/** The nice value a spare waits at (it gives it up when it becomes a shim). */
export const SPARE_NICE = 10;

const SPARE_PATH_RE = /^\/run\/containerd-shim-rune\/spare-[0-9a-f]{64}\.sock$/;
const ENV_NAME_RE = /^[^=\0]+$/;

/** A parsed handoff request. */
export interface Handoff {
  flags: ShimFlags;
  /** The shim's socket (/run/containerd/s/<sha256>), as containerd names it for address/namespace/id. */
  socket: string;
  /** The runtime options, hex. */
  optionsHex: string;
  /** The bundle: the shim's working directory. */
  bundle: string;
  /** The launcher's environment (TTRPC_ADDRESS, NAMESPACE, PATH...). */
  env: Record<string, string>;
}

/** True when `p` is a control socket path the launcher could have named. */
export function isSparePath(p: string | undefined): p is string {
  return p !== undefined && SPARE_PATH_RE.test(p);
}

function bad(message: string): Error {
  return shimError('SHIM_ERR_SPARE_REQUEST', `Bad handoff request: ${message}`);
}

/** Parses a request body (after its length). Throws SHIM_ERR_SPARE_REQUEST on anything but a valid one. */
export function parseHandoff(body: Uint8Array): Handoff {
  if (body.length > MAX_HANDOFF) throw bad(`${body.length} bytes, over the ${MAX_HANDOFF}-byte limit`);
  if (body.length === 0 || body[body.length - 1] !== 0) throw bad('the last field is not NUL-terminated');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(0, body.length - 1));
  } catch {
    throw bad('it is not UTF-8');
  }
  const fields = text.split('\0');
  if (fields.length < 9) throw bad(`${fields.length} fields, at least 9 expected`);
  const [magic, socket, namespace, id, address, publishBinary, debug, optionsHex, bundle] = fields as [string, string, string, string, string, string, string, string, string];
  if (magic !== SPARE_MAGIC) throw bad(`it does not start with ${SPARE_MAGIC}`);
  if (!SHIM_NAMESPACE_RE.test(namespace)) throw bad('invalid namespace');
  if (!SHIM_ID_RE.test(id)) throw bad('invalid id');
  if (!path.isAbsolute(address) || path.normalize(address) !== address || address.length > 4096) throw bad('the address is not a clean absolute path');
  if (socket !== shimSocketPath(address, namespace, id) || path.dirname(socket) !== SHIM_SOCKET_DIR) throw bad('the socket is not the one containerd names for this address, namespace and id');
  if (publishBinary.length > 4096) throw bad('the publish binary path is too long');
  if (debug !== '0' && debug !== '1') throw bad('debug must be 0 or 1');
  if (optionsHex.length > 2 * 65536 || !/^(?:[0-9a-f]{2})*$/.test(optionsHex)) throw bad('the options are not hex');
  if (!path.isAbsolute(bundle) || bundle.length > 4096) throw bad('the bundle is not an absolute path');
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const entry of fields.slice(9)) {
    const eq = entry.indexOf('=');
    if (eq <= 0 || !ENV_NAME_RE.test(entry.slice(0, eq))) throw bad('an environment entry is not NAME=value');
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return {
    flags: { namespace, id, address, publishBinary, bundle: '', debug: debug === '1', action: '' },
    socket,
    optionsHex,
    bundle,
    env,
  };
}

/** Reads one request from `conn`: its length, then its body; bounded in size and time. */
export function readHandoff(conn: Socket, timeoutMs = HANDOFF_TIMEOUT_MS, first?: Buffer): Promise<Handoff> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    let want = -1;
    const finish = (err: Error | undefined, h?: Handoff): void => {
      clearTimeout(timer);
      conn.removeListener('data', onData);
      conn.removeListener('end', onEnd);
      conn.removeListener('error', onEnd);
      if (err) reject(err);
      else resolve(h!);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      const all = Buffer.concat(chunks);
      if (want < 0 && all.length >= 4) {
        want = all.readUInt32BE(0);
        if (want > MAX_HANDOFF) return finish(bad(`${want} bytes announced, over the ${MAX_HANDOFF}-byte limit`));
      }
      if (want >= 0 && got > want + 4) return finish(bad('bytes after the request'));
      if (want >= 0 && got === want + 4) {
        try {
          finish(undefined, parseHandoff(all.subarray(4)));
        } catch (e) {
          finish(e as Error);
        }
      }
    };
    const onEnd = (): void => finish(bad('the connection ended before the request did'));
    const timer = setTimeout(() => finish(bad(`no whole request within ${timeoutMs} ms`)), timeoutMs);
    conn.on('data', onData);
    conn.once('end', onEnd);
    conn.once('error', onEnd);
    if (first) onData(first);
    conn.resume();
  });
}

/** Makes SPARE_DIR (0700, ours) or checks it; false if it is not safe to use. */
function ensureSpareDir(): boolean {
  try {
    mkdirSync(SPARE_DIR, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false;
  }
  try {
    const st = lstatSync(SPARE_DIR);
    return st.isDirectory() && st.uid === process.geteuid!() && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/**
 * Sets the nice value of the autogroup of `pid` (a session of its own: with sched_autogroup_enabled the
 * scheduler shares the CPU between sessions first, so a thread's nice value alone does not let a spare yield
 * to the containers being started).
 */
function niceAutogroup(pid: number | 'self', value: number): void {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(value));
  } catch {
    // no autogroups (CONFIG_SCHED_AUTOGROUP off) or not allowed
  }
}

/** Sets the nice value of every thread of this process (setpriority acts on one thread on Linux) and of its autogroup. */
function niceAll(value: number): void {
  niceAutogroup('self', value);
  let tids: string[] = [];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    tids = [String(process.pid)];
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), value);
    } catch {
      // a thread gone meanwhile, or no CAP_SYS_NICE: the shim runs at the spare's nice value
    }
  }
}

/** The spare: waits on `control` for one handoff, then runs the daemon. Started by {@link startSpare}. */
export async function runSpare(shimScript: string, address: string, control: string): Promise<void> {
  if (!isSparePath(control)) throw shimError('SHIM_ERR_USAGE', `A spare needs $RUNE_SHIM_SPARE, a control socket under ${SPARE_DIR}`);
  if (!path.isAbsolute(address)) throw shimError('SHIM_ERR_USAGE', 'A spare needs -address, containerd\'s socket');
  niceAll(SPARE_NICE);
  // Loaded now, while nothing waits: the handoff then costs no module load.
  const { runDaemon } = await import('./daemon.ts');
  if (!ensureSpareDir()) throw shimError('SHIM_ERR_UNAVAILABLE', `Cannot use ${SPARE_DIR}: it must be a directory of ours with mode 0700`);
  const idleMs = Number(process.env.RUNE_SHIM_SPARE_IDLE_MS ?? '') || 600_000;
  const server = createServer({ pauseOnConnect: false });
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: control, backlog: 16 }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  try {
    await listen();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    if (await canConnect(control)) process.exit(0); // another spare waits there
    try {
      const { unlinkSync } = await import('node:fs');
      unlinkSync(control); // a dead spare's
    } catch {
      // gone meanwhile
    }
    try {
      await listen();
    } catch {
      process.exit(0); // another spare was quicker
    }
  }
  chmodSync(control, 0o600);
  const ino = statSync(control).ino;
  // Gone from under us (replaced, removed): exit without closing, which would unlink another's socket.
  const own = (): boolean => {
    try {
      return statSync(control).ino === ino;
    } catch {
      return false;
    }
  };
  const quit = (): never => {
    if (own()) server.close();
    process.exit(0);
  };
  const idle = setTimeout(quit, idleMs);
  const watch = setInterval(() => {
    if (!existsSync(address) || !own()) quit();
  }, 1000);
  process.on('SIGTERM', quit);

  // One handoff per spare: the first connection that sends a byte takes it, and the control socket closes at
  // once; a later one is answered "error busy" (its start then starts a daemon itself). A connection that
  // sends nothing (a liveness probe) takes nothing.
  let taken = false;
  const [conn, first] = await new Promise<[Socket, Buffer]>((resolve) => {
    server.on('connection', (c: Socket) => {
      c.on('error', () => undefined);
      c.once('data', (chunk: Buffer) => {
        if (taken) {
          c.end('error busy: this spare was taken by another start\n');
          return;
        }
        taken = true;
        c.pause();
        resolve([c, chunk]);
      });
    });
  });
  server.close();
  clearTimeout(idle);
  clearInterval(watch);
  process.removeAllListeners('SIGTERM');
  conn.on('error', () => undefined);
  const reply = (line: string): void => {
    conn.end(`${line.replace(/\n/g, ' ').slice(0, 200)}\n`);
  };
  let h: Handoff;
  try {
    h = await readHandoff(conn, HANDOFF_TIMEOUT_MS, first);
  } catch (e) {
    reply(`error ${describeError(e)}`);
    setTimeout(() => process.exit(1), 100).unref();
    return;
  }
  try {
    process.chdir(h.bundle);
  } catch (e) {
    reply(`error Cannot enter the bundle ${h.bundle}: ${describeError(e)}`);
    setTimeout(() => process.exit(1), 100).unref();
    return;
  }
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, h.env, { RUNE_SHIM_OPTIONS: h.optionsHex, RUNE_SHIM_SOCKET: h.socket, RUNE_SHIM_SPARE: control });
  niceAll(0);
  // The log: the bundle's fifo, which containerd copies into its own log (as the launcher's daemon's stderr).
  let logFd = -1;
  try {
    if (statSync('log').isFIFO()) logFd = openSync('log', constants.O_RDWR | constants.O_NONBLOCK);
  } catch {
    // no log fifo
  }
  const write = (text: string): void => {
    if (logFd < 0) return;
    try {
      writeSync(logFd, text);
    } catch {
      // a full fifo: the line is dropped rather than the shim blocked
    }
  };
  const title = ['containerd-shim-rune-v2', '-namespace', h.flags.namespace, '-id', h.flags.id, '-address', h.flags.address, ...(h.flags.publishBinary ? ['-publish-binary', h.flags.publishBinary] : []), ...(h.flags.debug ? ['-debug'] : [])].join(' ');
  process.title = title;
  try {
    await runDaemon(h.flags, shimScript, {
      listen: { path: h.socket },
      write,
      onServing: () => reply(`ok ${process.pid}`),
    });
  } catch (e) {
    reply(`error ${describeError(e)}`);
    write(`${new Date().toISOString()} containerd-shim-rune-v2[${process.pid}] error: ${describeError(e)}\n`);
    setTimeout(() => process.exit(1), 100).unref();
  }
}

/** The argv[0] a waiting spare shows in ps. */
export const SPARE_ARGV0 = 'containerd-shim-rune-v2-spare';

/**
 * Starts a spare in the background (niced, its own session, cwd /, no stdio) for the next `start` of this
 * containerd. It exits at once if another spare already waits on `control`.
 */
export function startSpare(shimScript: string, address: string, control: string): number | undefined {
  if (!isSparePath(control)) return undefined;
  // Room in argv for the shim's title once it takes over (process.title cannot grow past argv).
  const room = ' '.repeat(320);
  // V8's eager compilation (--no-lazy): the daemon's code is compiled while the spare boots, off the path of
  // the start that takes it (docs/shim.md "The spare daemon"; as inclavared's pool workers).
  const child = spawn(process.execPath, ['--no-lazy', shimScript, 'spare', '-address', address, room], {
    argv0: SPARE_ARGV0,
    cwd: '/',
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, RUNE_SHIM_SPARE: control },
  });
  child.on('error', () => undefined);
  if (child.pid !== undefined) {
    try {
      setPriority(child.pid, SPARE_NICE);
    } catch {
      // not allowed: it starts at our priority
    }
    niceAutogroup(child.pid, SPARE_NICE); // its session (detached) is its autogroup
  }
  child.unref();
  return child.pid;
}
