/** The PAL layer's pure pieces: error codes and messages, wasm runtime arguments, the lifecycle, signals, the registry. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { errnoName, PAL_ERR_ARGS, PAL_ERR_CALL, PAL_ERR_LOAD, PAL_ERR_STATE, palCallError } from '../../../src/pal/codes.ts';
import { PalLifecycle } from '../../../src/pal/lifecycle.ts';
import { isEnclaveRuntimeName, loadEnclaveRuntime } from '../../../src/pal/registry.ts';
import { defaultDisposition, isValidSignal } from '../../../src/pal/signals.ts';
import { envRecord } from '../../../src/pal/spec.ts';
import { parseWasmRuntimeArgs } from '../../../src/pal/wasm/args.ts';
import { rejectsWith } from './support.ts';

test('palCallError() words a negative errno as the original did, plus the errno name', () => {
  const err = palCallError('init', -22);
  assert.equal(err.code, PAL_ERR_CALL);
  assert.equal(err.message, 'pal init() failed with -22 (EINVAL)');
  assert.deepEqual(err.details, { call: 'init', errno: -22 });
  assert.equal(palCallError('exec', -1).message, 'pal exec() failed with -1 (EPERM)');
  assert.equal(palCallError('kill', -9999).message, 'pal kill() failed with -9999');
  assert.equal(errnoName(-3), 'ESRCH');
});

test('parseWasmRuntimeArgs() reads preopens separated by commas or spaces, with or without a host path', () => {
  assert.deepEqual(parseWasmRuntimeArgs(''), { preopens: [] });
  assert.deepEqual(parseWasmRuntimeArgs('preopen=/data:/srv/data,preopen=/tmp  preopen=/a/b/'), {
    preopens: [
      { guest: '/data', host: '/srv/data' },
      { guest: '/tmp', host: '/tmp' },
      { guest: '/a/b', host: '/a/b' },
    ],
  });
  assert.deepEqual(parseWasmRuntimeArgs(' preopen=/ , '), { preopens: [{ guest: '/', host: '/' }] });
});

test('parseWasmRuntimeArgs() rejects unknown keys, relative paths and duplicates with PAL_ERR_ARGS naming the entry', () => {
  const cases: [string, RegExp][] = [
    ['mount=/x', /Invalid wasm runtime argument "mount=\/x": unknown key "mount" \(allowed: preopen\)/],
    ['preopen', /expected preopen=GUEST\[:HOST\]/],
    ['preopen=data', /data is not an absolute path/],
    ['preopen=/data:data', /data is not an absolute path/],
    ['preopen=', /a path is empty/],
    ['preopen=/a:/b:/c', /expected preopen=GUEST\[:HOST\]/],
    ['preopen=/a:/b,preopen=/a/:/c', /\/a is preopened twice/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseWasmRuntimeArgs(args), (err: unknown) => isInclavareError(err, PAL_ERR_ARGS) && message.test(err.message), args);
  }
});

test('PalLifecycle allows init once (retry after a failure), and destroy from any state', () => {
  const l = new PalLifecycle('x');
  assert.throws(() => l.requireInitialized('exec'), (e: unknown) => isInclavareError(e, PAL_ERR_STATE) && /init\(\) has not succeeded/.test(e.message));
  l.beginInit();
  l.endInit(false);
  assert.equal(l.state, 'loaded');
  l.beginInit();
  l.endInit(true);
  l.requireInitialized('exec');
  assert.throws(() => l.beginInit(), (e: unknown) => isInclavareError(e, PAL_ERR_STATE));
  assert.equal(l.markDestroyed(), 'initialized');
  assert.equal(l.markDestroyed(), 'destroyed');
  assert.throws(() => l.requireInitialized('kill'), /Cannot call kill\(\) on enclave runtime x: it was destroyed/);
});

test('signals: terminating ones end a process, SIGCHLD/SIGCONT/SIGURG/SIGWINCH and stop signals are ignored', () => {
  assert.equal(defaultDisposition(15), 'terminate');
  assert.equal(defaultDisposition(9), 'terminate');
  assert.equal(defaultDisposition(34), 'terminate');
  for (const sig of [17, 18, 19, 20, 21, 22, 23, 28]) assert.equal(defaultDisposition(sig), 'ignore', String(sig));
  assert.equal(isValidSignal(0), true);
  assert.equal(isValidSignal(64), true);
  assert.equal(isValidSignal(65), false);
  assert.equal(isValidSignal(1.5), false);
});

test('envRecord() turns KEY=value strings into an object (value may contain =)', () => {
  assert.deepEqual(envRecord(['A=1', 'B=x=y', 'C', 'A=2']), { A: '2', B: 'x=y', C: '' });
});

test('loadEnclaveRuntime() knows sim and wasm, takes absolute paths as native PALs, and rejects anything else', async () => {
  assert.equal((await loadEnclaveRuntime('sim')).name, 'sim');
  assert.equal((await loadEnclaveRuntime('wasm')).name, 'wasm');
  assert.equal(isEnclaveRuntimeName('sim'), true);
  assert.equal(isEnclaveRuntimeName('/usr/lib/libocclum-pal.so'), true);
  assert.equal(isEnclaveRuntimeName('occlum'), false);
  await rejectsWith(loadEnclaveRuntime('occlum'), PAL_ERR_LOAD, 'Cannot load enclave runtime "occlum": expected sim, wasm or the absolute path of a PAL library (liberpal-*.so)');
});
