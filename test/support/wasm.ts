/** WASI test programs, built from WebAssembly text with wabt. */
import wabtInit from 'wabt';

/** The programs, by name. */
const PROGRAMS: Record<string, string> = {
  // Writes "hello from wasm\n" to stdout (fd_write on fd 1) and returns from _start (exit code 0).
  hello: `(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "hello from wasm\\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 16))
      (i32.store (i32.const 4) (i32.const 16))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`,
};
// hello with one more function, never called, whose body does not validate (it returns an i64 as an i32):
// the whole module is refused (validation is not lazy), before its _start can run.
PROGRAMS['hello-invalid'] = PROGRAMS.hello!.replace(/\)$/, '\n    (func (result i32) (i64.const 1)))');

/** Builds a named WASI program into a .wasm binary. */
export async function buildWasm(name: keyof typeof PROGRAMS | string): Promise<Uint8Array> {
  const source = PROGRAMS[name];
  if (source === undefined) throw new Error(`no WASI test program named ${name}`);
  const wabt = await wabtInit();
  const module = wabt.parseWat(`${name}.wat`, source);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}
