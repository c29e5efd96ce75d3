/**
 * A daemon's pid file as its lock (inclavared's root, verdictd's data directory): created with O_EXCL and the
 * daemon's pid; a file left by a dead process, or by a pid the kernel has since given to another program, is
 * replaced. The caller turns the two failures into its own error codes.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

/** How {@link acquirePidLock} fails: the caller's errors. */
export interface PidLockOptions {
  /** Names the daemon in /proc/PID/cmdline: a live process without it holds no lock. */
  program: string;
  /** The pid file's mode. */
  mode: number;
  /** The error when a live `program` process holds the lock. */
  busy(pid: number): Error;
  /** The error when the file cannot be created, or keeps changing (cause undefined). */
  failed(cause: unknown): Error;
}

/** True when `pid` is a live `program` (its command line names it) or this very process. */
function isLive(pid: number, program: string): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(program);
  } catch {
    return true;
  }
}

/** Takes `file` for this process; returns the release function (which removes it only while it is ours). */
export function acquirePidLock(file: string, options: PidLockOptions): () => void {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const fd = openSync(file, 'wx', options.mode);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // gone already
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw options.failed(err);
    }
    let content = '';
    try {
      content = readFileSync(file, 'utf8').trim();
    } catch {
      continue; // removed meanwhile: try again
    }
    if (!/^\d+$/.test(content)) {
      // Another starter created it and has not written its pid yet: give it a moment, then call it stale.
      if (attempt < 10) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        continue;
      }
    } else if (isLive(Number(content), options.program)) {
      throw options.busy(Number(content));
    }
    try {
      unlinkSync(file);
    } catch {
      // someone else removed it first
    }
  }
  throw options.failed(undefined);
}
