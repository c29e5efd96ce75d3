/**
 * The OS seam (youki's `Syscall` trait is the model): everything rune does to the machine — spawning the
 * backend, signals, its state-directory files, the mount point it makes in a rootfs, the environment, its own
 * stdout and stderr — goes through one `Sys` passed in its context. `linuxSys()` (./linux.ts) is the real one;
 * `FakeSys` (./fake.ts) records every call and answers from an in-memory file tree and scripted spawn
 * results, so rune's command logic is unit-tested without root, runc or a kernel. rune makes no mount(2)
 * calls itself: the backend mounts what the (derived) config lists.
 *
 * File operations throw errors shaped as Node's (an `Error` with `code` such as ENOENT or EEXIST), so callers
 * handle both implementations alike.
 */

/** What stat(2)/lstat(2) tell rune about a path. */
export interface FileInfo {
  type: 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'other';
  size: number;
  mtimeMs: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
}

/** A directory entry. */
export interface DirEntry {
  name: string;
  type: FileInfo['type'];
}

/** The outcome of a captured run. */
export interface CaptureResult {
  /** Exit status as a shell reports it (128+n when killed by signal n). */
  status: number;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (then status is 1). */
  error?: Error;
}

/** Options of {@link Sys.run}. */
export interface RunOptions {
  /** Extra file descriptors (3, 4, ...) to pass through: --preserve-fds plus $LISTEN_FDS. */
  extraFds?: number;
  /** Signals received meanwhile are sent on to the child. */
  forwardSignals?: readonly NodeJS.Signals[];
}

/** Options of file writes. */
export interface WriteOptions {
  /** Permissions of a file created (default 0o600). */
  mode?: number;
  /** Fail with EEXIST when the file exists (writeFile only). */
  exclusive?: boolean;
}

/** What lstat(2) tells the file-tree digest about one path (src/rune/enclave/tree-digest.ts). */
export interface TreeStat {
  type: 'file' | 'directory' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Device numbers of a char or block device (0 otherwise). */
  major: number;
  minor: number;
  /** Identity of the inode (st_dev:st_ino), so that hard links are read once. */
  inode: string;
  /** What the digest cache keys a file's content on (src/rune/enclave/digest-cache.ts); absent: never cached. */
  identity?: FileIdentity;
}

/** stat(2)'s exact identity and times of a file (nanoseconds since the epoch). */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Birth time (statx's btime; 0 where the file system has none). */
  btimeNs: bigint;
}

/**
 * Asynchronous access to a whole tree, for measuring it: raw name bytes (a Linux file name need not be
 * UTF-8), and file contents hashed as a stream so that a large file is never held in memory.
 */
export interface TreeReader {
  /** lstat(2); rejects with ENOENT when the path does not exist. */
  lstat(path: Buffer): Promise<TreeStat>;
  /** The names in a directory (without . and ..), as bytes, in no particular order. */
  readdir(path: Buffer): Promise<Buffer[]>;
  /** A symlink's target, as bytes. */
  readlink(path: Buffer): Promise<Buffer>;
  /** The digest of a regular file's content with `algorithm` (node:crypto's name), read in chunks. */
  hashFile(path: Buffer, algorithm: string): Promise<Buffer>;
  /**
   * The same metadata calls, synchronous (optional). With them the tree digest walks the tree's metadata in
   * one pass without an event-loop round trip per path, which is most of a warm measurement's cost; file
   * contents are still read asynchronously.
   */
  sync?: {
    lstat(path: Buffer): TreeStat;
    readdir(path: Buffer): Buffer[];
    readlink(path: Buffer): Buffer;
  };
}

/** The operating system as rune sees it. */
export interface Sys {
  /** The process environment (read-only view). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** This process's id (unique temporary names). */
  readonly pid: number;

  /** Runs `file` with this process's stdio; resolves to its exit status (128+n when killed by signal n); rejects when it cannot start. */
  run(file: string, args: readonly string[], options?: RunOptions): Promise<number>;
  /** Runs `file` to completion and captures its output. */
  capture(file: string, args: readonly string[]): CaptureResult;
  /** Calls `handler` for each of `signals` this process receives until the returned function is called. */
  onSignals(signals: readonly NodeJS.Signals[], handler: (signal: NodeJS.Signals) => void): () => void;
  /** Waits `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
  /** The current time. */
  now(): Date;

  /** stat(2), following symlinks; undefined when the path does not exist. */
  stat(path: string): FileInfo | undefined;
  /** lstat(2); undefined when the path does not exist. */
  lstat(path: string): FileInfo | undefined;
  /** True when the calling process may execute `path` (access(2) X_OK). */
  isExecutable(path: string): boolean;
  realpath(path: string): string;
  readlink(path: string): string;
  readFile(path: string): Buffer;
  /** Reads at most `length` bytes from the start of a file (magic numbers). */
  readHead(path: string, length: number): Buffer;
  readDir(path: string): DirEntry[];
  /** Writes a file in place (O_CREAT|O_TRUNC, or O_EXCL with `exclusive`). */
  writeFile(path: string, data: string | Uint8Array, options?: WriteOptions): void;
  /**
   * Replaces a file atomically (temporary file, rename): a crash leaves the old file or the new one. Not
   * fsync'd: rune writes only runtime state with it, which lives as long as the boot (as runc's state.json).
   */
  writeFileAtomic(path: string, data: string | Uint8Array, options?: { mode?: number }): void;
  appendFile(path: string, data: string, options?: { mode?: number }): void;
  /** mkdir(2) with `mode`; `recursive` makes missing parents and accepts an existing directory. */
  mkdir(path: string, options: { mode: number; recursive?: boolean }): void;
  mkfifo(path: string, mode: number): void;
  chown(path: string, uid: number, gid: number): void;
  /** rm -rf: removes a file or a directory tree; a missing path is fine. */
  remove(path: string): void;
  /** The same files, for reading a whole tree asynchronously and in parallel (the rootfs measurement). */
  readonly tree: TreeReader;
  /** Opens a FIFO for writing without blocking (ENXIO when nobody reads it), writes `data`, closes it. */
  writeFifo(path: string, data: Uint8Array): void;

  /** Writes to this process's stdout / stderr. */
  stdout(text: string | Uint8Array): void;
  stderr(text: string | Uint8Array): void;
}

/** An error shaped like Node's system errors, for implementations that are not the kernel. */
export function sysError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} ${path}`), { code, syscall, path });
}
