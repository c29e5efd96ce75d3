// verdictd policies (src/verdictd/policy/): the document format, the shipped policies against claims from
// real evidence (the shared vectors verified with the attestation library, and sim evidence), denials that
// name the rule and the claim values, and property tests: evaluation never throws and fails closed.
import { strict as assert } from 'node:assert';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Claims } from '../../../src/attestation/claims.ts';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { verifyEvidence } from '../../../src/attestation/verify-evidence.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { BUILTIN_POLICIES } from '../../../src/verdictd/policy/builtin.ts';
import { ABSENT, compilePolicy, describeFailures, evaluatePolicy, parsePolicy, type CompiledPolicy } from '../../../src/verdictd/policy/policy.ts';
import { parseReferenceSet, type ReferenceSet } from '../../../src/verdictd/policy/reference.ts';
import { loadIntelVectors } from '../../support/intel-vectors.ts';
import { loadSnpVectorFiles, snpInputs } from '../../support/snp-vectors.ts';

const intel = await loadIntelVectors();
const vector = (id: string) => intel.find((v) => v.id === id)!;
const sgxV = vector('sgx-v3-dcapqvl-00a067110000');
const tdxV = vector('tdx-v4-tinfoil-90c06f000000');
const snpV = loadSnpVectorFiles().find((v) => v.id === 'snp-v3-ms-genoa')!;

/** Claims of real evidence, verified by the attestation library as verdictd's broker will. */
const sgx = verifyEvidence(sgxV.quote, { sgx: { collateral: sgxV.collateral }, at: sgxV.at! });
const tdx = verifyEvidence(tdxV.quote, { tdx: { collateral: tdxV.collateral }, at: tdxV.at! });
const snp = verifyEvidence(new Uint8Array(readFileSync(snpV.report)), { snp: snpInputs(snpV), at: snpV.at });
const platform = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const AT = new Date('2026-03-01T12:00:00.000Z');
const simMeasurement = createHash('sha384').update('bundle').digest();
function simClaims(opts: { debug?: boolean; key?: typeof platform; measurement?: Buffer } = {}): Claims {
  const key = opts.key ?? platform;
  const evidence = createSimEvidence({ measurement: opts.measurement ?? simMeasurement, reportData: new Uint8Array(64), platformKey: key.privateKey, at: AT, debug: opts.debug ?? false });
  return verifyEvidence(evidence, { sim: { platformKeys: [key.publicKey] }, at: AT });
}
const sim = simClaims();

const policies = Object.fromEntries(Object.entries(BUILTIN_POLICIES).map(([n, text]) => [n, compilePolicy(text, n)])) as Record<keyof typeof BUILTIN_POLICIES, CompiledPolicy>;
const set = (values: ReferenceSet['values'], name = 'default'): Record<string, ReferenceSet> => ({ [name]: parseReferenceSet({ name, values }) });
/** The reference set that names each real enclave above. */
const known = set({
  mrenclave: [sgx.measurements.mrenclave!],
  mrtd: [tdx.measurements.mrtd!],
  measurement: [snp.measurements.measurement!, sim.measurements.measurement!],
  platformKeyId: [sim.platform.platformKeyId!],
});
const failedRules = (claims: Claims, policy: CompiledPolicy, refs: Record<string, ReferenceSet>) => evaluatePolicy(claims, policy, refs).failed.map((f) => f.rule);

void describe('policy documents', () => {
  void it('parses the shipped policies, each under its own name', () => {
    for (const [name, text] of Object.entries(BUILTIN_POLICIES)) assert.equal(parsePolicy(text).name, name);
  });

  const bad: [string, unknown, RegExp][] = [
    ['not JSON', '{', /not JSON/],
    ['an array', '[]', /JSON object/],
    ['an unknown member', { name: 'p', rules: [{ name: 'r', expression: 'true' }], extra: 1 }, /unknown member "extra"/],
    ['no rules', { name: 'p', rules: [] }, /non-empty/],
    ['a bad name', { name: '../p', rules: [{ name: 'r', expression: 'true' }] }, /"name" must match/],
    ['two rules of one name', { name: 'p', rules: [{ name: 'r', expression: 'true' }, { name: 'r', expression: 'true' }] }, /two rules are named "r"/],
    ['a rule without expression', { name: 'p', rules: [{ name: 'r' }] }, /rule "r": "expression"/],
    ['an expression that does not parse', { name: 'p', rules: [{ name: 'r', expression: 'claims.tee ==' }] }, /rule "r": the expression does not parse/],
    ['an unknown rule member', { name: 'p', rules: [{ name: 'r', expression: 'true', effect: 'allow' }] }, /unknown member "effect"/],
  ];
  for (const [what, input, message] of bad) {
    void it(`parsePolicy() refuses ${what} with VERDICTD_ERR_POLICY_INVALID`, () => {
      assert.throws(() => parsePolicy(input), (err: unknown) => isInclavareError(err, 'VERDICTD_ERR_POLICY_INVALID') && message.test(err.message));
    });
  }
});

void describe('the shipped policies on real claims', () => {
  void it('allow-all allows every verified enclave, debug and sim included; deny-all denies them all', () => {
    for (const c of [sgx, tdx, snp, sim, simClaims({ debug: true })]) {
      assert.deepEqual(evaluatePolicy(c, policies['allow-all'], {}), { allow: true, policy: 'allow-all', failed: [] });
      assert.deepEqual(failedRules(c, policies['deny-all'], known), ['deny']);
    }
  });

  void it('default allows TDX (UpToDate), SNP and sim (known platform key) whose measurement is in the reference set', () => {
    for (const c of [tdx, snp, sim]) assert.deepEqual(evaluatePolicy(c, policies.default, known), { allow: true, policy: 'default', failed: [] }, c.tee);
  });

  void it('default denies the SGX vector for its TCB status (ConfigurationAndSWHardeningNeeded), naming the rule and the value', () => {
    const v = evaluatePolicy(sgx, policies.default, known);
    assert.equal(v.allow, false);
    assert.deepEqual(v.failed, [
      {
        rule: 'tcb-up-to-date',
        expression: "claims.tcbStatus == null || claims.tcbStatus == 'UpToDate'",
        message: "the platform's TCB status must be UpToDate",
        reason: 'false',
        claims: { tcbStatus: 'ConfigurationAndSWHardeningNeeded' },
      },
    ]);
    assert.match(describeFailures(v.failed), /rule "tcb-up-to-date" .* \[tcbStatus=ConfigurationAndSWHardeningNeeded\]/);
  });

  void it('default denies a measurement that is not in the reference set, showing the measurement', () => {
    const other = simClaims({ measurement: createHash('sha384').update('another image').digest() });
    const v = evaluatePolicy(other, policies.default, known);
    assert.deepEqual(v.failed.map((f) => f.rule), ['measurement']);
    assert.equal(v.failed[0]!.claims['measurements.measurement'], other.measurements.measurement);
    assert.equal(v.failed[0]!.claims['measurements.mrenclave'], ABSENT);
  });

  void it('default denies sim evidence from a platform key not in the reference set', () => {
    const foreign = simClaims({ key: stranger });
    assert.deepEqual(failedRules(foreign, policies.default, known), ['sim-platform-key']);
    const noKeys = set({ measurement: [sim.measurements.measurement!] });
    const v = evaluatePolicy(sim, policies.default, noKeys);
    assert.deepEqual(v.failed.map((f) => [f.rule, f.reason, f.error]), [['sim-platform-key', 'error', 'no such claim or reference value: platformKeyId']]);
  });

  void it('default denies debug enclaves', () => {
    assert.deepEqual(failedRules(simClaims({ debug: true }), policies.default, known), ['not-debug']);
  });

  void it('default denies everything, naming the missing set, when there is no reference set "default"', () => {
    for (const c of [sgx, tdx, snp, sim]) {
      const v = evaluatePolicy(c, policies.default, set({ measurement: [] }, 'other'));
      assert.equal(v.allow, false);
      assert.equal(v.failed[0]!.rule, 'reference-set');
      assert.ok(v.failed.some((f) => f.rule === 'measurement' && f.error === 'no such claim or reference value: default'), c.tee);
    }
  });

  void it('a policy that names a TCB status and allows debug lets them through (policies are data)', () => {
    const lenient = compilePolicy({
      name: 'lenient',
      rules: [
        { name: 'tcb', expression: "claims.tcbStatus in ['UpToDate', 'ConfigurationAndSWHardeningNeeded']" },
        { name: 'advisories', expression: "claims.advisoryIds.all(a, a in reference.sgx.advisories)" },
        { name: 'mrsigner', expression: 'claims.measurements.mrsigner in reference.sgx.mrsigner && claims.svn >= 0' },
      ],
    });
    const refs = set({ advisories: ['INTEL-SA-00289', 'INTEL-SA-00615'], mrsigner: [sgx.measurements.mrsigner!] }, 'sgx');
    assert.deepEqual(evaluatePolicy(sgx, lenient, refs), { allow: true, policy: 'lenient', failed: [] });
  });
});

void describe('evaluation fails closed', () => {
  void it('a non-boolean result, a type error and an unknown claim each deny with the rule named', () => {
    const p = compilePolicy({
      name: 'p',
      rules: [
        { name: 'number', expression: 'claims.evidenceVersion' },
        { name: 'types', expression: "claims.tee + 1 == 2" },
        { name: 'unknown', expression: "claims.nosuch == 'x'" },
        { name: 'unknown-nested', expression: "claims.measurements.mrenclave == 'x'" },
        { name: 'fine', expression: "has(claims.measurements.mrenclave) ? false : true" },
      ],
    });
    const v = evaluatePolicy(sim, p, {});
    assert.deepEqual(v.failed.map((f) => [f.rule, f.reason]), [['number', 'not-boolean'], ['types', 'error'], ['unknown', 'error'], ['unknown-nested', 'error']]);
    assert.deepEqual(v.failed[2]!.claims, { nosuch: ABSENT });
    assert.match(v.failed[1]!.error!, /no matching overload/);
  });

  void it('prototype members are not claims', () => {
    const p = compilePolicy({ name: 'p', rules: [{ name: 'proto', expression: "has(claims.constructor) || has(claims.__proto__) || claims.toString != null" }] });
    assert.deepEqual(failedRules(sim, p, {}), ['proto']);
  });
});

const hex = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex'));
const claimsArb: fc.Arbitrary<Claims> = fc.record({
  tee: fc.constantFrom('sgx', 'tdx', 'snp', 'sim'),
  evidenceVersion: fc.integer({ min: 0, max: 10 }),
  measurements: fc.dictionary(fc.constantFrom('mrenclave', 'mrsigner', 'mrtd', 'measurement', 'rtmr0', 'x'), hex(48)),
  productId: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  svn: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  debug: fc.boolean(),
  reportData: hex(64),
  tcbStatus: fc.constantFrom(null, 'UpToDate', 'SWHardeningNeeded', 'OutOfDate', 'Revoked'),
  advisoryIds: fc.array(fc.string({ maxLength: 16 }), { maxLength: 4 }),
  platform: fc.dictionary(fc.constantFrom('fmspc', 'pceId', 'chipId', 'productName', 'platformKeyId'), hex(8)),
  validFrom: fc.constant('2026-01-01T00:00:00.000Z'),
  validUntil: fc.constant('2026-02-01T00:00:00.000Z'),
  extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.double(), fc.boolean())),
}) as fc.Arbitrary<Claims>;
const refsArb = fc.dictionary(
  fc.constantFrom('default', 'prod', 'sgx'),
  fc.dictionary(fc.constantFrom('measurement', 'mrenclave', 'mrtd', 'platformKeyId', 'tcbStatus'), fc.array(fc.oneof(hex(48), fc.integer(), fc.boolean()), { maxLength: 3 })),
).map((d) => Object.fromEntries(Object.entries(d).map(([name, values]) => [name, parseReferenceSet({ name, values })])));

void describe('policy properties', () => {
  void it('random claims and reference sets never make a shipped policy throw; allow-all allows, deny-all denies', () => {
    fc.assert(
      fc.property(claimsArb, refsArb, (claims, refs) => {
        for (const p of Object.values(policies)) {
          const v = evaluatePolicy(claims, p, refs);
          assert.equal(typeof v.allow, 'boolean');
          assert.equal(v.allow, v.failed.length === 0);
        }
        assert.equal(evaluatePolicy(claims, policies['allow-all'], refs).allow, true);
        assert.equal(evaluatePolicy(claims, policies['deny-all'], refs).allow, false);
        // The default never allows debug, a stale TCB, or a measurement no set lists.
        if (evaluatePolicy(claims, policies.default, refs).allow) {
          assert.equal(claims.debug, false);
          assert.ok(claims.tcbStatus === null || claims.tcbStatus === 'UpToDate');
        }
      }),
      { numRuns: 300 },
    );
  });

  void it('a rule over a claim the record does not have denies (fails closed), whatever the comparison', () => {
    const field = fc.stringMatching(/^[a-z][a-zA-Z0-9_]{0,12}$/).filter((f) => !['tee', 'evidenceVersion', 'measurements', 'productId', 'svn', 'debug', 'reportData', 'tcbStatus', 'advisoryIds', 'platform', 'validFrom', 'validUntil', 'extra', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while', 'true', 'false', 'null'].includes(f));
    const shape = fc.constantFrom((f: string) => `claims.${f} == 'x'`, (f: string) => `claims.${f} != 'x'`, (f: string) => `!claims.${f}`, (f: string) => `claims.${f}`, (f: string) => `claims.${f} > 0 || claims.${f} <= 0`, (f: string) => `size(claims.${f}) >= 0`);
    fc.assert(
      fc.property(claimsArb, field, shape, (claims, f, make) => {
        const v = evaluatePolicy(claims, compilePolicy({ name: 'p', rules: [{ name: 'r', expression: make(f) }] }), {});
        assert.equal(v.allow, false);
        assert.equal(v.failed[0]!.reason, 'error');
        assert.equal(v.failed[0]!.claims[f], ABSENT);
      }),
      { numRuns: 200 },
    );
  });

  void it('any expression text is either refused as VERDICTD_ERR_POLICY_INVALID or evaluates without throwing', () => {
    const atoms = fc.constantFrom('claims', '.', 'tee', 'debug', '==', '!=', '&&', '||', '!', '(', ')', "'sim'", '1', 'in', '[', ']', ',', 'reference', 'default', 'has', 'size', '?', ':', ' ', 'true', '-', '+', '/', '0');
    fc.assert(
      fc.property(fc.array(atoms, { minLength: 1, maxLength: 12 }).map((a) => a.join('')), claimsArb, (expression, claims) => {
        let p: CompiledPolicy;
        try {
          p = compilePolicy({ name: 'p', rules: [{ name: 'r', expression }] });
        } catch (err) {
          assert.ok(isInclavareError(err, 'VERDICTD_ERR_POLICY_INVALID'), String(err));
          return;
        }
        const v = evaluatePolicy(claims, p, {});
        assert.equal(v.allow, v.failed.length === 0);
      }),
      { numRuns: 500 },
    );
  });
});
