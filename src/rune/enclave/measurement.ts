/**
 * The measurement of a software enclave (sim, wasm, or a PAL runtime without hardware measurement): SHA-384
 * over a canonical description of what runs. rune computes it on the host at create; `tee-tools` computes the
 * same value from a bundle, so reference values can be produced before deployment.
 *
 * Canonical description (version 1), serialized as JSON with the keys in exactly this order:
 *   {"version":1,"type":…,"runtime":…,"runtimeDigest":…,"runtimeArgs":…,"entrypoint":…,
 *    "entrypointDigest":…,"args":[…],"env":[…],"cwd":…}
 * `runtime` is "sim", "wasm" or the PAL library's file name; `runtimeDigest` the SHA-384 of the PAL library
 * ("" for built-in runtimes); `entrypointDigest` the SHA-384 of the entrypoint file's bytes (for wasm: the
 * module). Digests are lowercase hex.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** What a software enclave's measurement covers. */
export interface MeasurementInput {
  type: string;
  runtime: string;
  runtimeDigest: string;
  runtimeArgs: string;
  entrypoint: string;
  entrypointDigest: string;
  args: string[];
  env: string[];
  cwd: string;
}

/** SHA-384 of bytes, lowercase hex. */
export function sha384Hex(bytes: Uint8Array): string {
  return createHash('sha384').update(bytes).digest('hex');
}

/** The canonical description, byte for byte. */
export function canonicalDescription(input: MeasurementInput): string {
  return JSON.stringify({
    version: 1,
    type: input.type,
    runtime: input.runtime,
    runtimeDigest: input.runtimeDigest,
    runtimeArgs: input.runtimeArgs,
    entrypoint: input.entrypoint,
    entrypointDigest: input.entrypointDigest,
    args: input.args,
    env: input.env,
    cwd: input.cwd,
  });
}

/** The measurement (48 bytes, lowercase hex). Pure. */
export function computeMeasurement(input: MeasurementInput): string {
  return sha384Hex(Buffer.from(canonicalDescription(input), 'utf8'));
}

/** Name and digest of a runtime: built-ins by name, PAL libraries by file name and content. */
export function runtimeIdentity(runtime: string, read: (path: string) => Uint8Array = readFileSync): { runtime: string; runtimeDigest: string } {
  if (runtime === 'sim' || runtime === 'wasm') return { runtime, runtimeDigest: '' };
  return { runtime: basename(runtime), runtimeDigest: sha384Hex(read(runtime)) };
}
