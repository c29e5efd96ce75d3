/**
 * The PAL C ABI (docs/enclave-runtimes.md, "Native PAL libraries") as koffi types and function prototypes. Every pointer is
 * declared `void *` and built explicitly in ./memory.ts, so layouts (packed structs, NULL-terminated arrays)
 * are exactly the C ones and no hidden per-call marshalling is involved.
 */
import koffi from 'koffi';

/** struct pal_stdio_fds { int stdin, stdout, stderr; } */
export const PalStdioFds = koffi.struct({ stdin: 'int', stdout: 'int', stderr: 'int' });

/** struct pal_attr_v1 { const char *args; const char *log_level; } */
export const PalAttrV1 = koffi.struct({ args: 'void *', log_level: 'void *' });

/** struct pal_attr_v3 { struct pal_attr_v1 attr_v1; int fd; uint64_t addr; } (natural alignment: addr at 24). */
export const PalAttrV3 = koffi.struct({ attr_v1: PalAttrV1, fd: 'int', addr: 'uint64_t' });

/** struct pal_create_process_args { char *path; char **argv; char **env; struct pal_stdio_fds *stdio; int *pid; } __attribute__((packed)) */
export const PalCreateProcessArgs = koffi.pack({ path: 'void *', argv: 'void *', env: 'void *', stdio: 'void *', pid: 'void *' });

/** struct pal_exec_args { int pid; int *exit_value; } __attribute__((packed)) (exit_value at offset 4). */
export const PalExecArgs = koffi.pack({ pid: 'int', exit_value: 'void *' });

/** Size of an SGX REPORT, what pal_get_local_report returns. */
export const SGX_REPORT_SIZE = 432;
/** Size of an SGX TARGETINFO, what pal_get_local_report takes. */
export const SGX_TARGET_INFO_SIZE = 512;

/** Prototypes: [result, parameters] of each PAL symbol, by PAL version where they differ. */
export const PROTOTYPES = {
  pal_get_version: ['int', []],
  pal_init: ['int', ['void *']],
  pal_exec_v1: ['int', ['void *', 'void *', 'void *', 'void *']],
  pal_exec_v2: ['int', ['void *']],
  pal_create_process: ['int', ['void *']],
  pal_kill: ['int', ['int', 'int']],
  pal_destroy: ['int', []],
  pal_get_local_report: ['int', ['void *', 'int', 'void *', 'void *']],
} as const satisfies Record<string, readonly [string, readonly string[]]>;

/** Symbols a library must export for each PAL version (pal_get_local_report is optional in v3). */
export const REQUIRED_SYMBOLS: Readonly<Record<1 | 2 | 3, readonly string[]>> = {
  1: ['pal_init', 'pal_exec', 'pal_destroy'],
  2: ['pal_init', 'pal_create_process', 'pal_exec', 'pal_kill', 'pal_destroy'],
  3: ['pal_init', 'pal_create_process', 'pal_exec', 'pal_kill', 'pal_destroy'],
};
