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

  void it('refuses a request over 4096 bytes once, skips the rest of it, and resumes at the next one', () => {
    const r = new FrameReader();
    const big = `{"command":"echo","data":"${'x'.repeat(MAX_FRAME_BYTES)}"}`;
    const first = r.push(b(big.slice(0, 3000)));
    assert.deepEqual(first, []);
    assert.deepEqual(kinds(r.push(b(big.slice(3000, 4500)))), ['VERDICTD_ERR_FRAME_TOO_LARGE']);
    assert.deepEqual(kinds(r.push(b(`${big.slice(4500)}{"command":"version"}`))), ['{"command":"version"}']);
  });

  void it('makes the rest of a read that is no JSON object one malformed request', () => {
    const r = new FrameReader();
    assert.deepEqual(kinds(r.push(b('{"command":"version"}hello {"command":"version"}'))), ['{"command":"version"}', 'VERDICTD_ERR_MALFORMED_REQUEST']);
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
