/**
 * Typed access to the parts of the global WebAssembly API this runtime uses: the project's tsconfig has no
 * DOM lib, and @types/node 20 does not declare `WebAssembly`.
 */

/** An export or import of a compiled module. */
export interface WasmDescriptor {
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
}

/** An import of a compiled module. */
export interface WasmImportDescriptor extends WasmDescriptor {
  module: string;
}

/** A compiled `WebAssembly.Module` (structured-cloneable to worker threads). */
export interface CompiledWasmModule {
  readonly __compiledWasmModule?: never;
}

interface WebAssemblyApi {
  compile(bytes: Uint8Array): Promise<CompiledWasmModule>;
  validate(bytes: Uint8Array): boolean;
  Module: {
    exports(module: CompiledWasmModule): WasmDescriptor[];
    imports(module: CompiledWasmModule): WasmImportDescriptor[];
  };
}

/** The global WebAssembly namespace, typed. */
export const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
