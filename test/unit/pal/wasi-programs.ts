/**
 * Real WASI preview1 programs for the wasm runtime tests, written in WAT and assembled with wabt.
 * Memory layout used by every program: iovec at 0, result words at 16..63, string data from 256,
 * argv pointers at 1024, argv bytes at 4096, environ pointers at 2048, environ bytes at 8192.
 */
import wabt from 'wabt';

const IMPORTS: Record<string, string> = {
  fd_write: '(param i32 i32 i32 i32) (result i32)',
  fd_read: '(param i32 i32 i32 i32) (result i32)',
  args_sizes_get: '(param i32 i32) (result i32)',
  args_get: '(param i32 i32) (result i32)',
  environ_sizes_get: '(param i32 i32) (result i32)',
  environ_get: '(param i32 i32) (result i32)',
  proc_exit: '(param i32)',
  path_open: '(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)',
};

/** A WAT string literal for `s` (every byte escaped). */
function watString(s: string): string {
  return `"${[...Buffer.from(s, 'utf8')].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('')}"`;
}

/** A WASI command whose `_start` body is `body`, with the WASI imports, a `$write(fd, ptr, len)` helper and data at 256. */
function command(body: string, data = ''): string {
  const imports = Object.entries(IMPORTS)
    .map(([name, sig]) => `(import "wasi_snapshot_preview1" "${name}" (func $${name} ${sig}))`)
    .join('\n  ');
  return `(module
  ${imports}
  (memory (export "memory") 1)
  ${data === '' ? '' : `(data (i32.const 256) ${watString(data)})`}
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 16))))
  (func (export "_start") (local $err i32)
    ${body}))`;
}

/** Writes `out` to stdout and `err` to stderr, then exits with `code` (proc_exit). */
export function helloWat(out: string, err: string, code: number): string {
  const outLen = Buffer.byteLength(out);
  return command(
    `(call $write (i32.const 1) (i32.const 256) (i32.const ${outLen}))
    (call $write (i32.const 2) (i32.const ${256 + outLen}) (i32.const ${Buffer.byteLength(err)}))
    (call $proc_exit (i32.const ${code}))`,
    out + err,
  );
}

/** Writes its argv bytes (NUL-separated) to stdout and its environ bytes to stderr, then exits with argc. */
export const echoArgsEnvWat = command(`
    (drop (call $args_sizes_get (i32.const 32) (i32.const 36)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (call $write (i32.const 1) (i32.const 4096) (i32.load (i32.const 36)))
    (drop (call $environ_sizes_get (i32.const 40) (i32.const 44)))
    (drop (call $environ_get (i32.const 2048) (i32.const 8192)))
    (call $write (i32.const 2) (i32.const 8192) (i32.load (i32.const 44)))
    (call $proc_exit (i32.load (i32.const 32)))`);

/**
 * Opens `path` relative to fd 3 (the first preopen) and copies up to 1 KiB of it to stdout; exits 0, or
 * 100 + the WASI errno of path_open, or 200 + the errno of fd_read.
 */
export function catFileWat(path: string): string {
  return command(
    `(local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 256) (i32.const ${Buffer.byteLength(path)})
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 48)))
    (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 100) (local.get $err)))))
    (i32.store (i32.const 0) (i32.const 4096))
    (i32.store (i32.const 4) (i32.const 1024))
    (local.set $err (call $fd_read (i32.load (i32.const 48)) (i32.const 0) (i32.const 1) (i32.const 16)))
    (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 200) (local.get $err)))))
    (call $write (i32.const 1) (i32.const 4096) (i32.load (i32.const 16)))
    (call $proc_exit (i32.const 0))`,
    path,
  );
}

/** Copies stdin to stdout in reads of up to 1000 bytes until EOF (exit 0); a failed read exits 200 + errno. */
export const catStdinWat = command(`(loop $more
      (i32.store (i32.const 0) (i32.const 4096))
      (i32.store (i32.const 4) (i32.const 1000))
      (local.set $err (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
      (if (local.get $err) (then (call $proc_exit (i32.add (i32.const 200) (local.get $err)))))
      (if (i32.eqz (i32.load (i32.const 16))) (then (call $proc_exit (i32.const 0))))
      (call $write (i32.const 1) (i32.const 4096) (i32.load (i32.const 16)))
      (br $more))`);

/** Writes `started\n` to stdout, then spins forever (for kill). */
export const spinWat = command(`(call $write (i32.const 1) (i32.const 256) (i32.const 8))
    (loop $forever (br $forever))`, 'started\n');

/** Returns from _start without proc_exit (exit code 0). */
export const returnWat = command('(nop)');

/** Traps (unreachable). */
export const trapWat = command('(unreachable)');

/** Exports memory but no _start (a reactor, not a command). */
export const noStartWat = '(module (memory (export "memory") 1) (func (export "other")))';

/** Imports a function WASI does not provide. */
export const foreignImportWat = `(module (import "env" "host_secret" (func $f)) (memory (export "memory") 1)
  (func (export "_start") (call $f)))`;

/** Assembles WAT into a binary module. */
export async function assemble(wat: string): Promise<Uint8Array> {
  const w = await wabt();
  const module = w.parseWat('test.wat', wat);
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}
