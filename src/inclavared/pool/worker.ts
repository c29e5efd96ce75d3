/**
 * A warm rune worker: one entry of inclavared's enclave pool (docs/enclave-pool.md). It is Node.js with
 * rune's whole program loaded, listening on one unix socket in the pool's ready directory. The launcher
 * (src/launcher/rune.c) takes it for an enclave `create` by renaming that socket (atomic: never two
 * callers), connects, and sends its argv, env and cwd; the worker runs rune's create exactly as rune.mjs
 * would, except that the backend runs (`runc create`, which makes the container's processes) go back to the
 * launcher over the socket, so that they run with the launcher's stdio and fds and under the engine's
 * subreaper (conmon), as without the pool. It serves one call and exits: never reused.
 *
 *   argv:   <socket path>
 *   stdin:  a pipe from inclavared: end of file while waiting (the daemon died) → exit at once (no orphans)
 *   stdout: "ready\n" once listening, "picked <pid>\n" once a launcher connected; nothing else
 */
import { chmodSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../../errors/errors.ts';
import { main } from '../../rune/program.ts';
import { warmMeasurement } from '../../rune/enclave/warm-up.ts';
import { linuxSys } from '../../sys/linux.ts';
import type { Sys } from '../../sys/sys.ts';
import { encodeFrame, parseFrames, parseRequest, type PoolRequest } from './wire.ts';

/** Serves one rune call on `socket`; resolves to the status sent back. */
async function serve(socket: Socket, request: PoolRequest, frames: AsyncIterator<{ type: string; payload: Buffer }>): Promise<number> {
  // A single-use process: the call's cwd and env become the process's, as they would be for rune.mjs.
  process.chdir(request.cwd);
  for (const key of Object.keys(process.env)) delete process.env[key];
  for (const entry of request.env) {
    const eq = entry.indexOf('=');
    if (eq > 0) process.env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  // For RUNE_TIMINGS: this call began now, not when this process started (long before, waiting in the pool).
  if (process.env.RUNE_TIMINGS !== undefined) process.env.RUNE_TIMINGS_CALL_START = String(performance.timeOrigin + performance.now());
  const send = (type: 'o' | 'e' | 'r' | 'x', payload: string | Uint8Array): void => {
    socket.write(encodeFrame(type, payload));
  };
  // Everything rune writes (its log lines, errors) reaches the launcher's stdout and stderr.
  const redirect = (stream: NodeJS.WriteStream, type: 'o' | 'e'): void => {
    stream.write = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean => {
      send(type, typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : chunk);
      const cb = typeof encoding === 'function' ? encoding : callback;
      if (typeof cb === 'function') queueMicrotask(cb as () => void);
      return true;
    }) as typeof stream.write;
  };
  redirect(process.stdout, 'o');
  redirect(process.stderr, 'e');
  const base = linuxSys();
  const sys: Sys = {
    ...base,
    env: process.env,
    async run(file, args): Promise<number> {
      send('r', Buffer.from([file, ...args].map((a) => `${a}\0`).join(''), 'utf8'));
      const next = await frames.next();
      if (next.done === true || next.value.type !== 's') throw new Error('the launcher did not report the backend run');
      return Number(next.value.payload.toString('utf8'));
    },
    stdout: (text) => send('o', text),
    stderr: (text) => send('e', text),
  };
  return main(request.argv, { sys: () => sys });
}

/** Reads frames from the socket after the request. */
async function* readFrames(socket: Socket, rest: Buffer): AsyncGenerator<{ type: string; payload: Buffer }> {
  let buffered = rest;
  for await (const chunk of socket) {
    buffered = Buffer.concat([buffered, chunk as Buffer]);
    const { frames, used } = parseFrames(buffered);
    buffered = buffered.subarray(used);
    yield* frames;
  }
}

function start(path: string): void {
  let picked = false;
  // stdout and stderr are pipes to inclavared: a daemon that stopped (idle) or died while this worker serves
  // a create must not crash it with EPIPE on "picked" or a log line; the create goes on for its launcher.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const server = createServer({ allowHalfOpen: false });
  server.maxConnections = 1;
  server.once('connection', (socket) => {
    picked = true;
    server.close();
    process.stdout.write(`picked\n`);
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      let parsed: ReturnType<typeof parseRequest>;
      try {
        parsed = parseRequest(buffered);
      } catch (err) {
        socket.off('data', onData);
        socket.end(Buffer.concat([encodeFrame('e', `rune: ${describeError(err)}\n`), encodeFrame('x', '1')]), () => process.exit(0));
        return;
      }
      if (parsed === undefined) return;
      socket.off('data', onData);
      socket.pause();
      // Accepted, before anything happens: until the launcher reads this, a worker that stops (its daemon
      // stopped while the launcher was taking it) leaves the call to the slow path.
      socket.write(encodeFrame('a', ''));
      const frames = readFrames(socket, buffered.subarray(parsed.used));
      serve(socket, parsed.request, frames).then(
        (status) => socket.end(encodeFrame('x', String(status)), () => process.exit(0)),
        (err: unknown) => socket.end(Buffer.concat([encodeFrame('e', `rune: ${describeError(err)}\n`), encodeFrame('x', '1')]), () => process.exit(0)),
      );
    };
    socket.on('data', onData);
    // The launcher went away (killed, as a killed rune.mjs would be): stop here.
    socket.once('close', () => process.exit(1));
  });
  server.listen(path, () => {
    chmodSync(path, 0o600);
    process.stdout.write('ready\n');
  });
  // inclavared holds the other end of stdin: when it dies, a worker nobody took has nothing left to do.
  process.stdin.on('data', () => undefined);
  process.stdin.once('end', () => {
    if (!picked) process.exit(0);
  });
}

const [path, warmDir] = process.argv.slice(2);
if (path === undefined || warmDir === undefined) {
  process.stderr.write('usage: rune-worker.mjs SOCKET WARM-UP-DIR (started by inclavared)\n');
  process.exit(2);
}
// Warmed before it reports ready: the measurement code compiled by V8's optimizing tier, by measuring this
// program's own directory without its chunks, through a digest cache in WARM-UP-DIR (src/rune/enclave/warm-up.ts),
// after walking system directories (symlinks, hard links: what images have and that directory lacks).
void warmMeasurement(dirname(fileURLToPath(import.meta.url)), { skip: ['/chunks'], workDir: warmDir, shapes: ['/usr/bin', '/usr/sbin', '/etc'] }).finally(() => start(path));
