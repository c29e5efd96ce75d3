// The spare daemon's handoff request (src/shim/spare.ts): a valid request parses; random bytes, mutations of a
// valid one, and requests over the limit get SHIM_ERR_SPARE_REQUEST, never another exception; the reader is
// bounded in size and time over a real socket pair; the config key `spare`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { InclavareError } from '../../../src/errors/errors.ts';
import { parseConfig } from '../../../src/shim/config.ts';
import { shimSocketPath } from '../../../src/shim/manager.ts';
import { MAX_HANDOFF, SPARE_MAGIC, isSparePath, parseHandoff, readHandoff } from '../../../src/shim/spare.ts';

const ADDRESS = '/run/containerd/containerd.sock';

function body(fields: readonly string[]): Buffer {
  return Buffer.from(fields.map((f) => `${f}\0`).join(''));
}

function valid(env: readonly string[] = ['TTRPC_ADDRESS=/run/containerd/containerd.sock.ttrpc', 'PATH=/usr/bin:/bin', 'EMPTY=']): string[] {
  return [SPARE_MAGIC, shimSocketPath(ADDRESS, 'default', 'pod-1'), 'default', 'pod-1', ADDRESS, '/usr/bin/containerd', '0', '0a0b', '/run/containerd/io.containerd.runtime.v2.task/default/pod-1', ...env];
}

function isSpareError(e: unknown): boolean {
  return e instanceof InclavareError && e.code === 'SHIM_ERR_SPARE_REQUEST';
}

void describe('spare handoff request', () => {
  test('a valid request parses into flags, socket, options, bundle and environment', () => {
    const h = parseHandoff(body(valid()));
    assert.equal(h.flags.namespace, 'default');
    assert.equal(h.flags.id, 'pod-1');
    assert.equal(h.flags.address, ADDRESS);
    assert.equal(h.flags.publishBinary, '/usr/bin/containerd');
    assert.equal(h.flags.debug, false);
    assert.equal(h.optionsHex, '0a0b');
    assert.equal(h.socket, shimSocketPath(ADDRESS, 'default', 'pod-1'));
    assert.deepEqual({ ...h.env }, { TTRPC_ADDRESS: '/run/containerd/containerd.sock.ttrpc', PATH: '/usr/bin:/bin', EMPTY: '' });
  });

  test('each bad field is refused with a message naming it', () => {
    const cases: [number, string, RegExp][] = [
      [0, 'rune-spare-0', /does not start with/],
      [1, '/run/containerd/s/' + 'a'.repeat(64), /not the one containerd names/],
      [1, '/tmp/evil', /not the one containerd names/],
      [2, '../x', /invalid namespace/],
      [3, '', /invalid id/],
      [4, 'relative.sock', /clean absolute path/],
      [4, '/run/../run/containerd.sock', /clean absolute path/],
      [6, 'yes', /debug must be 0 or 1/],
      [7, 'zz', /not hex/],
      [7, 'abc', /not hex/],
      [8, 'bundle', /absolute path/],
      [9, 'NOEQUALS', /NAME=value/],
      [9, '=value', /NAME=value/],
    ];
    for (const [i, value, re] of cases) {
      const f = valid();
      f[i] = value;
      assert.throws(() => parseHandoff(body(f)), (e: unknown) => isSpareError(e) && re.test((e as Error).message), `field ${i} = ${JSON.stringify(value)}`);
    }
    assert.throws(() => parseHandoff(body(valid()).subarray(0, -1)), /NUL-terminated/);
    assert.throws(() => parseHandoff(body(valid().slice(0, 8))), /at least 9/);
    assert.throws(() => parseHandoff(Buffer.concat([body(valid()), Buffer.from([0xff, 0])])), /not UTF-8/);
    assert.throws(() => parseHandoff(Buffer.alloc(MAX_HANDOFF + 1)), /over the/);
  });

  test('random bytes and mutations of a valid request: a clean error or a valid parse, never a crash', () => {
    const good = body(valid());
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          parseHandoff(bytes);
        } catch (e) {
          assert.ok(isSpareError(e), String(e));
        }
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
        const b = Buffer.from(good);
        for (const [i, v] of edits) b[i] = v;
        try {
          const h = parseHandoff(b);
          // Whatever parses is still consistent: the socket is containerd's name for its fields.
          assert.equal(h.socket, shimSocketPath(h.flags.address, h.flags.namespace, h.flags.id));
          assert.ok(path.isAbsolute(h.bundle));
        } catch (e) {
          assert.ok(isSpareError(e), String(e));
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('control socket names: only /run/containerd-shim-rune/spare-<sha256>.sock', () => {
    assert.ok(isSparePath(`/run/containerd-shim-rune/spare-${'0'.repeat(64)}.sock`));
    for (const p of [undefined, '', '/tmp/spare.sock', `/run/containerd-shim-rune/spare-${'0'.repeat(63)}.sock`, `/run/containerd-shim-rune/../spare-${'0'.repeat(64)}.sock`]) assert.equal(isSparePath(p), false, String(p));
  });

  test('the reader: a request in pieces, an announced length over the limit, trailing bytes, a timeout', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shim-spare-'));
    const sock = path.join(dir, 's');
    const server = createServer();
    const accepted: Socket[] = [];
    server.on('connection', (c) => accepted.push(c));
    await new Promise<void>((r) => server.listen(sock, r));
    const exchange = async (send: (c: Socket) => void, timeoutMs = 500): Promise<unknown> => {
      const n = accepted.length;
      const c = connect(sock);
      c.on('error', () => undefined);
      await new Promise((r) => c.once('connect', r));
      while (accepted.length === n) await new Promise((r) => setTimeout(r, 5));
      const got = readHandoff(accepted[n]!, timeoutMs).then((h) => h, (e: unknown) => e);
      send(c);
      const result = await got;
      c.destroy();
      return result;
    };
    try {
      const b = body(valid());
      const framed = Buffer.concat([Buffer.from([0, 0, 0, 0]), b]);
      framed.writeUInt32BE(b.length, 0);
      const ok = await exchange((c) => {
        c.write(framed.subarray(0, 3));
        setTimeout(() => c.write(framed.subarray(3, 50)), 10);
        setTimeout(() => c.write(framed.subarray(50)), 20);
      });
      assert.equal((ok as { flags: { id: string } }).flags.id, 'pod-1');
      const big = await exchange((c) => c.write(Buffer.from([0x7f, 0xff, 0xff, 0xff])));
      assert.ok(isSpareError(big) && /over the/.test((big as Error).message));
      const trailing = await exchange((c) => c.write(Buffer.concat([framed, Buffer.from('x')])));
      assert.ok(isSpareError(trailing) && /after the request/.test((trailing as Error).message));
      const slow = await exchange((c) => c.write(framed.subarray(0, 10)), 200);
      assert.ok(isSpareError(slow) && /within 200 ms/.test((slow as Error).message));
      const ended = await exchange((c) => c.end(framed.subarray(0, 10)));
      assert.ok(isSpareError(ended) && /ended before/.test((ended as Error).message));
    } finally {
      for (const c of accepted) c.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the config key spare: true by default, false turns it off, anything else is an error', () => {
    assert.equal(parseConfig('', '/c.toml', '/d').spare, true);
    assert.equal(parseConfig('spare = false\n', '/c.toml', '/d').spare, false);
    assert.throws(() => parseConfig('spare = "no"\n', '/c.toml', '/d'), /spare must be true or false/);
  });
});
