/** Pure parts of enclave-container conformance (issue #11, item 7): rlimit planning, id mapping, signal dispositions. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dispositionSet } from '../../../src/init/signals.ts';
import { hostId } from '../../../src/rune/enclave/lifecycle.ts';
import { ownHardLimits, planRlimits } from '../../../src/rune/enclave/rlimits.ts';

const own = new Map([['RLIMIT_NOFILE', 20000], ['RLIMIT_NPROC', 96365]]);
const plan = (rlimits: unknown, runtime = 'sim', nprocApplies = false) => planRlimits(rlimits, { runtime, nprocApplies, ownHard: own, canRaise: false });

describe('planRlimits()', () => {
  test('sim takes the limits off init-runelet and gives the workload exactly the config values', () => {
    const p = plan([{ type: 'RLIMIT_NOFILE', soft: 16, hard: 32 }, { type: 'RLIMIT_CORE', soft: 0, hard: 2 ** 64 - 1 }]);
    assert.equal(p.initRunelet, undefined);
    assert.deepEqual(p.workload, [{ resource: 7, soft: 16, hard: 32 }, { resource: 4, soft: 0, hard: Infinity }]);
  });
  test('wasm keeps the limits on init-runelet and refuses RLIMIT_NOFILE below 64, naming it', () => {
    assert.deepEqual(plan([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }], 'wasm').initRunelet, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }]);
    assert.throws(() => plan([{ type: 'RLIMIT_NOFILE', soft: 16, hard: 16 }], 'wasm'), /RLIMIT_NOFILE 16 with enclave runtime wasm/);
  });
  test('a low RLIMIT_NPROC is refused only for a user it binds', () => {
    assert.doesNotThrow(() => plan([{ type: 'RLIMIT_NPROC', soft: 8, hard: 8 }], 'sim', false));
    assert.throws(() => plan([{ type: 'RLIMIT_NPROC', soft: 8, hard: 8 }], 'sim', true), /RLIMIT_NPROC 8/);
  });
  test('limits runc could not set are refused as runc refuses them', () => {
    assert.throws(() => plan([{ type: 'RLIMIT_NOFILE', soft: 2, hard: 1 }]), /soft limit 2 is above the hard limit 1/);
    assert.throws(() => plan([{ type: 'RLIMIT_NOFILE', soft: 1, hard: 30000 }]), /above this runtime's own hard limit 20000/);
    assert.throws(() => plan([{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]), /unknown rlimit type/);
  });
  test('ownHardLimits() reads /proc/self/limits', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 20000                files     \nMax processes             unlimited            unlimited            processes \n';
    const limits = ownHardLimits(text);
    assert.equal(limits.get('RLIMIT_NOFILE'), 20000);
    assert.equal(limits.get('RLIMIT_NPROC'), 2 ** 64 - 1);
  });
});

describe('hostId()', () => {
  test('maps a container id through the user namespace mappings, and undefined when unmapped', () => {
    const maps = [{ containerID: 0, hostID: 100000, size: 1000 }, { containerID: 1000, hostID: 5000, size: 1 }];
    assert.equal(hostId(0, maps), 100000);
    assert.equal(hostId(999, maps), 100999);
    assert.equal(hostId(1000, maps), 5000);
    assert.equal(hostId(1001, maps), undefined);
    assert.equal(hostId(42, undefined), 42);
  });
});

describe('dispositionSet()', () => {
  test('reads the caught and ignored signal masks of /proc/PID/status', () => {
    const status = 'SigIgn:\t0000000000001000\nSigCgt:\t0000000000004002\n';
    assert.equal(dispositionSet(status, 'SigCgt', 15), true);
    assert.equal(dispositionSet(status, 'SigCgt', 2), true);
    assert.equal(dispositionSet(status, 'SigCgt', 1), false);
    assert.equal(dispositionSet(status, 'SigIgn', 13), true);
  });
});
