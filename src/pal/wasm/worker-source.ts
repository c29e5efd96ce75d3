/**
 * The code of the worker thread that runs one WASI module. It is a string (run with `eval: true`) so that
 * bundling rune with esbuild needs no extra entry point and the worker never loads TypeScript tooling.
 *
 * Protocol: workerData = { module, args, env, preopens, stdin, stdout, stderr, stdinBridge }; the worker
 * posts exactly one result message: { kind: 'exit', code } | { kind: 'trap', message } | { kind: 'link-error',
 * message }, and any number of { kind: 'stdin-read', max } before it.
 *
 * stdin bridge: the module's fd_read on fd 0 does not read the fd in this thread (a blocking read there could
 * not be interrupted by worker.terminate()). It asks the main thread for at most `max` bytes and waits on the
 * shared buffer `stdinBridge` (Int32 state at 0: 0 pending, 1 answered; Int32 result at 4: bytes, 0 at EOF,
 * -errno on error; the bytes from offset 8), and Atomics.wait is interruptible. Every other use of fd 0
 * (fdstat, poll) still sees the real fd.
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
function bridgeStdin(wasi, memory) {
  const state = new Int32Array(d.stdinBridge, 0, 2);
  const data = new Uint8Array(d.stdinBridge, 8);
  const fdRead = wasi.fd_read;
  wasi.fd_read = (fd, iovs, iovsLen, nreadPtr) => {
    if (fd !== 0) return fdRead(fd, iovs, iovsLen, nreadPtr);
    let view = new DataView(memory().buffer);
    let want = 0;
    for (let i = 0; i < iovsLen; i++) want += view.getUint32(iovs + 8 * i + 4, true);
    let n = 0;
    if (want > 0) {
      Atomics.store(state, 0, 0);
      report({ kind: 'stdin-read', max: Math.min(want, data.length) });
      Atomics.wait(state, 0, 0);
      n = Atomics.load(state, 1);
      if (n < 0) return -n;
      view = new DataView(memory().buffer);
      const bytes = new Uint8Array(memory().buffer);
      let copied = 0;
      for (let i = 0; i < iovsLen && copied < n; i++) {
        const ptr = view.getUint32(iovs + 8 * i, true);
        const len = Math.min(view.getUint32(iovs + 8 * i + 4, true), n - copied);
        bytes.set(data.subarray(copied, copied + len), ptr);
        copied += len;
      }
    }
    view.setUint32(nreadPtr, n, true);
    return 0;
  };
}
const text = (e) => (e && e.message) ? e.message : String(e);
(function run() {
  let wasi;
  let instance;
  try {
    wasi = new WASI({
      version: 'preview1', args: d.args, env: d.env, preopens: d.preopens,
      stdin: d.stdin, stdout: d.stdout, stderr: d.stderr, returnOnExit: true,
    });
    const imports = wasi.getImportObject();
    if (d.stdinBridge) bridgeStdin(imports.wasi_snapshot_preview1, () => instance.exports.memory);
    instance = new WebAssembly.Instance(d.module, imports);
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
