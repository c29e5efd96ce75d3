/** The real {@link Sys}: Node's fs, child_process and process, on Linux. */
import { execFileSync, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import {
  accessSync, appendFileSync, chownSync, closeSync, constants as fsConstants, lstatSync, mkdirSync, openSync, readdirSync, readFileSync,
  readlinkSync, readSync, realpathSync, rmSync, statSync, writeFileSync, writeSync, type Stats,
} from 'node:fs';
import { constants } from 'node:os';
import { makeDirectory, writeFileAtomic } from './fs.ts';
import { nodeTreeReader } from './tree.ts';
import type { CaptureResult, DirEntry, FileInfo, RunOptions, Sys, WriteOptions } from './sys.ts';

function typeOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean }): FileInfo['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'other';
}

function info(st: Stats): FileInfo {
  return { type: typeOf(st), size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

function statOrUndefined(stat: () => Stats): FileInfo | undefined {
  try {
    return info(stat());
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Exit status as a shell reports it. */
function shellStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal !== null) return 128 + (constants.signals[signal] ?? 0);
  return code ?? 1;
}

/** The Linux implementation of the OS seam. */
export function linuxSys(): Sys {
  return {
    env: process.env,
    pid: process.pid,
    run(file: string, args: readonly string[], options: RunOptions = {}): Promise<number> {
      const stdio: StdioOptions = ['inherit', 'inherit', 'inherit'];
      for (let fd = 3; fd < 3 + (options.extraFds ?? 0); fd++) stdio.push(fd);
      return new Promise((resolve, reject) => {
        const child = spawn(file, args, { stdio });
        const forward = (signal: NodeJS.Signals): void => {
          child.kill(signal);
        };
        const signals = options.forwardSignals ?? [];
        for (const sig of signals) process.on(sig, forward);
        const done = (): void => {
          for (const sig of signals) process.off(sig, forward);
        };
        child.on('error', (err) => {
          done();
          reject(err);
        });
        child.on('exit', (code, signal) => {
          done();
          resolve(shellStatus(code, signal));
        });
      });
    },
    capture(file: string, args: readonly string[]): CaptureResult {
      const res = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (res.error) return { status: 1, stdout: res.stdout ?? '', stderr: res.stderr ?? '', error: res.error };
      // A child killed by a signal reports status 1 here (spawnSync's null status), as rune always did.
      return { status: res.status ?? 1, stdout: res.stdout, stderr: res.stderr };
    },
    onSignals(signals, handler) {
      for (const sig of signals) process.on(sig, handler);
      return () => {
        for (const sig of signals) process.off(sig, handler);
      };
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => new Date(),
    stat: (path) => statOrUndefined(() => statSync(path)),
    lstat: (path) => statOrUndefined(() => lstatSync(path)),
    isExecutable(path: string): boolean {
      try {
        accessSync(path, fsConstants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
    realpath: (path) => realpathSync(path),
    readlink: (path) => readlinkSync(path),
    readFile: (path) => readFileSync(path),
    readHead(path: string, length: number): Buffer {
      const fd = openSync(path, 'r');
      try {
        const buf = Buffer.alloc(length);
        return buf.subarray(0, readSync(fd, buf));
      } finally {
        closeSync(fd);
      }
    },
    readDir: (path): DirEntry[] => readdirSync(path, { withFileTypes: true }).map((d) => ({ name: d.name, type: typeOf(d) })),
    writeFile(path: string, data: string | Uint8Array, options: WriteOptions = {}): void {
      writeFileSync(path, data, { mode: options.mode ?? 0o600, flag: options.exclusive ? 'wx' : 'w' });
    },
    writeFileAtomic(path, data, options = {}) {
      writeFileAtomic(path, data, { mode: options.mode ?? 0o600, durable: false });
    },
    appendFile(path, data, options = {}) {
      appendFileSync(path, data, { mode: options.mode ?? 0o600 });
    },
    mkdir(path, options) {
      if (options.recursive) makeDirectory(path, options.mode);
      else mkdirSync(path, { mode: options.mode });
    },
    mkfifo(path, mode) {
      execFileSync('mkfifo', ['-m', mode.toString(8).padStart(4, '0'), path]);
    },
    chown: (path, uid, gid) => chownSync(path, uid, gid),
    remove: (path) => rmSync(path, { recursive: true, force: true }),
    tree: nodeTreeReader,
    writeFifo(path: string, data: Uint8Array): void {
      const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
      try {
        writeSync(fd, data);
      } finally {
        closeSync(fd);
      }
    },
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
  };
}
