/** rune's minimal HTTP client for inclavared: strict response parsing, never anything but typed errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseResponse, unixRequest } from '../../../src/attestation-socket/wire.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

test('parseResponse() reads Content-Length, chunked and close-delimited bodies', () => {
  assert.deepEqual(parseResponse(b('HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}')), { status: 201, text: '{}' });
  assert.deepEqual(parseResponse(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n3;x=y\r\n":1\r\n1\r\n}\r\n0\r\n\r\n')), { status: 200, text: '{"a":1}' });
  assert.deepEqual(parseResponse(b('HTTP/1.0 404\r\n\r\nmissing')), { status: 404, text: 'missing' });
});

test('parseResponse() rejects malformed answers with INCLAVARED_ERR_UNAVAILABLE', () => {
  for (const raw of ['', 'HTTP/1.1 200 OK\r\n', 'SPDY/3 200\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort', 'HTTP/1.1 200 OK\r\nbad header\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab']) {
    assert.throws(() => parseResponse(b(raw)), (e) => isInclavareError(e, 'INCLAVARED_ERR_UNAVAILABLE'), JSON.stringify(raw));
  }
});

test('parseResponse() gives a value or a typed error on any bytes (property)', () => {
  const prefix = fc.constantFrom('', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
  fc.assert(
    fc.property(prefix, fc.uint8Array({ maxLength: 200 }), (p, rest) => {
      try {
        const r = parseResponse(Buffer.concat([b(p), Buffer.from(rest)]));
        assert.ok(r.status >= 100 && r.status <= 999);
      } catch (e) {
        assert.ok(isInclavareError(e), String(e));
      }
    }),
    { numRuns: 2000 },
  );
});

/**
 * A listener whose accept queue is full answers connect() with EAGAIN (the daemon is there, busy). The server
 * here is Python: it listens with a queue of one and accepts nothing for 400 ms, then answers every call.
 */
test('unixRequest() waits and connects again when the accept queue is full (EAGAIN), instead of failing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rune-wire-'));
  const path = join(dir, 's.sock');
  const server = spawn('python3', ['-c', `
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(0)
print('ready', flush=True)
time.sleep(0.4)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n{}')
    c.close()
`, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await once(server.stdout!, 'data');
    const calls = Array.from({ length: 8 }, () => unixRequest(path, { method: 'GET', path: '/', timeoutMs: 10_000, maxBytes: 1024 }));
    const answers = await Promise.all(calls);
    assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200));
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
