/**
 * The registry of enclave runtimes: `sim` and `wasm` are built in, anything else is the absolute path of a
 * native PAL library. Each runtime module is imported on demand, so a `sim` container never loads koffi
 * (a native addon) nor the wasm runtime.
 */
import { isAbsolute } from 'node:path';
import { PAL_ERR_LOAD, palError } from './codes.ts';
import type { EnclaveRuntime, LoadEnclaveRuntimeOptions } from './types.ts';

/** Names of the built-in runtimes. */
export const BUILTIN_RUNTIMES = ['sim', 'wasm'] as const;

/** True when `pathOrName` names a runtime {@link loadEnclaveRuntime} accepts (without loading it). */
export function isEnclaveRuntimeName(pathOrName: string): boolean {
  return (BUILTIN_RUNTIMES as readonly string[]).includes(pathOrName) || isAbsolute(pathOrName);
}

/** Loads an enclave runtime: `sim`, `wasm` or an absolute path to a PAL `.so`; PAL_ERR_LOAD for anything else. */
export async function loadEnclaveRuntime(pathOrName: string, options: LoadEnclaveRuntimeOptions = {}): Promise<EnclaveRuntime> {
  if (pathOrName === 'sim') {
    const { SimRuntime } = await import('./sim/runtime.ts');
    return new SimRuntime(options);
  }
  if (pathOrName === 'wasm') {
    const { WasmRuntime } = await import('./wasm/runtime.ts');
    return new WasmRuntime(options);
  }
  if (!isAbsolute(pathOrName)) {
    throw palError(
      PAL_ERR_LOAD,
      `Cannot load enclave runtime "${pathOrName}": expected sim, wasm or the absolute path of a PAL library (liberpal-*.so)`,
      { details: { path: pathOrName } },
    );
  }
  const { loadNativeRuntime } = await import('./native/runtime.ts');
  return loadNativeRuntime(pathOrName, options);
}
