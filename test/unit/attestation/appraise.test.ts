/** appraiseClaims(): expected claims checked by one pure function, each failure named. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appraiseClaims, type ClaimExpectations } from '../../../src/attestation/appraise.ts';
import type { Claims } from '../../../src/attestation/claims.ts';

const claims: Claims = {
  tee: 'sgx',
  evidenceVersion: 3,
  measurements: { mrenclave: 'ab'.repeat(32), mrsigner: 'cd'.repeat(32) },
  productId: 1,
  svn: 2,
  debug: false,
  reportData: '00'.repeat(64),
  tcbStatus: 'UpToDate',
  advisoryIds: [],
  platform: { fmspc: '00606a000000' },
  validFrom: '2025-01-01T00:00:00.000Z',
  validUntil: '2025-02-01T00:00:00.000Z',
  extra: {},
};

const cases: { name: string; expected: ClaimExpectations; failed: string[] }[] = [
  { name: 'no expectations hold trivially', expected: {}, failed: [] },
  { name: 'equal scalars and hex in another case hold', expected: { tee: 'sgx', debug: false, productId: 1, svn: 2, measurements: { mrenclave: 'AB'.repeat(32) }, platform: { fmspc: '00606A000000' } }, failed: [] },
  { name: 'a different TEE fails `tee`', expected: { tee: 'tdx' }, failed: ['tee'] },
  { name: 'debug expected but not claimed fails `debug`', expected: { debug: true }, failed: ['debug'] },
  { name: 'every failure is listed, scalars first', expected: { measurements: { mrsigner: '00' }, svn: 3, tee: 'snp' }, failed: ['tee', 'svn', 'measurements.mrsigner'] },
  { name: 'a measurement the evidence lacks fails (fail closed)', expected: { measurements: { mrtd: 'ab' } }, failed: ['measurements.mrtd'] },
  { name: 'an undefined expectation expects nothing', expected: { measurements: { mrenclave: undefined }, svn: undefined }, failed: [] },
  { name: 'a name inherited from Object.prototype is absent, not a crash', expected: { platform: { constructor: 'x' } as never }, failed: ['platform.constructor'] },
];

for (const c of cases) {
  test(`appraiseClaims(): ${c.name}`, () => {
    assert.deepEqual(appraiseClaims(claims, c.expected).map((f) => f.name), c.failed);
  });
}

test('appraiseClaims() says what was expected and what was claimed', () => {
  assert.deepEqual(appraiseClaims(claims, { svn: 3, measurements: { mrtd: 'AA' } }), [
    { name: 'svn', expected: 3, actual: 2, message: 'svn is 2, expected 3' },
    { name: 'measurements.mrtd', expected: 'aa', actual: undefined, message: 'measurements.mrtd is absent, expected aa' },
  ]);
});
