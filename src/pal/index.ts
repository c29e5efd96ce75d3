/**
 * Package entry point `inclavare/pal`: the PAL API for running workloads in enclave runtimes and for writing
 * new ones (docs/enclave-runtimes.md). `loadEnclaveRuntime('sim' | 'wasm' | '/path/liberpal-x.so')` returns an
 * EnclaveRuntime (init → createProcess → exec / kill → destroy); a runtime written in TypeScript implements
 * the same interface, with PalLifecycle and ProcessTable for the call-order and process bookkeeping rules.
 */
export type { EnclaveRuntime, LoadEnclaveRuntimeOptions, PalInitOptions, PalLogLevel, PalProcessSpec, PalRlimit, PalStdio } from './types.ts';
export { PAL_LOG_LEVELS } from './types.ts';
export { BUILTIN_RUNTIMES, isEnclaveRuntimeName, loadEnclaveRuntime } from './registry.ts';
export {
  PAL_ERR_ARGS,
  PAL_ERR_CALL,
  PAL_ERR_ENTRYPOINT,
  PAL_ERR_LOAD,
  PAL_ERR_STATE,
  PAL_ERR_UNSUPPORTED,
  PAL_ERR_WASM,
  palError,
  type PalErrorCode,
} from './codes.ts';
export { PalLifecycle, type PalState } from './lifecycle.ts';
export { ProcessTable, type RunningProcess } from './process-table.ts';
export { defaultDisposition, isValidSignal, MAX_SIGNAL, type SignalDisposition } from './signals.ts';
export { InclavareError, isInclavareError, describeError } from '../errors/errors.ts';
