// The shim's parsers of untrusted bytes: ttrpc frames (FrameReader), ttrpc requests on a live server, the
// runtime options Any, the TOML config; and the hand-encoded DeleteResponse against the declared message.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { parseConfig } from '../../../src/shim/config.ts';
import { decodeRuntimeOptions, encodeDeleteResponse } from '../../../src/shim/options.ts';
import { FRAME_REQUEST, FrameReader, HEADER_LENGTH, MAX_PAYLOAD, encodeFrame, type Frame } from '../../../src/shim/ttrpc/framing.ts';
import { TtrpcClient, TtrpcStatusError } from '../../../src/shim/ttrpc/client.ts';
import { decodeMessage, encodeMessage } from '../../../src/shim/ttrpc/messages.ts';
import { serveTtrpc } from '../../../src/shim/ttrpc/server.ts';

/** Splits bytes at the given cut points. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

const frameArb = fc.record({
  streamId: fc.integer({ min: 0, max: 0xffffffff }),
  type: fc.integer({ min: 0, max: 255 }),
  flags: fc.integer({ min: 0, max: 255 }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

void describe('ttrpc framing', () => {
  test('FrameReader gives back every frame, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.streamId, f.type, f.payload, f.flags)));
        const reader = new FrameReader();
        const got: Frame[] = [];
        for (const chunk of split(bytes, cuts)) for (const ev of reader.push(chunk)) if (ev.kind === 'frame') got.push(ev.frame);
        assert.equal(got.length, frames.length);
        got.forEach((g, i) => {
          assert.equal(g.streamId, frames[i]!.streamId);
          assert.equal(g.type, frames[i]!.type);
          assert.equal(g.flags, frames[i]!.flags);
          assert.deepEqual(new Uint8Array(g.payload), frames[i]!.payload);
        });
        assert.equal(reader.buffered, 0);
      }),
      { numRuns: 2000 },
    );
  });

  test('FrameReader never throws on random bytes and holds at most one header plus the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const reader = new FrameReader(100);
        for (const c of chunks) {
          for (const ev of reader.push(c)) {
            if (ev.kind === 'frame') assert.ok(ev.frame.payload.length <= 100);
            else assert.ok(ev.length > 100);
          }
          assert.ok(reader.buffered < HEADER_LENGTH + 100 + 64);
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('an oversize frame is reported once, its bytes skipped across chunks, and the next frame still parses', () => {
    const head = Buffer.alloc(HEADER_LENGTH);
    head.writeUInt32BE(MAX_PAYLOAD + 5, 0);
    head.writeUInt32BE(7, 4);
    head.writeUInt8(FRAME_REQUEST, 8);
    const reader = new FrameReader();
    const evs = [...reader.push(head), ...reader.push(Buffer.alloc(MAX_PAYLOAD)), ...reader.push(Buffer.concat([Buffer.alloc(5), encodeFrame(9, 1, Buffer.from('ok'))]))];
    assert.deepEqual(evs.map((e) => e.kind), ['oversize', 'frame']);
    assert.equal(evs[0]!.kind === 'oversize' && evs[0]!.streamId, 7);
    assert.equal(evs[1]!.kind === 'frame' && Buffer.from(evs[1]!.frame.payload).toString(), 'ok');
  });

  test('encodeFrame refuses a payload beyond 4 MiB', () => {
    assert.throws(() => encodeFrame(1, 1, new Uint8Array(MAX_PAYLOAD + 1)), RangeError);
  });
});

void describe('a ttrpc server under bad input', () => {
  const withServer = async (fn: (sock: string) => Promise<void>): Promise<void> => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shim-ttrpc-'));
    const sock = path.join(dir, 's');
    const server: Server = createServer();
    serveTtrpc(server, new Map([['test.Echo/Echo', (p: Uint8Array) => Promise.resolve(p)]]));
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      await fn(sock);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test('answers UNIMPLEMENTED (12) for an unknown method and echoes a known one', async () => {
    await withServer(async (sock) => {
      const c = new TtrpcClient(sock);
      assert.deepEqual(Buffer.from(await c.call('test.Echo', 'Echo', Buffer.from('hi'))).toString(), 'hi');
      await assert.rejects(c.call('test.Echo', 'Nope', new Uint8Array()), (e: unknown) => e instanceof TtrpcStatusError && e.status === 12);
      c.close();
    });
  });

  test('a request frame that is no Request gets INVALID_ARGUMENT (3); an oversize one RESOURCE_EXHAUSTED (8); the connection still serves', async () => {
    await withServer(async (sock) => {
      const c = new TtrpcClient(sock);
      await c.ready();
      const answers: { id: number; code: number }[] = [];
      const reader = new FrameReader();
      const raw = (await import('node:net')).connect(sock);
      raw.on('data', (d: Buffer) => {
        for (const ev of reader.push(d)) {
          if (ev.kind !== 'frame') continue;
          const res = decodeMessage<{ status?: { code: number } }>('Response', ev.frame.payload);
          answers.push({ id: ev.frame.streamId, code: res.status?.code ?? 0 });
        }
      });
      await new Promise((r) => raw.once('connect', r));
      raw.write(encodeFrame(1, FRAME_REQUEST, Buffer.from([0xff, 0xff, 0xff])));
      const big = Buffer.alloc(HEADER_LENGTH);
      big.writeUInt32BE(MAX_PAYLOAD + 1, 0);
      big.writeUInt32BE(3, 4);
      big.writeUInt8(FRAME_REQUEST, 8);
      raw.write(big);
      raw.write(Buffer.alloc(MAX_PAYLOAD + 1));
      raw.write(encodeFrame(5, FRAME_REQUEST, encodeMessage('Request', { service: 'test.Echo', method: 'Echo', payload: Buffer.from('after') })));
      const deadline = Date.now() + 10_000;
      while (answers.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(answers, [{ id: 1, code: 3 }, { id: 3, code: 8 }, { id: 5, code: 0 }]);
      raw.destroy();
      c.close();
    });
  });

  test('fuzz: random frames and bytes never stop the server from answering the next good call', async () => {
    await withServer(async (sock) => {
      const { connect } = await import('node:net');
      const samples = fc.sample(fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        frameArb.map((f) => new Uint8Array(encodeFrame(f.streamId, f.type, f.payload, f.flags))),
        fc.record({ service: fc.string(), method: fc.string(), payload: fc.uint8Array({ maxLength: 50 }) }).map((r) => new Uint8Array(encodeFrame(1, FRAME_REQUEST, encodeMessage('Request', r)))),
      ), 300);
      for (const bytes of samples) {
        const s = connect(sock);
        s.on('error', () => undefined);
        s.on('data', () => undefined);
        await new Promise((r) => s.once('connect', r));
        s.write(bytes);
        s.destroy();
      }
      const c = new TtrpcClient(sock);
      assert.equal(Buffer.from(await c.call('test.Echo', 'Echo', Buffer.from('alive'))).toString(), 'alive');
      c.close();
    });
  });
});

void describe('runtime options and config', () => {
  const anyOfOptions = (configPath: string, typeUrl = 'runtimeoptions.v1.Options'): Uint8Array =>
    encodeMessage('Any', { typeUrl, value: encodeMessage('RuntimeOptions', { typeUrl: 'rune.v1.Options', configPath }) });

  test('empty stdin is the defaults; CRI\'s runtimeoptions.v1.Options gives the config path', () => {
    assert.deepEqual(decodeRuntimeOptions(new Uint8Array()), { configPath: '' });
    assert.deepEqual(decodeRuntimeOptions(anyOfOptions('/etc/x.toml')), { configPath: '/etc/x.toml' });
  });

  test('runc\'s options are refused with a message that says what to configure', () => {
    assert.throws(() => decodeRuntimeOptions(anyOfOptions('', 'containerd.runc.v1.Options')), (e: unknown) => isInclavareError(e, 'SHIM_ERR_BAD_OPTIONS') && /ConfigPath/.test(e.message));
  });

  test('fuzz: any bytes give options or SHIM_ERR_BAD_OPTIONS, never another error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        try {
          decodeRuntimeOptions(bytes);
        } catch (e) {
          assert.ok(isInclavareError(e, 'SHIM_ERR_BAD_OPTIONS'), String(e));
        }
      }),
      { numRuns: 10_000 },
    );
  });

  test('the hand-encoded DeleteResponse decodes as the declared message', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const d = decodeMessage<{ pid: number; exitStatus: number; exitedAt: { seconds: bigint; nanos: number } }>('DeleteResponse', encodeDeleteResponse(42, 137, at));
    assert.equal(d.pid, 42);
    assert.equal(d.exitStatus, 137);
    assert.equal(d.exitedAt.seconds, BigInt(Math.floor(at.getTime() / 1000)));
    assert.equal(d.exitedAt.nanos, 678_000_000);
  });

  test('config: the original\'s keys load (the ones for absent parts are ignored), the enclave defaults apply', () => {
    const c = parseConfig([
      'log_level = "debug"', 'sgx_tool_sign = "/opt/x"', '[containerd]', 'socket = "/run/containerd/containerd.sock"',
      '[epm]', 'socket = "/var/run/epm/epm.sock"', '[enclave_runtime]', 'signature_method = "server"', 'log_level = "info"',
      '[enclave_runtime.occlum]', 'enclave_runtime_path = "/opt/occlum/build/lib/libocclum-pal.so"', '[inclavared]', 'root = "/run/inclavared"', '',
    ].join('\n'), '/c.toml', '/opt/dist');
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.runtime, '/opt/dist/rune');
    assert.equal(c.inclavaredRoot, '/run/inclavared');
    assert.deepEqual(c.enclaveDefaults, { ENCLAVE_RUNTIME_LOGLEVEL: 'info' });
    assert.equal(c.ignored.length, 5);
  });

  test('config: an unknown key, a bad level or a relative root is an error naming it', () => {
    for (const [text, re] of [['rootz = "/x"', /unknown key rootz/], ['log_level = "loud"', /log_level must be one of/], ['root = "x"', /root must be an absolute path/], ['[nope]\na = 1', /unknown table \[nope\]/], ['= broken', /not valid TOML/]] as const) {
      assert.throws(() => parseConfig(text, '/c.toml', '/d'), (e: unknown) => isInclavareError(e, 'SHIM_ERR_BAD_CONFIG') && re.test(e.message), text);
    }
  });
});
