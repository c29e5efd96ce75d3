/** rune's minimal HTTP client for inclavared: strict response parsing, never anything but typed errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseResponse } from '../../../src/attestation-socket/wire.ts';
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
