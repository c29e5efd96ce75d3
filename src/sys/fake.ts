/**
 * A recording fake of the OS seam (the double of {@link Sys}, as undici's MockAgent is a Dispatcher): an
 * in-memory file tree (absolute paths, no symlink resolution except by readlink/realpath of a link), spawns
 * answered by a script, signals delivered by the test, and a log of every call that changes something.
 */
import { createHash } from 'node:crypto';
import { dirname, posix } from 'node:path';
import { sysError, type CaptureResult, type DirEntry, type FileInfo, type RunOptions, type Sys, type TreeReader, type WriteOptions } from './sys.ts';

/** One node of the fake file tree. */
export interface FakeNode {
  type: FileInfo['type'];
  data: Buffer;
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target. */
  target?: string;
  /** Executable by the caller (files only). */
  executable?: boolean;
  /** A FIFO has a reader (writeFifo succeeds). */
  reader?: boolean;
}

/** The fake tree's {@link TreeReader}: the same nodes, 'other' nodes read as char devices 0:0. */
function fakeTreeReader(fake: FakeSys): TreeReader {
  const get = (path: Buffer, syscall: string): FakeNode => {
    const node = fake.files.get(posix.normalize(path.toString('utf8')));
    if (node === undefined) throw sysError('ENOENT', syscall, path.toString('utf8'));
    return node;
  };
  return {
    lstat: (path) => {
      const node = get(path, 'lstat');
      const type = node.type === 'other' ? 'char' : node.type;
      return Promise.resolve({ type, mode: node.mode, uid: node.uid, gid: node.gid, size: node.data.length, major: 0, minor: 0, inode: path.toString('utf8') });
    },
    readdir: (path) => Promise.resolve(fake.readDir(path.toString('utf8')).map((e) => Buffer.from(e.name, 'utf8'))),
    readlink: (path) => Promise.resolve(Buffer.from(fake.readlink(path.toString('utf8')), 'utf8')),
    hashFile: (path, algorithm) => Promise.resolve(createHash(algorithm).update(fake.readFile(path.toString('utf8'))).digest()),
  };
}

/** One recorded call. */
export type SysCall =
  | { op: 'run'; file: string; args: string[]; extraFds: number; forwardSignals: string[] }
  | { op: 'capture'; file: string; args: string[] }
  | { op: 'writeFile'; path: string; mode: number; exclusive: boolean }
  | { op: 'writeFileAtomic'; path: string; mode: number }
  | { op: 'appendFile'; path: string }
  | { op: 'mkdir'; path: string; mode: number; recursive: boolean }
  | { op: 'mkfifo'; path: string; mode: number }
  | { op: 'chown'; path: string; uid: number; gid: number }
  | { op: 'remove'; path: string }
  | { op: 'writeFifo'; path: string; data: number[] };

/** A scripted answer to a spawn: status (default 0) and output. */
export type SpawnAnswer = Partial<Omit<CaptureResult, 'error'>> & { error?: Error };

/** Answers spawns: `kind` says whether rune ran it with its stdio (`run`) or captured it. */
export type SpawnScript = (file: string, args: string[], kind: 'run' | 'capture') => SpawnAnswer | undefined;

/** Options of {@link FakeSys}. */
export interface FakeSysOptions {
  env?: Record<string, string>;
  pid?: number;
  now?: Date;
  spawn?: SpawnScript;
}

/** The recording fake of {@link Sys}. */
export class FakeSys implements Sys {
  readonly env: Record<string, string | undefined>;
  readonly pid: number;
  readonly calls: SysCall[] = [];
  readonly files = new Map<string, FakeNode>();
  /** What rune wrote to stdout and stderr. */
  out = '';
  err = '';
  /** How spawns are answered (default: status 0, no output). */
  spawn: SpawnScript;
  readonly tree: TreeReader = fakeTreeReader(this);
  #now: Date;
  readonly #handlers = new Set<{ signals: readonly NodeJS.Signals[]; handler: (s: NodeJS.Signals) => void }>();

  constructor(options: FakeSysOptions = {}) {
    this.env = { ...(options.env ?? {}) };
    this.pid = options.pid ?? 4242;
    this.#now = options.now ?? new Date('2026-01-02T03:04:05.000Z');
    this.spawn = options.spawn ?? (() => undefined);
    this.files.set('/', { type: 'directory', data: Buffer.alloc(0), mode: 0o755, uid: 0, gid: 0 });
  }

  // --- test helpers (not part of Sys) -------------------------------------------------------------------

  /** Puts a file into the tree (parents created). */
  addFile(path: string, data: string | Uint8Array = '', options: { mode?: number; executable?: boolean; uid?: number; gid?: number } = {}): this {
    this.#ensureParents(path);
    this.files.set(posix.normalize(path), {
      type: 'file', data: Buffer.from(data), mode: options.mode ?? 0o644, uid: options.uid ?? 0, gid: options.gid ?? 0, executable: options.executable ?? false,
    });
    return this;
  }

  /** Puts a directory into the tree (parents created). */
  addDir(path: string, mode = 0o755): this {
    this.#ensureParents(path);
    if (!this.files.has(posix.normalize(path))) this.files.set(posix.normalize(path), { type: 'directory', data: Buffer.alloc(0), mode, uid: 0, gid: 0 });
    return this;
  }

  /** Puts a symlink into the tree. */
  addSymlink(path: string, target: string): this {
    this.#ensureParents(path);
    this.files.set(posix.normalize(path), { type: 'symlink', data: Buffer.alloc(0), mode: 0o777, uid: 0, gid: 0, target });
    return this;
  }

  /** Removes a path (and what is under it) without recording a call: what another process did. */
  drop(path: string): this {
    const key = posix.normalize(path);
    this.files.delete(key);
    for (const p of this.under(key)) this.files.delete(p);
    return this;
  }

  /** The node at a path, for tests that change it (e.g. give a FIFO a reader). */
  node(path: string): FakeNode | undefined {
    return this.files.get(posix.normalize(path));
  }

  /** The text of a file in the tree, or undefined. */
  text(path: string): string | undefined {
    const node = this.files.get(posix.normalize(path));
    return node?.type === 'file' ? node.data.toString('utf8') : undefined;
  }

  /** True when `path` is in the tree. */
  has(path: string): boolean {
    return this.files.has(posix.normalize(path));
  }

  /** Paths in the tree under `dir` (itself excluded), sorted. */
  under(dir: string): string[] {
    const prefix = `${posix.normalize(dir)}/`;
    return [...this.files.keys()].filter((p) => p.startsWith(prefix)).sort();
  }

  /** Delivers a signal to the handlers registered with onSignals. */
  signal(signal: NodeJS.Signals): void {
    for (const { signals, handler } of [...this.#handlers]) if (signals.includes(signal)) handler(signal);
  }

  /** Advances the fake clock. */
  advance(ms: number): void {
    this.#now = new Date(this.#now.getTime() + ms);
  }

  /** The recorded calls of one kind. */
  callsOf<K extends SysCall['op']>(op: K): Extract<SysCall, { op: K }>[] {
    return this.calls.filter((c): c is Extract<SysCall, { op: K }> => c.op === op);
  }

  // --- Sys ----------------------------------------------------------------------------------------------

  run(file: string, args: readonly string[], options: RunOptions = {}): Promise<number> {
    this.calls.push({ op: 'run', file, args: [...args], extraFds: options.extraFds ?? 0, forwardSignals: [...(options.forwardSignals ?? [])] });
    const answer = this.spawn(file, [...args], 'run') ?? {};
    if (answer.error) return Promise.reject(answer.error);
    if (answer.stdout) this.out += answer.stdout;
    if (answer.stderr) this.err += answer.stderr;
    return Promise.resolve(answer.status ?? 0);
  }

  capture(file: string, args: readonly string[]): CaptureResult {
    this.calls.push({ op: 'capture', file, args: [...args] });
    const answer = this.spawn(file, [...args], 'capture') ?? {};
    return { status: answer.error ? 1 : (answer.status ?? 0), stdout: answer.stdout ?? '', stderr: answer.stderr ?? '', ...(answer.error ? { error: answer.error } : {}) };
  }

  onSignals(signals: readonly NodeJS.Signals[], handler: (signal: NodeJS.Signals) => void): () => void {
    const entry = { signals, handler };
    this.#handlers.add(entry);
    return () => {
      this.#handlers.delete(entry);
    };
  }

  /** Resolves at once (after a macrotask, so scripted state changes interleave as they would). */
  sleep(ms: number): Promise<void> {
    this.advance(ms);
    return new Promise((resolve) => setImmediate(resolve));
  }

  now(): Date {
    return new Date(this.#now);
  }

  stat(path: string): FileInfo | undefined {
    let node = this.files.get(posix.normalize(path));
    for (let i = 0; node?.type === 'symlink' && i < 40; i++) node = this.files.get(posix.resolve(dirname(path), node.target!));
    return node === undefined ? undefined : this.#info(node);
  }

  lstat(path: string): FileInfo | undefined {
    const node = this.files.get(posix.normalize(path));
    return node === undefined ? undefined : this.#info(node);
  }

  isExecutable(path: string): boolean {
    const node = this.files.get(posix.normalize(path));
    return node?.type === 'file' && node.executable === true;
  }

  realpath(path: string): string {
    const node = this.#get(path, 'realpath');
    return node.type === 'symlink' ? posix.resolve(dirname(path), node.target!) : posix.normalize(path);
  }

  readlink(path: string): string {
    const node = this.#get(path, 'readlink');
    if (node.type !== 'symlink') throw sysError('EINVAL', 'readlink', path);
    return node.target!;
  }

  readFile(path: string): Buffer {
    const node = this.#get(path, 'open');
    if (node.type === 'directory') throw sysError('EISDIR', 'read', path);
    return Buffer.from(node.data);
  }

  readHead(path: string, length: number): Buffer {
    return this.readFile(path).subarray(0, length);
  }

  readDir(path: string): DirEntry[] {
    const node = this.#get(path, 'scandir');
    if (node.type !== 'directory') throw sysError('ENOTDIR', 'scandir', path);
    const prefix = path === '/' ? '/' : `${posix.normalize(path)}/`;
    return [...this.files.entries()]
      .filter(([p]) => p.startsWith(prefix) && p !== '/' && !p.slice(prefix.length).includes('/'))
      .map(([p, n]) => ({ name: p.slice(prefix.length), type: n.type }));
  }

  writeFile(path: string, data: string | Uint8Array, options: WriteOptions = {}): void {
    const mode = options.mode ?? 0o600;
    this.calls.push({ op: 'writeFile', path, mode, exclusive: options.exclusive === true });
    this.#parentDir(path, 'open');
    const existing = this.files.get(posix.normalize(path));
    if (existing !== undefined && options.exclusive) throw sysError('EEXIST', 'open', path);
    if (existing?.type === 'directory') throw sysError('EISDIR', 'open', path);
    this.files.set(posix.normalize(path), { type: 'file', data: Buffer.from(data), mode: existing?.mode ?? mode, uid: 0, gid: 0 });
  }

  writeFileAtomic(path: string, data: string | Uint8Array, options: { mode?: number } = {}): void {
    const mode = options.mode ?? 0o600;
    this.calls.push({ op: 'writeFileAtomic', path, mode });
    this.#parentDir(path, 'open');
    this.files.set(posix.normalize(path), { type: 'file', data: Buffer.from(data), mode, uid: 0, gid: 0 });
  }

  appendFile(path: string, data: string): void {
    this.calls.push({ op: 'appendFile', path });
    this.#parentDir(path, 'open');
    const existing = this.files.get(posix.normalize(path));
    this.files.set(posix.normalize(path), { type: 'file', data: Buffer.concat([existing?.data ?? Buffer.alloc(0), Buffer.from(data)]), mode: existing?.mode ?? 0o600, uid: 0, gid: 0 });
  }

  mkdir(path: string, options: { mode: number; recursive?: boolean }): void {
    this.calls.push({ op: 'mkdir', path, mode: options.mode, recursive: options.recursive === true });
    const key = posix.normalize(path);
    const existing = this.files.get(key);
    if (existing !== undefined) {
      if (options.recursive && existing.type === 'directory') return;
      throw sysError('EEXIST', 'mkdir', path);
    }
    if (options.recursive) this.#ensureParents(path, options.mode);
    else this.#parentDir(path, 'mkdir');
    this.files.set(key, { type: 'directory', data: Buffer.alloc(0), mode: options.mode, uid: 0, gid: 0 });
  }

  mkfifo(path: string, mode: number): void {
    this.calls.push({ op: 'mkfifo', path, mode });
    this.#parentDir(path, 'mknod');
    if (this.files.has(posix.normalize(path))) throw sysError('EEXIST', 'mknod', path);
    this.files.set(posix.normalize(path), { type: 'fifo', data: Buffer.alloc(0), mode, uid: 0, gid: 0 });
  }

  chown(path: string, uid: number, gid: number): void {
    this.calls.push({ op: 'chown', path, uid, gid });
    const node = this.#get(path, 'chown');
    node.uid = uid;
    node.gid = gid;
  }

  remove(path: string): void {
    this.calls.push({ op: 'remove', path });
    const key = posix.normalize(path);
    this.files.delete(key);
    for (const p of this.under(key)) this.files.delete(p);
  }

  writeFifo(path: string, data: Uint8Array): void {
    this.calls.push({ op: 'writeFifo', path, data: [...data] });
    const node = this.#get(path, 'open');
    if (node.type !== 'fifo') throw sysError('EINVAL', 'open', path);
    if (!node.reader) throw sysError('ENXIO', 'open', path);
    node.data = Buffer.concat([node.data, data]);
  }

  stdout(text: string | Uint8Array): void {
    this.out += typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  }

  stderr(text: string | Uint8Array): void {
    this.err += typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  }

  // --- internals ----------------------------------------------------------------------------------------

  #info(node: FakeNode): FileInfo {
    return { type: node.type, size: node.data.length, mtimeMs: 0, mode: node.mode, uid: node.uid, gid: node.gid };
  }

  #get(path: string, syscall: string): FakeNode {
    const node = this.files.get(posix.normalize(path));
    if (node === undefined) throw sysError('ENOENT', syscall, path);
    return node;
  }

  #parentDir(path: string, syscall: string): void {
    const parent = this.files.get(dirname(posix.normalize(path)));
    if (parent === undefined) throw sysError('ENOENT', syscall, path);
    if (parent.type !== 'directory') throw sysError('ENOTDIR', syscall, path);
  }

  #ensureParents(path: string, mode = 0o755): void {
    const parts = posix.normalize(path).split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      const node = this.files.get(p);
      if (node === undefined) this.files.set(p, { type: 'directory', data: Buffer.alloc(0), mode, uid: 0, gid: 0 });
      else if (node.type !== 'directory') throw sysError('ENOTDIR', 'mkdir', path);
    }
  }
}
