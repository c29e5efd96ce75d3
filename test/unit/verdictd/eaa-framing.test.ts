// EAA framing (src/verdictd/eaa/framing.ts): requests split over reads, two in one read, oversized and
// garbage input, and a property: any bytes give requests or typed errors, never a throw.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { FrameReader, MAX_FRAME_BYTES, type FrameEvent } from '../../../src/verdictd/eaa/framing.ts';

const b = (s: string) => Buffer.from(s);
const kinds = (events: FrameEvent[]) => events.map((e) => (e.kind === 'request' ? e.text : e.error.code));

void describe('FrameReader', () => {
  void it('takes one read holding one object as one request (the original protocol)', () => {
    assert.deepEqual(kinds(new FrameReader().push(b('{"command":"version"}'))), ['{"command":"version"}']);
  });

  void it('joins a request split across reads, braces inside strings included', () => {
    const r = new FrameReader();
    assert.deepEqual(r.push(b('{"command":"echo","data":"} {')), []);
    assert.equal(r.pending, true);
    assert.deepEqual(kinds(r.push(b('\\" }"}'))), ['{"command":"echo","data":"} {\\" }"}']);
    assert.equal(r.pending, false);
  });

  void it('answers two requests in one read in order, whitespace between them skipped', () => {
    assert.deepEqual(kinds(new FrameReader().push(b('{"command":"version"}\n {"command":"Get KEK","kids":["a"]}'))), ['{"command":"version"}', '{"command":"Get KEK","kids":["a"]}']);
  });

  void it('refuses a request over 4096 bytes once, skips its tail, and answers the next request of that read', () => {
    const big = `{"command":"echo","data":"${'x'.repeat(MAX_FRAME_BYTES)}"}`;
    assert.deepEqual(kinds(new FrameReader().push(b(`${big}{"command":"version"}`))), ['VERDICTD_ERR_FRAME_TOO_LARGE', '{"command":"version"}']);
  });

  void it('gives up on an object still open after 4096 bytes and resumes at the next "{"', () => {
    const r = new FrameReader();
    const big = `{"command":"echo","data":"${'x'.repeat(MAX_FRAME_BYTES)}`;
    assert.deepEqual(r.push(b(big.slice(0, 3000))), []);
    assert.deepEqual(kinds(r.push(b(`${big.slice(3000)}{"command":"version"}`))), ['VERDICTD_ERR_FRAME_TOO_LARGE', '{"command":"version"}']);
    assert.equal(r.pending, false);
    // An unbalanced quote cannot swallow the requests after it for longer than that.
    assert.deepEqual(kinds(r.push(b('{"command":"version"}'))), ['{"command":"version"}']);
  });

  void it('answers bytes that cannot start a request with one error per run and resumes at the next "{"', () => {
    const r = new FrameReader();
    assert.deepEqual(kinds(r.push(b('{"command":"version"}hello world {"command":"version"}'))), ['{"command":"version"}', 'VERDICTD_ERR_MALFORMED_REQUEST', '{"command":"version"}']);
    assert.deepEqual(kinds(r.push(b('hello'))), ['VERDICTD_ERR_MALFORMED_REQUEST']);
    assert.deepEqual(kinds(r.push(b('{"command":"version"}'))), ['{"command":"version"}']);
  });

  void it('abandons an object that never ends with a malformed-request error', () => {
    const r = new FrameReader();
    r.push(b('{"command":"Get KEK","kids":['));
    const e = r.abandon('timeout');
    assert.ok(e?.kind === 'error' && e.error.code === 'VERDICTD_ERR_MALFORMED_REQUEST');
    assert.equal(r.pending, false);
  });

  void it('gives requests of at most 4096 bytes or typed errors for any bytes, never a throw', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.string({ maxLength: 300 }).map((s) => b(s)), fc.constant(b('{')), fc.constant(b('}')), fc.constant(b('"'))), { maxLength: 30 }), (chunks) => {
        const r = new FrameReader();
        for (const c of chunks) {
          for (const e of r.push(c)) {
            if (e.kind === 'request') assert.ok(e.text.length <= MAX_FRAME_BYTES && e.text.startsWith('{'));
            else assert.ok(isInclavareError(e.error));
          }
        }
        r.abandon('end');
        assert.equal(r.pending, false);
      }),
      { numRuns: 500 },
    );
  });
});
