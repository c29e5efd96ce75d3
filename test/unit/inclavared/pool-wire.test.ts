/** The launcher ↔ worker wire of the enclave pool, and the pool's flag parsers (docs/enclave-pool.md). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFrame, encodeRequest, parseFrames, parseRequest, runArgv } from '../../../src/inclavared/pool/wire.ts';
import { parseMemory, parsePoolSizes } from '../../../src/inclavared/pool/manager.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';

const noNul = fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0'));

test('parseRequest() reads back what encodeRequest() wrote, also when it arrives in pieces', () => {
  fc.assert(
    fc.property(noNul.map((s) => `/${s}`), fc.array(noNul, { maxLength: 8 }), fc.array(noNul, { maxLength: 8 }), fc.nat(64), (cwd, argv, env, cut) => {
      const bytes = encodeRequest({ cwd, argv, env });
      const at = Math.min(cut, bytes.length - 1);
      assert.equal(parseRequest(bytes.subarray(0, at)), undefined);
      const parsed = parseRequest(bytes)!;
      assert.deepEqual(parsed.request, { cwd, argv, env });
      assert.equal(parsed.used, bytes.length);
    }),
  );
});

test('parseRequest() gives a request, undefined or a typed error for any bytes, never a crash', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try {
        parseRequest(Buffer.from(bytes));
      } catch (err) {
        assert.ok(isInclavareError(err), String(err));
        assert.equal((err as { code: string }).code, 'INCLAVARED_ERR_BAD_REQUEST');
      }
    }),
    { numRuns: 2000 },
  );
});

test('parseRequest() refuses a relative cwd, a bad count, trailing fields and an oversized length', () => {
  const body = (fields: string[]): Buffer => {
    const b = Buffer.from(fields.map((f) => `${f}\0`).join(''));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(b.length);
    return Buffer.concat([head, b]);
  };
  const code = (bytes: Buffer): string | undefined => {
    try {
      parseRequest(bytes);
      return undefined;
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  assert.equal(code(body(['RUNEPOOL1', 'relative', '0', '0'])), 'INCLAVARED_ERR_BAD_REQUEST');
  assert.equal(code(body(['RUNEPOOL1', '/', '-1', '0'])), 'INCLAVARED_ERR_BAD_REQUEST');
  assert.equal(code(body(['RUNEPOOL1', '/', '0', '0', 'extra'])), 'INCLAVARED_ERR_BAD_REQUEST');
  assert.equal(code(body(['OTHER', '/', '0', '0'])), 'INCLAVARED_ERR_BAD_REQUEST');
  assert.equal(code(Buffer.from([0xff, 0xff, 0xff, 0xff])), 'INCLAVARED_ERR_BAD_REQUEST');
});

test('parseFrames() splits frames at any cut and keeps the incomplete tail', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'o', 'e', 'r', 'x', 's' as const), fc.uint8Array({ maxLength: 50 })), { maxLength: 6 }), fc.nat(400), (frames, cut) => {
      const bytes = Buffer.concat(frames.map(([t, p]) => encodeFrame(t, p)));
      const at = Math.min(cut, bytes.length);
      const first = parseFrames(bytes.subarray(0, at));
      const rest = parseFrames(bytes.subarray(first.used));
      const all = [...first.frames, ...rest.frames];
      assert.deepEqual(all.map((f) => [f.type, [...f.payload]]), frames.map(([t, p]) => [t, [...p]]));
    }),
  );
  assert.deepEqual(runArgv(Buffer.from('/usr/bin/runc\0create\0id\0')), ['/usr/bin/runc', 'create', 'id']);
  assert.throws(() => parseFrames(Buffer.from('z\0\0\0\0')), /unknown frame type/);
});

test('--pool and --pool-memory: off, KEY=N lists, sizes with units; anything else is a clear error', () => {
  assert.deepEqual(parsePoolSizes('off'), {});
  assert.deepEqual(parsePoolSizes('sim=2,wasm=0'), { sim: 2, wasm: 0 });
  assert.throws(() => parsePoolSizes('sim'), /KEY=N pairs/);
  assert.throws(() => parsePoolSizes('sim=99'), /from 0 to 16/);
  assert.throws(() => parsePoolSizes('SIM=1'), /lowercase/);
  assert.equal(parseMemory('256'), 256 * 1024 * 1024);
  assert.equal(parseMemory('1G'), 1024 * 1024 * 1024);
  assert.throws(() => parseMemory('0'), /pool-memory/);
  assert.throws(() => parseMemory('lots'), /pool-memory/);
});
