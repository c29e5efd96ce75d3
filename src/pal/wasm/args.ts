/**
 * Runtime arguments of the `wasm` enclave runtime (ENCLAVE_RUNTIME_ARGS), parsed purely so rune can put the
 * preopens in the container's measurement at create time.
 *
 * Syntax: entries separated by commas or whitespace (rune turns the original's commas into spaces), each
 * `key=value`. The only key is `preopen`:
 *   preopen=/data            the directory /data, visible to the module as /data
 *   preopen=/data:/srv/data  the directory /srv/data, visible to the module as /data
 * Both paths are absolute; the second is the path seen by init-runelet (inside the container's rootfs).
 * Nothing else of the file system is visible to the module.
 */
import { posix } from 'node:path';
import { PAL_ERR_ARGS, palError } from '../codes.ts';

/** One directory made visible to the module. */
export interface WasmPreopen {
  /** The path the module uses (WASI preopen name). */
  guest: string;
  /** The directory it maps to, as init-runelet sees it. */
  host: string;
}

/** Parsed `wasm` runtime arguments. */
export interface WasmRuntimeArgs {
  /** Preopened directories, in the order given. */
  preopens: WasmPreopen[];
}

/** The keys the wasm runtime accepts. */
export const WASM_RUNTIME_ARG_KEYS: readonly string[] = ['preopen'];

function absolutePath(value: string, entry: string): string {
  if (!value.startsWith('/')) {
    throw palError(PAL_ERR_ARGS, `Invalid wasm runtime argument "${entry}": ${value === '' ? 'a path is empty' : `${value} is not an absolute path`}`);
  }
  const normal = posix.normalize(value);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/** Parses ENCLAVE_RUNTIME_ARGS of the wasm runtime; throws PAL_ERR_ARGS naming the bad entry (unknown keys included). */
export function parseWasmRuntimeArgs(args: string): WasmRuntimeArgs {
  const preopens: WasmPreopen[] = [];
  for (const entry of args.split(/[\s,]+/)) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const key = eq === -1 ? entry : entry.slice(0, eq);
    if (!WASM_RUNTIME_ARG_KEYS.includes(key)) {
      throw palError(PAL_ERR_ARGS, `Invalid wasm runtime argument "${entry}": unknown key "${key}" (allowed: ${WASM_RUNTIME_ARG_KEYS.join(', ')})`);
    }
    if (eq === -1) throw palError(PAL_ERR_ARGS, `Invalid wasm runtime argument "${entry}": expected ${key}=GUEST[:HOST]`);
    const value = entry.slice(eq + 1);
    const parts = value.split(':');
    if (parts.length > 2) throw palError(PAL_ERR_ARGS, `Invalid wasm runtime argument "${entry}": expected preopen=GUEST[:HOST]`);
    const guest = absolutePath(parts[0] ?? '', entry);
    const host = absolutePath(parts[1] ?? parts[0] ?? '', entry);
    if (preopens.some((p) => p.guest === guest)) {
      throw palError(PAL_ERR_ARGS, `Invalid wasm runtime argument "${entry}": ${guest} is preopened twice`);
    }
    preopens.push({ guest, host });
  }
  return { preopens };
}
