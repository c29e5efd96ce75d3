// createSimEvidence(), parseSimEvidence() and verifySimEvidence(): the contract of docs/evidence-sim.md.
import { strict as assert } from 'node:assert';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { createSimEvidence, type CreateSimEvidenceOptions } from '../../../src/attestation/sim/create.ts';
import { parseSimEvidence, SIM_EVIDENCE_SIZE, SIM_OFFSETS } from '../../../src/attestation/sim/parse.ts';
import { verifySimEvidence, type SimVerifyOptions } from '../../../src/attestation/sim/verify.ts';
import { SIM_ERROR_CODES } from '../../../src/attestation/sim/codes.ts';

const platform = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const AT = new Date('2026-03-01T12:00:00.000Z');
const measurement = createHash('sha384').update('entrypoint=/bin/app').digest();
const reportData = createHash('sha512').update('nonce').digest();

const create = (extra: Partial<CreateSimEvidenceOptions> = {}): Uint8Array =>
  createSimEvidence({ measurement, reportData, platformKey: platform.privateKey, at: AT, ...extra });
const verifyOpts = (extra: Partial<SimVerifyOptions> = {}): SimVerifyOptions => ({
  trustedPlatformKeys: [platform.publicKey],
  at: AT,
  ...extra,
});

function rejects(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isInclavareError(err), `expected InclavareError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

void describe('sim evidence', () => {
  void it('round-trips: what createSimEvidence() signs, verifySimEvidence() accepts with the same values', () => {
    const claims = verifySimEvidence(create(), verifyOpts());
    const spki = platform.publicKey.export({ type: 'spki', format: 'der' });
    assert.deepEqual(claims, {
      tee: 'sim',
      evidenceVersion: 1,
      measurements: { measurement: measurement.toString('hex') },
      debug: false,
      reportData: reportData.toString('hex'),
      tcbStatus: null,
      advisoryIds: [],
      platform: { platformKeyId: createHash('sha256').update(spki).digest('hex') },
      validFrom: '2026-03-01T11:59:00.000Z',
      validUntil: '2026-03-01T12:05:00.000Z',
      extra: {
        insecure: true,
        note: 'sim evidence isolates nothing: the workload runs as an ordinary process and the host can read and forge it',
        timestamp: '2026-03-01T12:00:00.000Z',
      },
    });
  });

  void it('lays the fields out at the offsets docs/evidence-sim.md gives', () => {
    const bytes = create({ debug: true });
    assert.equal(bytes.length, 242);
    assert.equal(SIM_EVIDENCE_SIZE, 242);
    const b = Buffer.from(bytes);
    assert.equal(b.subarray(0, 8).toString('ascii'), 'INCLSIM1');
    assert.equal(b.readUInt16BE(8), 1);
    assert.equal(b.readUInt16BE(10), 1);
    assert.ok(b.subarray(12, 60).equals(measurement));
    assert.ok(b.subarray(60, 124).equals(reportData));
    assert.equal(b.readBigUInt64BE(124), BigInt(AT.getTime()));
    assert.equal(b.readUInt16BE(132), 44);
    assert.ok(b.subarray(134, 178).equals(platform.publicKey.export({ type: 'spki', format: 'der' })));
    assert.equal(SIM_OFFSETS.signature, 178);
  });

  void it('parses every field back', () => {
    const e = parseSimEvidence(create({ debug: true }));
    assert.equal(e.version, 1);
    assert.equal(e.debug, true);
    assert.equal(e.timestamp.toISOString(), AT.toISOString());
    assert.deepEqual(Buffer.from(e.measurement), measurement);
    assert.deepEqual(Buffer.from(e.reportData), reportData);
    assert.equal(e.signature.length, 64);
    assert.equal(e.signedBytes.length, 178);
  });

  void it('claims debug when the evidence carries the debug flag', () => {
    assert.equal(verifySimEvidence(create({ debug: true }), verifyOpts()).debug, true);
  });

  void it('zero-pads report data shorter than 64 bytes on the right', () => {
    const claims = verifySimEvidence(create({ reportData: Uint8Array.from([1, 2, 3]) }), verifyOpts());
    assert.equal(claims.reportData, '010203' + '00'.repeat(61));
  });

  void it('rejects every single-byte change of the evidence', () => {
    const good = create();
    for (let i = 0; i < good.length; i++) {
      const bad = Uint8Array.from(good);
      bad[i] = (bad[i] ?? 0) ^ 0x01;
      assert.throws(
        () => verifySimEvidence(bad, verifyOpts()),
        (err: unknown) => {
          assert.ok(isInclavareError(err), `byte ${i}: ${String(err)}`);
          const expected =
            i < 8
              ? ['ATTEST_ERR_MALFORMED']
              : i < 10
                ? ['ATTEST_ERR_UNSUPPORTED_VERSION']
                : i >= SIM_OFFSETS.platformKeyLength && i < SIM_OFFSETS.signature
                  ? ['ATTEST_ERR_MALFORMED', 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY']
                  : i === SIM_OFFSETS.flags
                    ? ['ATTEST_ERR_MALFORMED']
                    : i === SIM_OFFSETS.timestamp // a timestamp beyond the range of a Date
                      ? ['ATTEST_ERR_MALFORMED', 'ATTEST_ERR_SIM_SIGNATURE']
                      : ['ATTEST_ERR_SIM_SIGNATURE'];
          assert.ok(expected.includes(err.code), `byte ${i}: ${err.code}`);
          return true;
        },
      );
    }
  });

  void it('rejects a set debug flag that the platform did not sign with ATTEST_ERR_SIM_SIGNATURE', () => {
    const bad = create();
    bad[SIM_OFFSETS.flags + 1] = 0x01;
    rejects(() => verifySimEvidence(bad, verifyOpts()), 'ATTEST_ERR_SIM_SIGNATURE');
  });

  void it('rejects reserved flag bits with ATTEST_ERR_MALFORMED', () => {
    const bad = create();
    bad[SIM_OFFSETS.flags] = 0x80;
    rejects(() => parseSimEvidence(bad), 'ATTEST_ERR_MALFORMED');
  });

  void it('rejects evidence signed by a key the verifier does not trust with ATTEST_ERR_UNTRUSTED_PLATFORM_KEY', () => {
    rejects(() => verifySimEvidence(create({ platformKey: stranger.privateKey }), verifyOpts()), 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY');
    rejects(() => verifySimEvidence(create(), verifyOpts({ trustedPlatformKeys: [] })), 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY');
  });

  void it('rejects evidence whose embedded key was swapped for a trusted one with ATTEST_ERR_SIM_SIGNATURE', () => {
    const bad = create({ platformKey: stranger.privateKey });
    bad.set(platform.publicKey.export({ type: 'spki', format: 'der' }), SIM_OFFSETS.platformKey);
    rejects(() => verifySimEvidence(bad, verifyOpts()), 'ATTEST_ERR_SIM_SIGNATURE');
  });

  void it('accepts trusted keys as KeyObject, SPKI DER, PEM text or the private key', () => {
    const spki = platform.publicKey.export({ type: 'spki', format: 'der' });
    const pem = platform.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    for (const key of [platform.publicKey, new Uint8Array(spki), pem, platform.privateKey]) {
      assert.equal(verifySimEvidence(create(), verifyOpts({ trustedPlatformKeys: [stranger.publicKey, key] })).tee, 'sim');
    }
  });

  void it('rejects a trusted key that is not a key with ATTEST_ERR_MALFORMED', () => {
    rejects(() => verifySimEvidence(create(), verifyOpts({ trustedPlatformKeys: ['nonsense'] })), 'ATTEST_ERR_MALFORMED');
  });

  const freshness: [string, number, string | null][] = [
    ['at its timestamp', 0, null],
    ['5 minutes after its timestamp (the default maximum age)', 300_000, null],
    ['5 minutes and 1 ms after its timestamp', 300_001, 'ATTEST_ERR_COLLATERAL_EXPIRED'],
    ['1 minute before its timestamp (the default clock skew)', -60_000, null],
    ['1 minute and 1 ms before its timestamp', -60_001, 'ATTEST_ERR_COLLATERAL_EXPIRED'],
    ['a day after its timestamp', 86_400_000, 'ATTEST_ERR_COLLATERAL_EXPIRED'],
  ];
  for (const [when, offset, code] of freshness) {
    void it(`${code === null ? 'accepts' : 'rejects'} evidence verified ${when}${code === null ? '' : ` with ${code}`}`, () => {
      const run = (): unknown => verifySimEvidence(create(), verifyOpts({ at: new Date(AT.getTime() + offset) }));
      if (code === null) run();
      else rejects(run, code);
    });
  }

  void it('honours a caller-chosen maximum age and clock skew', () => {
    const evidence = create();
    verifySimEvidence(evidence, verifyOpts({ at: new Date(AT.getTime() + 3_600_000), maxAgeMs: 3_600_000 }));
    rejects(() => verifySimEvidence(evidence, verifyOpts({ at: new Date(AT.getTime() + 1), maxAgeMs: 0 })), 'ATTEST_ERR_COLLATERAL_EXPIRED');
    rejects(() => verifySimEvidence(evidence, verifyOpts({ at: new Date(AT.getTime() - 1), maxFutureSkewMs: 0 })), 'ATTEST_ERR_COLLATERAL_EXPIRED');
    rejects(() => verifySimEvidence(evidence, verifyOpts({ maxAgeMs: -1 })), 'ATTEST_ERR_MALFORMED');
  });

  void it('rejects evidence truncated at every length with ATTEST_ERR_MALFORMED', () => {
    const good = create();
    for (let len = 0; len < good.length; len++) {
      rejects(() => verifySimEvidence(good.subarray(0, len), verifyOpts()), 'ATTEST_ERR_MALFORMED');
    }
  });

  void it('rejects evidence with trailing bytes with ATTEST_ERR_MALFORMED', () => {
    rejects(() => verifySimEvidence(Uint8Array.from([...create(), 0]), verifyOpts()), 'ATTEST_ERR_MALFORMED');
  });

  void it('rejects format version 2 with ATTEST_ERR_UNSUPPORTED_VERSION', () => {
    const bad = create();
    bad[9] = 2;
    rejects(() => parseSimEvidence(bad), 'ATTEST_ERR_UNSUPPORTED_VERSION');
  });

  void it('rejects an invalid verification time with ATTEST_ERR_MALFORMED', () => {
    rejects(() => verifySimEvidence(create(), verifyOpts({ at: new Date(Number.NaN) })), 'ATTEST_ERR_MALFORMED');
  });

  const badInputs: [string, Partial<CreateSimEvidenceOptions>][] = [
    ['a 32-byte measurement', { measurement: new Uint8Array(32) }],
    ['65 bytes of report data', { reportData: new Uint8Array(65) }],
    ['an ECDSA platform key', { platformKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }],
    ['a public platform key', { platformKey: platform.publicKey }],
    ['a platform key that is not PEM', { platformKey: 'not a key' }],
    ['an invalid date', { at: new Date(Number.NaN) }],
    ['a date before 1970', { at: new Date(-1) }],
  ];
  for (const [what, input] of badInputs) {
    void it(`refuses to create evidence from ${what} with ATTEST_ERR_MALFORMED`, () => {
      rejects(() => create(input), 'ATTEST_ERR_MALFORMED');
    });
  }

  void it('creates evidence from a PKCS#8 PEM or DER platform key', () => {
    const pem = platform.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const der = new Uint8Array(platform.privateKey.export({ type: 'pkcs8', format: 'der' }));
    assert.deepEqual(create({ platformKey: pem }), create());
    assert.deepEqual(create({ platformKey: der }), create());
  });

  void it('exposes every sim error code it uses in SIM_ERROR_CODES', () => {
    assert.deepEqual(Object.values(SIM_ERROR_CODES).sort(), [
      'ATTEST_ERR_COLLATERAL_EXPIRED',
      'ATTEST_ERR_MALFORMED',
      'ATTEST_ERR_SIM_SIGNATURE',
      'ATTEST_ERR_UNSUPPORTED_VERSION',
      'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY',
    ]);
  });
});
