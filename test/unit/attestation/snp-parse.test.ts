// parseSnpReport() against the real SEV-SNP reports of the shared vectors (expected.json per vector).
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { parseSnpReport, SNP_REPORT_SIZE, type SnpTcb } from '../../../src/attestation/snp/parse.ts';
import { decodeTcb } from '../../../src/attestation/amd/tcb.ts';
import { VECTORS_ROOT } from '../../support/vectors.ts';

const VECTORS = VECTORS_ROOT;
const SNP_DIR = `${VECTORS}/amd-sev-snp`;

interface ExpectedTcb {
  fmc?: number;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  raw: string;
}

const vectors = readdirSync(SNP_DIR)
  .sort()
  .map((id) => ({
    id,
    report: new Uint8Array(readFileSync(`${SNP_DIR}/${id}/report.bin`)),
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    expected: JSON.parse(readFileSync(`${SNP_DIR}/${id}/expected.json`, 'utf8')).report as Record<string, any>,
  }));

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function assertTcb(actual: SnpTcb, expected: ExpectedTcb): void {
  assert.equal(actual.hex, expected.raw);
  assert.equal(actual.bootloader, expected.bootloader);
  assert.equal(actual.tee, expected.tee);
  assert.equal(actual.snp, expected.snp);
  assert.equal(actual.microcode, expected.microcode);
  assert.equal(actual.fmc, expected.fmc ?? null);
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isInclavareError(err, code));
}

void describe('parseSnpReport()', () => {
  void it('finds the eight shared SEV-SNP vectors', () => {
    assert.equal(vectors.length, 8);
  });

  for (const v of vectors) {
    void it(`decodes every field of ${v.id} as expected.json states it`, () => {
      const r = parseSnpReport(v.report);
      const e = v.expected;
      assert.equal(r.version, e.version);
      assert.equal(r.guestSvn, e.guest_svn);
      assert.equal(r.policy.hex, e.policy);
      assert.equal(r.policy.abiMinor, e.policy_decoded.abi_minor);
      assert.equal(r.policy.abiMajor, e.policy_decoded.abi_major);
      assert.equal(r.policy.smt, e.policy_decoded.smt_allowed);
      assert.equal(r.policy.migrateMa, e.policy_decoded.migrate_ma);
      assert.equal(r.policy.debug, e.policy_decoded.debug_allowed);
      assert.equal(r.policy.singleSocket, e.policy_decoded.single_socket);
      assert.equal(hex(r.familyId), e.family_id);
      assert.equal(hex(r.imageId), e.image_id);
      assert.equal(r.vmpl, e.vmpl);
      assert.equal(r.signatureAlgo, e.signature_algo);
      assert.equal(r.platformInfo.hex, e.platform_info);
      assert.equal(r.signingKey, 'vcek');
      assert.equal(hex(r.reportData), e.report_data);
      assert.equal(hex(r.measurement), e.measurement);
      assert.equal(hex(r.hostData), e.host_data);
      assert.equal(hex(r.idKeyDigest), e.id_key_digest);
      assert.equal(hex(r.authorKeyDigest), e.author_key_digest);
      assert.equal(hex(r.reportId), e.report_id);
      assert.equal(hex(r.reportIdMa), e.report_id_ma);
      assert.equal(hex(r.chipId), e.chip_id);
      assertTcb(r.currentTcb, e.current_tcb);
      assertTcb(r.reportedTcb, e.reported_tcb);
      assertTcb(r.committedTcb, e.committed_tcb);
      assertTcb(r.launchTcb, e.launch_tcb);
      const fw = (x: { major: number; minor: number; build: number }): string => `${x.major}.${x.minor}.${x.build}`;
      assert.equal(fw(r.currentVersion), e.current_version);
      assert.equal(fw(r.committedVersion), e.committed_version);
      assert.equal(r.cpuidFamId, e.cpuid_fam_id ?? null);
      assert.equal(r.cpuidModId, e.cpuid_mod_id ?? null);
      assert.equal(r.cpuidStep, e.cpuid_step ?? null);
      if (e.launch_mit_vector !== undefined) {
        assert.equal('0x' + r.launchMitVector?.toString(16), e.launch_mit_vector);
        assert.equal('0x' + r.currentMitVector?.toString(16), e.current_mit_vector);
      } else {
        assert.equal(r.launchMitVector, null);
      }
      assert.equal(r.signedBytes.length, 0x2a0);
    });

    void it(`converts the little-endian signature of ${v.id} to the big-endian r and s of expected.json`, () => {
      const r = parseSnpReport(v.report);
      const sig = JSON.parse(readFileSync(`${SNP_DIR}/${v.id}/expected.json`, 'utf8')).signature as Record<string, string>;
      assert.equal(hex(r.signature.r), '00'.repeat(24) + sig.r_hex_be);
      assert.equal(hex(r.signature.s), '00'.repeat(24) + sig.s_hex_be);
    });
  }

  void it('names the generation from CPUID for v3+ reports and leaves v2 reports without one', () => {
    const products = Object.fromEntries(vectors.map((v) => [v.id, parseSnpReport(v.report).product]));
    assert.equal(products['snp-v2-trustee-milan'], null);
    assert.equal(products['snp-v3-ms-genoa'], 'Genoa');
    assert.equal(products['snp-v5-gcp-milan'], 'Milan');
    assert.equal(products['snp-v5-ms-turin'], 'Turin');
  });

  void it('decodes one TCB value in both byte layouts as the ABI spec defines them', () => {
    const bytes = Uint8Array.from([0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x05, 0x06]);
    assert.deepEqual(
      { ...decodeTcb(bytes, 'milan-genoa'), raw: undefined },
      { layout: 'milan-genoa', raw: undefined, hex: '0x0605000004030201', fmc: null, bootloader: 1, tee: 2, snp: 5, microcode: 6 },
    );
    assert.deepEqual(
      { ...decodeTcb(bytes, 'turin'), raw: undefined },
      { layout: 'turin', raw: undefined, hex: '0x0605000004030201', fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 6 },
    );
  });

  void it('rejects a report truncated at every length with ATTEST_ERR_MALFORMED', () => {
    const report = vectors[0]?.report ?? new Uint8Array();
    for (let len = 0; len < SNP_REPORT_SIZE; len++) {
      throwsCode(() => parseSnpReport(report.subarray(0, len)), 'ATTEST_ERR_MALFORMED');
    }
  });

  void it('rejects a report with trailing bytes with ATTEST_ERR_MALFORMED', () => {
    const report = vectors[0]?.report ?? new Uint8Array();
    throwsCode(() => parseSnpReport(Uint8Array.from([...report, 0])), 'ATTEST_ERR_MALFORMED');
  });

  void it('rejects input that is not a byte array with ATTEST_ERR_MALFORMED', () => {
    throwsCode(() => parseSnpReport('report' as unknown as Uint8Array), 'ATTEST_ERR_MALFORMED');
    throwsCode(() => parseSnpReport(undefined as unknown as Uint8Array), 'ATTEST_ERR_MALFORMED');
  });

  for (const version of [0, 1, 6, 0xffffffff]) {
    void it(`rejects report version ${version} with ATTEST_ERR_UNSUPPORTED_VERSION`, () => {
      const report = Uint8Array.from(vectors[0]?.report ?? []);
      new DataView(report.buffer).setUint32(0, version, true);
      throwsCode(() => parseSnpReport(report), 'ATTEST_ERR_UNSUPPORTED_VERSION');
    });
  }

  void it('accepts version 4, which real Milan firmware emits with the version 3 layout', () => {
    const report = Uint8Array.from(vectors.find((v) => v.id === 'snp-v3-ms-genoa')?.report ?? []);
    new DataView(report.buffer).setUint32(0, 4, true);
    const r = parseSnpReport(report);
    assert.equal(r.version, 4);
    assert.equal(r.product, 'Genoa');
    assert.equal(r.launchMitVector, null);
  });

  void it('copies its input, so later changes to the caller buffer do not alter the parsed report', () => {
    const report = Uint8Array.from(vectors[0]?.report ?? []);
    const r = parseSnpReport(report);
    const before = hex(r.measurement);
    report.fill(0xff, 0x90, 0xc0);
    assert.equal(hex(r.measurement), before);
  });
});
