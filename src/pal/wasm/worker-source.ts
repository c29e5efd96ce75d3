/**
 * The code of the worker thread that runs one WASI module. It is a string (run with `eval: true`) so that
 * bundling rune with esbuild needs no extra entry point and the worker never loads TypeScript tooling.
 *
 * Protocol: workerData = { module, args, env, preopens, stdin, stdout, stderr }; the worker posts exactly
 * one message: { kind: 'exit', code } | { kind: 'trap', message } | { kind: 'link-error', message }.
 */
export const WASM_WORKER_SOURCE = `
'use strict';
const { parentPort, workerData: d } = require('node:worker_threads');
// Loading node:wasi emits an ExperimentalWarning; it must not reach the workload's stderr.
const emitWarning = process.emitWarning;
process.emitWarning = () => {};
const { WASI } = require('node:wasi');
process.emitWarning = emitWarning;
const report = (msg) => parentPort.postMessage(msg);
const text = (e) => (e && e.message) ? e.message : String(e);
(function run() {
  let wasi;
  let instance;
  try {
    wasi = new WASI({
      version: 'preview1', args: d.args, env: d.env, preopens: d.preopens,
      stdin: d.stdin, stdout: d.stdout, stderr: d.stderr, returnOnExit: true,
    });
    instance = new WebAssembly.Instance(d.module, wasi.getImportObject());
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) return report({ kind: 'trap', message: text(e) });
    return report({ kind: 'link-error', message: text(e) });
  }
  try {
    const code = wasi.start(instance);
    report({ kind: 'exit', code: typeof code === 'number' ? code : 0 });
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError) return report({ kind: 'trap', message: text(e) });
    report({ kind: 'link-error', message: text(e) });
  }
})();
`;
