// verifySnpReport() against the real SEV-SNP vectors: each gives its expected.json result inside its validity
// window and the right error code outside it or after tampering.
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { verifySnpReport, type SnpVerifyOptions } from '../../../src/attestation/snp/verify.ts';
import { parseSnpReport } from '../../../src/attestation/snp/parse.ts';
import {
  AMD_GENOA_ASK_ARK_PEM,
  AMD_MILAN_ASK_ARK_PEM,
  AMD_TRUST_ANCHORS,
  AMD_TURIN_ASK_ARK_PEM,
} from '../../../src/attestation/roots/amd.ts';
import { AMD_ERROR_CODES } from '../../../src/attestation/amd/codes.ts';
import { VECTORS_ROOT } from '../../support/vectors.ts';

const VECTORS = VECTORS_ROOT;
const SNP_DIR = `${VECTORS}/amd-sev-snp`;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g;

interface Vector {
  id: string;
  report: Uint8Array;
  vcek: Uint8Array;
  certChain: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  expected: Record<string, any>;
  notBefore: Date;
  notAfter: Date;
  /** The suggested verification time: the middle of the leaf certificate's window (the chain's is wider). */
  at: Date;
}

function loadVector(id: string): Vector {
  const dir = `${SNP_DIR}/${id}`;
  const files = readdirSync(dir).sort();
  let vcek: Uint8Array;
  let certChain = '';
  if (files.includes('vcek.der')) vcek = new Uint8Array(readFileSync(`${dir}/vcek.der`));
  else if (files.includes('vcek.pem')) vcek = new Uint8Array(readFileSync(`${dir}/vcek.pem`));
  else {
    // vcek_ask_ark.pem: VCEK first, then ASK and ARK.
    const bundle = readFileSync(`${dir}/vcek_ask_ark.pem`, 'utf8');
    vcek = new Uint8Array(Buffer.from(bundle.match(PEM_BLOCK)?.[0] ?? ''));
  }
  for (const f of files) if (f.endsWith('.pem') && f !== 'vcek.pem') certChain += readFileSync(`${dir}/${f}`, 'utf8');
  const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8'));
  const [from, until] = expected.leaf_certificate.validity as [string, string];
  const notBefore = new Date(from);
  const notAfter = new Date(until);
  return {
    id,
    report: new Uint8Array(readFileSync(`${dir}/report.bin`)),
    vcek,
    certChain,
    expected,
    notBefore,
    notAfter,
    at: new Date((notBefore.getTime() + notAfter.getTime()) / 2),
  };
}

const vectors = readdirSync(SNP_DIR).sort().map(loadVector);
const byId = (id: string): Vector => {
  const v = vectors.find((x) => x.id === id);
  if (v === undefined) throw new Error(`no vector ${id}`);
  return v;
};
const options = (v: Vector, extra: Partial<SnpVerifyOptions> = {}): SnpVerifyOptions => ({
  vcek: v.vcek,
  certChain: v.certChain,
  at: v.at,
  ...extra,
});

function rejects(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isInclavareError(err), `expected InclavareError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

function flip(bytes: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index] = (out[index] ?? 0) ^ mask;
  return out;
}

void describe('verifySnpReport() with the shared vectors', () => {
  for (const v of vectors) {
    const e = v.expected;
    void it(`verifies ${v.id} at its suggested time and returns the claims of expected.json`, () => {
      assert.equal(e.expected_result.verifies, true);
      const claims = verifySnpReport(v.report, options(v));
      const r = e.report;
      const ext = e.leaf_certificate.amd_extensions;
      assert.equal(claims.tee, 'snp');
      assert.equal(claims.evidenceVersion, r.version);
      assert.deepEqual(claims.measurements, {
        measurement: r.measurement,
        hostData: r.host_data,
        idKeyDigest: r.id_key_digest,
        authorKeyDigest: r.author_key_digest,
        familyId: r.family_id,
        imageId: r.image_id,
      });
      assert.equal(claims.svn, r.guest_svn);
      assert.equal(claims.debug, e.expected_result.debug_allowed_by_policy);
      assert.equal(claims.reportData, r.report_data);
      assert.equal(claims.tcbStatus, null);
      assert.deepEqual(claims.advisoryIds, []);
      assert.equal(claims.platform.chipId, r.chip_id);
      assert.equal(claims.platform.productName, String(ext.productName1).split('-')[0]);
      assert.equal(claims.validFrom, v.notBefore.toISOString());
      assert.equal(claims.validUntil, v.notAfter.toISOString());
      assert.equal(claims.extra.vmpl, e.expected_result.vmpl);
      assert.equal(claims.extra.policy, r.policy);
      assert.equal(claims.extra.signingKey, 'vcek');
      assert.equal(claims.extra.vcekProductName, ext.productName1);
      assert.equal(claims.extra.reportedTcb, r.reported_tcb.raw);
      assert.equal(claims.extra.reportedTcbBootloader, ext.blSPL);
      assert.equal(claims.extra.reportedTcbTee, ext.teeSPL);
      assert.equal(claims.extra.reportedTcbSnp, ext.snpSPL);
      assert.equal(claims.extra.reportedTcbMicrocode, ext.ucodeSPL);
      assert.equal(claims.extra.reportedTcbFmc, ext.fmcSPL);
      assert.equal(claims.extra.currentTcb, r.current_tcb.raw);
      assert.equal(claims.extra.currentVersion, r.current_version);
    });

    void it(`verifies ${v.id} with the built-in AMD trust anchors alone (no certChain)`, () => {
      const claims = verifySnpReport(v.report, { vcek: v.vcek, at: v.at });
      assert.equal(claims.measurements.measurement, e.report.measurement);
    });

    void it(`verifies ${v.id} at both ends of its validity window, which are inclusive`, () => {
      verifySnpReport(v.report, options(v, { at: v.notBefore }));
      verifySnpReport(v.report, options(v, { at: v.notAfter }));
    });

    void it(`rejects ${v.id} one millisecond before and after its window with ATTEST_ERR_COLLATERAL_EXPIRED`, () => {
      rejects(() => verifySnpReport(v.report, options(v, { at: new Date(v.notBefore.getTime() - 1) })), 'ATTEST_ERR_COLLATERAL_EXPIRED');
      rejects(() => verifySnpReport(v.report, options(v, { at: new Date(v.notAfter.getTime() + 1) })), 'ATTEST_ERR_COLLATERAL_EXPIRED');
    });

    void it(`rejects ${v.id} with every byte of r and s flipped, one at a time, with ATTEST_ERR_REPORT_SIGNATURE`, () => {
      for (let i = 0x2a0; i < 0x330; i++) {
        rejects(() => verifySnpReport(flip(v.report, i), options(v)), 'ATTEST_ERR_REPORT_SIGNATURE');
      }
    });

    void it(`rejects ${v.id} with a flipped byte in the signed body with ATTEST_ERR_REPORT_SIGNATURE`, () => {
      // report_data, measurement, host_data, reported_tcb (trustee's byte 384), chip_id, launch_tcb, reserved.
      for (const i of [0x50, 0x8f, 0x90, 0xc0, 0x180, 0x187, 0x1a0, 0x1f0, 0x29f]) {
        rejects(() => verifySnpReport(flip(v.report, i), options(v)), 'ATTEST_ERR_REPORT_SIGNATURE');
      }
    });

    void it(`rejects ${v.id} with the debug bit forced on under rejectDebug, and ${e.expected_result.debug_allowed_by_policy ? 'rejects' : 'accepts'} it as is`, () => {
      if (e.expected_result.debug_allowed_by_policy) {
        rejects(() => verifySnpReport(v.report, options(v, { rejectDebug: true })), 'ATTEST_ERR_DEBUG');
      } else {
        assert.equal(verifySnpReport(v.report, options(v, { rejectDebug: true })).debug, false);
      }
    });
  }

  void it('rejects every single-bit change of the signed region of one report, each with a verification code', () => {
    const v = byId('snp-v2-virtee-milan');
    for (let i = 0; i < 0x2a0; i++) {
      assert.throws(
        () => verifySnpReport(flip(v.report, i, 0x80), options(v)),
        (err: unknown) => {
          assert.ok(isInclavareError(err));
          // Version, algorithm and key-selection bytes fail before the signature; everything else at it.
          const allowed =
            i < 0x50
              ? ['ATTEST_ERR_REPORT_SIGNATURE', 'ATTEST_ERR_UNSUPPORTED_VERSION', 'ATTEST_ERR_CERT_CHAIN']
              : ['ATTEST_ERR_REPORT_SIGNATURE'];
          assert.ok(allowed.includes(err.code), `byte 0x${i.toString(16)}: ${err.code}`);
          return true;
        },
      );
    }
  });

  void it('rejects a report whose unsigned reserved bytes after the signature are not zero', () => {
    const v = byId('snp-v5-gcp-milan');
    rejects(() => verifySnpReport(flip(v.report, 0x330), options(v)), 'ATTEST_ERR_REPORT_SIGNATURE');
    rejects(() => verifySnpReport(flip(v.report, 0x49f), options(v)), 'ATTEST_ERR_REPORT_SIGNATURE');
  });

  void it('rejects a report checked with the VCEK of another vector with ATTEST_ERR_REPORT_SIGNATURE', () => {
    for (const [reportId, vcekId] of [
      ['snp-v2-trustee-milan', 'snp-v2-virtee-milan'],
      ['snp-v5-gcp-milan', 'snp-v2-gosevguest-milan'],
      ['snp-v2-azure-hcl-milan', 'snp-v5-gcp-milan'],
    ] as const) {
      const v = byId(reportId);
      rejects(() => verifySnpReport(v.report, options(v, { vcek: byId(vcekId).vcek })), 'ATTEST_ERR_REPORT_SIGNATURE');
    }
  });

  void it('rejects a Genoa report checked with a Milan VCEK (another generation) with ATTEST_ERR_REPORT_SIGNATURE', () => {
    const v = byId('snp-v3-ms-genoa');
    rejects(() => verifySnpReport(v.report, { vcek: byId('snp-v5-gcp-milan').vcek, at: v.at }), 'ATTEST_ERR_REPORT_SIGNATURE');
  });

  void it('rejects a chain whose ARK differs from the trusted ARK by one byte with ATTEST_ERR_UNTRUSTED_ROOT', () => {
    const v = byId('snp-v5-gcp-milan');
    const blocks = AMD_MILAN_ASK_ARK_PEM.match(PEM_BLOCK) ?? [];
    const ark = Buffer.from((blocks[1] ?? '').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    ark[ark.length - 5] = (ark[ark.length - 5] ?? 0) ^ 0x01; // inside the ARK's signature
    const forged = `${blocks[0]}-----BEGIN CERTIFICATE-----\n${ark.toString('base64')}\n-----END CERTIFICATE-----\n`;
    rejects(() => verifySnpReport(v.report, options(v, { certChain: forged })), 'ATTEST_ERR_UNTRUSTED_ROOT');
  });

  void it('rejects a Milan report when the trust anchors hold only the Genoa and Turin ARKs with ATTEST_ERR_UNTRUSTED_ROOT', () => {
    const v = byId('snp-v2-trustee-milan');
    rejects(
      () => verifySnpReport(v.report, options(v, { trustAnchors: [AMD_GENOA_ASK_ARK_PEM, AMD_TURIN_ASK_ARK_PEM] })),
      'ATTEST_ERR_UNTRUSTED_ROOT',
    );
  });

  void it('rejects a report whose ASK is neither supplied nor trusted with ATTEST_ERR_COLLATERAL_MISSING', () => {
    const v = byId('snp-v5-ms-turin');
    const turinArkOnly = (AMD_TURIN_ASK_ARK_PEM.match(PEM_BLOCK) ?? []).find((b) => {
      const der = Buffer.from(b.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
      return der.includes(Buffer.from('ARK-Turin')) && !der.includes(Buffer.from('SEV-Turin'));
    });
    assert.ok(turinArkOnly !== undefined);
    rejects(() => verifySnpReport(v.report, { vcek: v.vcek, trustAnchors: [turinArkOnly], at: v.at }), 'ATTEST_ERR_COLLATERAL_MISSING');
  });

  void it('rejects a VCEK whose AMD signature has a flipped byte with ATTEST_ERR_CERT_CHAIN', () => {
    const v = byId('snp-v2-trustee-milan'); // vcek.der: the signature is the last bytes
    rejects(() => verifySnpReport(v.report, options(v, { vcek: flip(v.vcek, v.vcek.length - 3) })), 'ATTEST_ERR_CERT_CHAIN');
  });

  void it('rejects an ASK or ARK given in place of the VCEK with ATTEST_ERR_CERT_CHAIN', () => {
    const v = byId('snp-v5-gcp-milan');
    for (const cert of AMD_MILAN_ASK_ARK_PEM.match(PEM_BLOCK) ?? []) {
      rejects(() => verifySnpReport(v.report, options(v, { vcek: cert })), 'ATTEST_ERR_CERT_CHAIN');
    }
  });

  void it('rejects a missing VCEK with ATTEST_ERR_COLLATERAL_MISSING and garbage with ATTEST_ERR_MALFORMED', () => {
    const v = byId('snp-v5-gcp-milan');
    rejects(() => verifySnpReport(v.report, options(v, { vcek: new Uint8Array() })), 'ATTEST_ERR_COLLATERAL_MISSING');
    rejects(() => verifySnpReport(v.report, options(v, { vcek: '' })), 'ATTEST_ERR_COLLATERAL_MISSING');
    rejects(() => verifySnpReport(v.report, options(v, { vcek: Uint8Array.from([0x30, 0x03, 1, 2, 3]) })), 'ATTEST_ERR_MALFORMED');
    rejects(() => verifySnpReport(v.report, options(v, { vcek: 'not a certificate' })), 'ATTEST_ERR_MALFORMED');
    rejects(() => verifySnpReport(v.report, options(v, { certChain: '-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----' })), 'ATTEST_ERR_MALFORMED');
  });

  void it('rejects a VCEK bundle with more than one certificate with ATTEST_ERR_MALFORMED', () => {
    const v = byId('snp-v2-azure-hcl-milan');
    rejects(() => verifySnpReport(v.report, options(v, { vcek: v.certChain })), 'ATTEST_ERR_MALFORMED');
  });

  void it('rejects a report that is not signed by a VCEK or VLEK with ATTEST_ERR_REPORT_SIGNATURE', () => {
    const v = byId('snp-v5-gcp-milan');
    for (const select of [7, 2, 5]) {
      const report = Uint8Array.from(v.report);
      report[0x48] = ((report[0x48] ?? 0) & ~0x1c) | (select << 2);
      rejects(() => verifySnpReport(report, options(v)), 'ATTEST_ERR_REPORT_SIGNATURE');
    }
  });

  void it('rejects a report that claims a VLEK signature when given a VCEK with ATTEST_ERR_CERT_CHAIN', () => {
    const v = byId('snp-v5-gcp-milan');
    const report = Uint8Array.from(v.report);
    report[0x48] = ((report[0x48] ?? 0) & ~0x1c) | (1 << 2);
    rejects(() => verifySnpReport(report, options(v)), 'ATTEST_ERR_CERT_CHAIN');
  });

  void it('rejects a report with another signature algorithm with ATTEST_ERR_REPORT_SIGNATURE', () => {
    const v = byId('snp-v3-ms-genoa');
    const report = Uint8Array.from(v.report);
    report[0x34] = 2;
    rejects(() => verifySnpReport(report, options(v)), 'ATTEST_ERR_REPORT_SIGNATURE');
  });

  void it('rejects a report truncated at every length with ATTEST_ERR_MALFORMED', () => {
    const v = byId('snp-v5-ms-turin');
    for (let len = 0; len < v.report.length; len++) {
      rejects(() => verifySnpReport(v.report.subarray(0, len), options(v)), 'ATTEST_ERR_MALFORMED');
    }
  });

  void it('rejects an invalid verification time with ATTEST_ERR_MALFORMED', () => {
    const v = byId('snp-v5-ms-turin');
    rejects(() => verifySnpReport(v.report, options(v, { at: new Date(Number.NaN) })), 'ATTEST_ERR_MALFORMED');
    rejects(() => verifySnpReport(v.report, { vcek: v.vcek } as unknown as SnpVerifyOptions), 'ATTEST_ERR_MALFORMED');
  });

  void it('accepts a parsed report as well as its bytes', () => {
    const v = byId('snp-v5-gcp-milan-vmpl1');
    assert.deepEqual(verifySnpReport(parseSnpReport(v.report), options(v)), verifySnpReport(v.report, options(v)));
  });

  void it('exposes every AMD error code it uses in AMD_ERROR_CODES', () => {
    assert.deepEqual(Object.values(AMD_ERROR_CODES).sort(), [
      'ATTEST_ERR_CERT_CHAIN',
      'ATTEST_ERR_CHIP_ID_MISMATCH',
      'ATTEST_ERR_COLLATERAL_EXPIRED',
      'ATTEST_ERR_COLLATERAL_MISSING',
      'ATTEST_ERR_DEBUG',
      'ATTEST_ERR_MALFORMED',
      'ATTEST_ERR_REPORT_SIGNATURE',
      'ATTEST_ERR_TCB_MISMATCH',
      'ATTEST_ERR_UNSUPPORTED_VERSION',
      'ATTEST_ERR_UNTRUSTED_ROOT',
    ]);
  });

  void it('embeds the six AMD bundles of the shared roots, certificate for certificate, as its default trust anchors', () => {
    const names = ['milan_ask', 'milan_asvk', 'genoa_ask', 'genoa_asvk', 'turin_ask', 'turin_asvk'];
    const ders = (pem: string | undefined): string[] =>
      (pem?.replace(/\r\n/g, '\n').match(PEM_BLOCK) ?? []).map((b) => b.replace(/-----[A-Z ]+-----|\s/g, ''));
    assert.equal(AMD_TRUST_ANCHORS.length, names.length);
    names.forEach((n, i) => {
      const file = readFileSync(`${VECTORS}/roots/amd_${n}_ark.pem`, 'utf8');
      assert.equal(ders(file).length, 2);
      assert.deepEqual(ders(AMD_TRUST_ANCHORS[i]), ders(file));
    });
  });
});
