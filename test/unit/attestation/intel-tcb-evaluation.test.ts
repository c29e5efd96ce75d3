/**
 * TCB evaluation rules as pure functions (Intel QVL semantics): status convergence, platform level
 * selection (including the TDX rule that skips TEE_TCB_SVN bytes 0-1 when the module major version is set),
 * and the raw-member extraction that signature checks rely on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TcbStatus } from '../../../src/attestation/claims.ts';
import { convergeTcbStatus, matchPlatformTcbLevel } from '../../../src/attestation/intel/tcb-evaluation.ts';
import { extractJsonMember, type TcbInfo } from '../../../src/attestation/intel/collateral.ts';
import { INTEL_ERROR_CODES } from '../../../src/attestation/intel/codes.ts';

const CONVERGENCE: [TcbStatus, TcbStatus, TcbStatus][] = [
  ['UpToDate', 'UpToDate', 'UpToDate'],
  ['SWHardeningNeeded', 'UpToDate', 'SWHardeningNeeded'],
  ['UpToDate', 'OutOfDate', 'OutOfDate'],
  ['SWHardeningNeeded', 'OutOfDate', 'OutOfDate'],
  ['ConfigurationNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'],
  ['ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'],
  ['OutOfDate', 'OutOfDate', 'OutOfDate'],
  ['OutOfDateConfigurationNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'],
  ['UpToDate', 'Revoked', 'Revoked'],
  ['Revoked', 'UpToDate', 'Revoked'],
];

for (const [platform, component, result] of CONVERGENCE) {
  void test(`convergeTcbStatus() turns platform ${platform} with a ${component} component into ${result}`, () => {
    assert.equal(convergeTcbStatus(platform, component), result);
  });
}

function level(sgx: number, pce: number, tdx: number[], status: string) {
  return { sgxComponents: new Array(16).fill(sgx), pceSvn: pce, tdxComponents: [...tdx, ...new Array(16 - tdx.length).fill(0)], tcbStatus: status, advisoryIds: [] };
}
const info: TcbInfo = {
  id: 'TDX', version: 3, issueDate: new Date(0), nextUpdate: new Date(0), fmspc: '00', pceId: '0000', tcbType: 0,
  tcbLevels: [level(2, 13, [5, 0, 7], 'UpToDate'), level(1, 11, [3, 0, 6], 'OutOfDate')],
};

const LEVELS: [string, number[], number, number[], string | undefined][] = [
  ['meets the newest level', new Array(16).fill(2), 13, [5, 0, 7], 'UpToDate'],
  ['falls back to an older level when PCESVN is lower', new Array(16).fill(2), 12, [5, 0, 7], 'OutOfDate'],
  ['falls back when one SGX component is lower', [1, ...new Array(15).fill(2)], 13, [5, 0, 7], 'OutOfDate'],
  ['meets no level when everything is lower', new Array(16).fill(0), 13, [5, 0, 7], undefined],
  ['compares TEE_TCB_SVN bytes 0-1 when the module major version is 0', new Array(16).fill(2), 13, [4, 0, 7], 'OutOfDate'],
  ['skips TEE_TCB_SVN bytes 0-1 when the module major version is set', new Array(16).fill(2), 13, [1, 1, 7], 'UpToDate'],
];
for (const [what, sgx, pce, tee, expected] of LEVELS) {
  void test(`matchPlatformTcbLevel() ${what}`, () => {
    const teeTcbSvn = [...tee, ...new Array(16 - tee.length).fill(0)];
    assert.equal(matchPlatformTcbLevel(info, { sgxComponents: sgx, pceSvn: pce, teeTcbSvn })?.tcbStatus, expected);
  });
}

void test('extractJsonMember() returns the exact source bytes of a member, whitespace and key order included', () => {
  const text = '{ "tcbInfo" : {"b":1,  "a":"x}\\"{"} , "signature":"00"}';
  assert.equal(extractJsonMember(text, 'tcbInfo'), '{"b":1,  "a":"x}\\"{"}');
  assert.equal(extractJsonMember(text, 'signature'), '"00"');
  assert.equal(extractJsonMember(text, 'a'), undefined);
});

void test('extractJsonMember() refuses a document that repeats the member (what is signed must be what is parsed)', () => {
  assert.throws(() => extractJsonMember('{"tcbInfo":{"a":1},"tcbInfo":{"a":2}}', 'tcbInfo'));
});

void test('every code in INTEL_ERROR_CODES is a stable ATTEST_ERR_ code', () => {
  for (const code of Object.values(INTEL_ERROR_CODES)) assert.match(code, /^ATTEST_ERR_[A-Z_]+$/);
});
