/** configfs-tsm reports against a fake configfs that behaves as the kernel's (test/unit/inclavared/support.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { INCLAVARED_ERROR_CODES } from '../../../src/attestation-socket/codes.ts';
import { produceEvidence, tsmReportData } from '../../../src/inclavared/evidence.ts';
import { requestTsmReport } from '../../../src/attestation-socket/tsm.ts';
import { FAKE_QUOTE_MARKER, FakeConfigfs } from '../inclavared/support.ts';

const ROOT = '/sys/kernel/config/tsm/report';

test('requestTsmReport() writes inblob, reads outblob and removes its report directory', async () => {
  const fs = new FakeConfigfs(ROOT);
  const inblob = randomBytes(64);
  const report = await requestTsmReport(inblob, { tsmPath: ROOT, tee: 'tdx', fs });
  assert.equal(report.provider, 'tdx_guest');
  assert.deepEqual(Buffer.from(report.outblob), Buffer.concat([FAKE_QUOTE_MARKER, inblob]));
  assert.equal(fs.created.length, 1);
  assert.equal(fs.reports.size, 0, 'the report directory is removed');
});

test('requestTsmReport() uses a new directory name for every report', async () => {
  const fs = new FakeConfigfs(ROOT, 'sev_guest');
  await Promise.all([1, 2, 3].map(() => requestTsmReport(randomBytes(64), { tsmPath: ROOT, tee: 'snp', fs })));
  assert.equal(new Set(fs.created).size, 3);
});

test('requestTsmReport() tries again when another writer bumped the generation, and gives up after 3 races', async () => {
  const fs = new FakeConfigfs(ROOT);
  fs.interfere = 2;
  const inblob = randomBytes(64);
  const report = await requestTsmReport(inblob, { tsmPath: ROOT, tee: 'tdx', fs });
  assert.deepEqual(Buffer.from(report.outblob).subarray(FAKE_QUOTE_MARKER.length), inblob);
  assert.equal(fs.created.length, 3);
  assert.equal(fs.reports.size, 0);

  fs.interfere = 3;
  await assert.rejects(requestTsmReport(inblob, { tsmPath: ROOT, tee: 'tdx', fs }), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.TSM) && /3 times/.test(err.message));
  assert.equal(fs.reports.size, 0);
});

test('requestTsmReport() refuses a node whose provider is another TEE (412) and removes the directory', async () => {
  const fs = new FakeConfigfs(ROOT, 'sev_guest');
  await assert.rejects(
    requestTsmReport(randomBytes(64), { tsmPath: ROOT, tee: 'tdx', fs }),
    (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.TSM_PROVIDER) && err.mapping.httpStatus === 412 && /sev_guest/.test(err.message),
  );
  assert.equal(fs.reports.size, 0);
});

test('requestTsmReport() reports a missing configfs-tsm as unavailable (503)', async () => {
  const fs = new FakeConfigfs('/elsewhere');
  await assert.rejects(
    requestTsmReport(randomBytes(64), { tsmPath: ROOT, tee: 'snp', fs }),
    (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.TSM) && err.mapping.httpStatus === 503 && /configfs-tsm/.test(err.message),
  );
});

test('produceEvidence() for a tdx container binds SHA-512(measurement ‖ report data padded to 64) into the report', async () => {
  const fs = new FakeConfigfs(ROOT);
  const measurement = randomBytes(48);
  const reportData = Buffer.from('nonce-123');
  const produced = await produceEvidence({ id: 'c', tee: 'tdx', measurement }, reportData, {
    platformKey: undefined as never, clock: () => new Date(), tsmPath: ROOT, tsmFs: fs,
  });
  assert.equal(produced.format, 'tdx');
  const padded = Buffer.concat([reportData, Buffer.alloc(64 - reportData.length)]);
  const expected = createHash('sha512').update(measurement).update(padded).digest();
  assert.deepEqual(Buffer.from(tsmReportData(measurement, reportData)), expected);
  assert.deepEqual(Buffer.from(produced.evidence).subarray(FAKE_QUOTE_MARKER.length), expected);
});
