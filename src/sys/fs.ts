/**
 * File-system helpers for daemons and state directories: directories created with their mode, and atomic,
 * durable file writes (a crash leaves the old file or the new one, never a torn one, and a completed write
 * survives power loss: data fsync'd before the rename or link, the directory fsync'd after).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * mkdir -p with `mode` for every directory it creates. Not mkdirSync({ recursive: true }): on Node 20 that
 * spins forever at 100% CPU when a parent cannot be created (e.g. anything under /proc), and a daemon
 * must fail, not hang.
 */
export function makeDirectory(path: string, mode: number): void {
  try {
    mkdirSync(path, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(path).isDirectory()) throw err;
      return;
    }
    if (code !== 'ENOENT' || dirname(path) === path) throw err;
    makeDirectory(dirname(path), mode);
    try {
      mkdirSync(path, { mode });
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(path).isDirectory()) throw again;
    }
  }
}

/** fsync(2) of a directory, so that a rename or link in it is durable. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `data` durably (fsync, unless `durable` is false) to a fresh temporary file beside `path`, created
 * exclusively with `mode`; returns its path. The name is unique per process and call, so concurrent writers
 * never share one.
 */
export function writeTempFile(path: string, data: string | Uint8Array, mode: number, durable = true): string {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeFileSync(fd, data);
    if (durable) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  return tmp;
}

/** Options of the atomic writes. */
export interface AtomicWriteOptions {
  /** Permissions of the file created (default 0o600). */
  mode?: number;
  /** fsync the directory afterwards, making the new name durable (default true). */
  syncDir?: boolean;
  /**
   * false: atomic but not fsync'd (neither the data nor the directory). For runtime state that lives only as
   * long as the boot (rune's state, inclavared's ROOT, as runc's state.json): a crash of the writer still
   * leaves the old file or the new one, and a crash of the machine ends the containers the state describes.
   * Each fsync costs 5-7 ms on this class of disk, and an enclave create wrote six such files. Default true.
   */
  durable?: boolean;
}

/**
 * Replaces `path` with `data` atomically and durably: temporary file, fsync, rename(2), fsync of the directory
 * (without the fsyncs when `durable` is false).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const durable = options.durable !== false;
  const tmp = writeTempFile(path, data, options.mode ?? 0o600, durable);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  if (durable && options.syncDir !== false) syncDirectory(dirname(path));
}

/**
 * Creates `path` with `data` only if it does not exist yet, atomically and durably (temporary file, fsync,
 * link(2), which fails when the name exists). Returns false when another writer got there first; the file
 * is then theirs, complete.
 */
export function writeFileExclusive(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): boolean {
  const tmp = writeTempFile(path, data, options.mode ?? 0o600);
  let created = false;
  try {
    linkSync(tmp, path);
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  if (created && options.syncDir !== false) syncDirectory(dirname(path));
  return created;
}
