/**
 * The built tee-tools (dist/tee-tools.mjs) driven through its command line, as other tools call it: every
 * shared Intel and SNP vector with `verify --json` at its suggested time, tampering, usage and I/O errors,
 * `dump --json`, sim evidence with a platform key as trust anchor, and `collateral fetch` against a fake PCS on
 * 127.0.0.1. Children run concurrently (each node start costs ~70 ms).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSimEvidence } from '../../src/attestation/sim/create.ts';
import { startFakePcs } from '../support/fake-pcs.ts';
import { expectedCode, flip, loadIntelVectors, quoteRegions, type IntelVector } from '../support/intel-vectors.ts';
import { loadSnpVectorFiles } from '../support/snp-vectors.ts';

const TOOL = new URL('../../dist/tee-tools.mjs', import.meta.url).pathname;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The `verify --json` object (the CLI contract). */
interface Report {
  verified: boolean;
  tee: string | null;
  tcbStatus: string | null;
  advisoryIds: string[];
  claims: {
    tee: string;
    measurements: Record<string, string>;
    reportData: string;
    debug: boolean;
    platform: Record<string, string>;
    extra: Record<string, unknown>;
  } | null;
  error: { code: string; message: string } | null;
}

// A small pool: enough children in flight to hide node's start-up, not so many that they fight for CPUs.
let slots = Math.max(2, Math.min(8, availableParallelism()));
const waiting: (() => void)[] = [];

async function tool(args: string[]): Promise<Run> {
  while (slots === 0) await new Promise<void>((resolve) => waiting.push(resolve));
  slots--;
  try {
    return await new Promise<Run>((resolve) => {
      execFile(process.execPath, [TOOL, ...args], { timeout: 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      });
    });
  } finally {
    slots++;
    waiting.shift()?.();
  }
}

/** Runs `verify ... --json` and parses the one object it must print. */
async function verifyJson(args: string[]): Promise<{ run: Run; report: Report }> {
  const run = await tool(['verify', ...args, '--json']);
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `expected one JSON line, got: ${run.stdout}${run.stderr}`);
  return { run, report: JSON.parse(lines[0]!) as Report };
}

const intel = await loadIntelVectors();
const snp = loadSnpVectorFiles();
let work: string;

before(async () => {
  assert.ok(existsSync(TOOL), 'dist/tee-tools.mjs is missing: run `npm run build` first');
  work = await mkdtemp(join(tmpdir(), 'tee-tools-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const timeOf = (v: IntelVector): string => (v.at ?? new Date('2025-01-01T00:00:00Z')).toISOString();

describe('tee-tools verify --json on every shared Intel vector', { concurrency: true }, () => {
  for (const v of intel) {
    const code = expectedCode(v);
    const r = v.expected.expected_result;
    const outcome = code ? `rejects it with ${code} (exit 1)` : `verifies it with TCB status ${r.tcb_status} (exit 0)`;
    test(`${v.kind}/${v.id}: ${outcome} at its suggested time`, async () => {
      const { run, report } = await verifyJson([join(v.dir, 'quote.bin'), '--collateral', v.dir, '--at', timeOf(v)]);
      const tee = v.kind === 'intel-sgx' ? 'sgx' : 'tdx';
      assert.equal(report.tee, tee);
      if (code) {
        assert.equal(run.code, 1, run.stderr);
        assert.equal(report.verified, false);
        assert.equal(report.claims, null);
        assert.equal(report.error?.code, code, report.error?.message);
        if (r.partial) {
          assert.equal(report.tcbStatus, r.platform_tcb_status);
          assert.deepEqual(report.advisoryIds, [...(r.platform_advisory_ids ?? [])].sort());
        }
        return;
      }
      assert.equal(run.code, 0, report.error?.message);
      assert.equal(report.verified, true);
      assert.equal(report.error, null);
      assert.equal(report.tcbStatus, r.tcb_status);
      assert.deepEqual(report.advisoryIds, [...(r.advisory_ids ?? [])].sort());
      const c = report.claims!;
      const b = v.expected.quote.body;
      assert.equal(c.tee, tee);
      assert.equal(c.reportData, b.reportdata);
      assert.equal(c.debug, v.expected.quote.debug);
      assert.equal(c.platform.fmspc, v.expected.pck_certificate!.fmspc);
      if (tee === 'sgx') {
        assert.deepEqual(c.measurements, { mrenclave: b.mrenclave, mrsigner: b.mrsigner });
      } else {
        for (const k of ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrseam', 'mrconfigid', 'mrowner', 'xfam'] as const) assert.equal(c.measurements[k], b[k], k);
        assert.equal(c.measurements.tdAttributes, b.td_attributes);
      }
      for (const hex of [c.reportData, ...Object.values(c.measurements)]) assert.match(hex, /^[0-9a-f]*$/);
    });
  }
});

describe('tee-tools verify --json on every shared SNP vector', { concurrency: true }, () => {
  for (const v of snp) {
    test(`amd-sev-snp/${v.id}: verifies it (exit 0) at the middle of its VCEK's validity`, async () => {
      const args = [v.report, '--vcek', v.vcek, '--at', v.at.toISOString()];
      if (v.certChain) args.push('--cert-chain', v.certChain);
      const { run, report } = await verifyJson(args);
      assert.equal(run.code, 0, report.error?.message);
      assert.equal(v.expected.expected_result.verifies, true);
      assert.equal(report.verified, true);
      assert.equal(report.tee, 'snp');
      assert.equal(report.tcbStatus, null);
      assert.deepEqual(report.advisoryIds, []);
      const c = report.claims!;
      const e = v.expected.report;
      assert.equal(c.measurements.measurement, e.measurement);
      assert.equal(c.measurements.hostData, e.host_data);
      assert.equal(c.reportData, e.report_data);
      assert.equal(c.platform.chipId, e.chip_id);
      assert.equal(c.debug, v.expected.expected_result.debug_allowed_by_policy);
      assert.equal(c.extra.vmpl, v.expected.expected_result.vmpl);
    });
  }
});

describe('tee-tools verify rejections (exit 1)', { concurrency: true }, () => {
  const sgx = intel.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
  const tdx = intel.find((v) => v.id === 'tdx-v5-alibaba-90c06f000000-2025')!;
  const quote = (v: IntelVector): string => join(v.dir, 'quote.bin');

  const tampered: [string, IntelVector, keyof ReturnType<typeof quoteRegions>, string][] = [
    ['the quote signature', sgx, 'quoteSignature', 'ATTEST_ERR_QUOTE_SIGNATURE'],
    ['the report body', sgx, 'body', 'ATTEST_ERR_QUOTE_SIGNATURE'],
    ['the QE report', tdx, 'qeReport', 'ATTEST_ERR_QE_REPORT_SIGNATURE'],
    ['the TD report body', tdx, 'body', 'ATTEST_ERR_QUOTE_SIGNATURE'],
  ];
  for (const [what, v, region, code] of tampered) {
    test(`a ${v.kind === 'intel-sgx' ? 'SGX' : 'TDX'} quote with a flipped byte in ${what} is rejected with ${code}`, async () => {
      const { start, end } = quoteRegions(v.quote)[region]!;
      const file = join(work, `tampered-${v.id}-${region}.bin`);
      await writeFile(file, flip(v.quote, Math.floor((start + end) / 2)));
      const { run, report } = await verifyJson([file, '--collateral', v.dir, '--at', timeOf(v)]);
      assert.equal(run.code, 1);
      assert.equal(report.verified, false);
      assert.equal(report.error?.code, code, report.error?.message);
    });
  }

  test('an SNP report with a flipped measurement byte is rejected with ATTEST_ERR_REPORT_SIGNATURE', async () => {
    const v = snp.find((x) => x.id === 'snp-v5-gcp-milan')!;
    const file = join(work, 'tampered-report.bin');
    await writeFile(file, flip(new Uint8Array(await readFile(v.report)), 0x90));
    const { run, report } = await verifyJson([file, '--vcek', v.vcek, '--at', v.at.toISOString()]);
    assert.equal(run.code, 1);
    assert.equal(report.error?.code, 'ATTEST_ERR_REPORT_SIGNATURE');
  });

  test('a quote a day after its validity window is rejected with ATTEST_ERR_COLLATERAL_EXPIRED', async () => {
    const at = new Date(sgx.window!.until.getTime() + 86_400_000).toISOString();
    const { run, report } = await verifyJson([quote(sgx), '--collateral', sgx.dir, '--at', at]);
    assert.equal(run.code, 1);
    assert.equal(report.error?.code, 'ATTEST_ERR_COLLATERAL_EXPIRED');
  });

  test('a quote with the collateral of another platform is rejected with ATTEST_ERR_FMSPC_MISMATCH', async () => {
    const other = intel.find((v) => v.id === 'sgx-v3-automata-quotev3-00606a000000-eval17')!;
    const { run, report } = await verifyJson([quote(sgx), '--collateral', other.dir, '--at', timeOf(sgx)]);
    assert.equal(run.code, 1);
    assert.equal(report.error?.code, 'ATTEST_ERR_FMSPC_MISMATCH');
  });

  test('a quote without --collateral is rejected with ATTEST_ERR_COLLATERAL_MISSING', async () => {
    const { run, report } = await verifyJson([quote(sgx), '--at', timeOf(sgx)]);
    assert.equal(run.code, 1);
    assert.equal(report.error?.code, 'ATTEST_ERR_COLLATERAL_MISSING');
  });

  test('--tee tdx given an SGX quote is rejected with ATTEST_ERR_TEE_MISMATCH', async () => {
    const { run, report } = await verifyJson([quote(sgx), '--tee', 'tdx', '--collateral', sgx.dir, '--at', timeOf(sgx)]);
    assert.equal(run.code, 1);
    assert.equal(report.tee, 'tdx');
    assert.equal(report.error?.code, 'ATTEST_ERR_TEE_MISMATCH');
  });

  test('a file that is no evidence is rejected with ATTEST_ERR_UNKNOWN_TEE', async () => {
    const { run, report } = await verifyJson([join(sgx.dir, 'tcb_info.json'), '--at', timeOf(sgx)]);
    assert.equal(run.code, 1);
    assert.equal(report.tee, null);
    assert.equal(report.error?.code, 'ATTEST_ERR_UNKNOWN_TEE');
  });

  test('a quote checked against a trust anchor that is not its root is rejected with ATTEST_ERR_UNTRUSTED_ROOT', async () => {
    const amdArk = join(snp.find((x) => x.id === 'snp-v3-ms-genoa')!.dir, 'ark.pem');
    const { run, report } = await verifyJson([quote(sgx), '--collateral', sgx.dir, '--trust-anchor', amdArk, '--at', timeOf(sgx)]);
    assert.equal(run.code, 1);
    assert.equal(report.error?.code, 'ATTEST_ERR_UNTRUSTED_ROOT');
  });

  test('without --json the verdict is a short text, and --at defaults to now (so old collateral is expired)', async () => {
    const ok = await tool(['verify', quote(sgx), '--collateral', sgx.dir, '--at', timeOf(sgx)]);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /^verified: sgx evidence v3, TCB status ConfigurationAndSWHardeningNeeded/);
    assert.ok(ok.stdout.split('\n').length < 15);
    const now = await tool(['verify', quote(sgx), '--collateral', sgx.dir]);
    assert.equal(now.code, 1);
    assert.match(now.stdout, /^rejected: sgx evidence: ATTEST_ERR_COLLATERAL_EXPIRED/);
  });
});

describe('tee-tools verify with sim evidence', { concurrency: true }, () => {
  test('verifies sim evidence only with its platform key as --trust-anchor', async () => {
    const platform = generateKeyPairSync('ed25519');
    const at = new Date('2026-03-01T12:00:00.000Z');
    const evidence = createSimEvidence({ measurement: new Uint8Array(48).fill(7), reportData: new Uint8Array([1, 2, 3]), platformKey: platform.privateKey, at });
    const file = join(work, 'sim.bin');
    const key = join(work, 'platform.pem');
    await writeFile(file, evidence);
    await writeFile(key, platform.publicKey.export({ type: 'spki', format: 'pem' }));
    const [trusted, untrusted] = await Promise.all([
      verifyJson([file, '--trust-anchor', key, '--at', at.toISOString()]),
      verifyJson([file, '--at', at.toISOString()]),
    ]);
    assert.equal(trusted.run.code, 0, trusted.report.error?.message);
    assert.equal(trusted.report.tee, 'sim');
    assert.equal(trusted.report.claims?.measurements.measurement, '07'.repeat(48));
    assert.equal(trusted.report.claims?.extra.insecure, true);
    assert.equal(untrusted.run.code, 1);
    assert.equal(untrusted.report.error?.code, 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY');
  });
});

describe('tee-tools usage and I/O errors (exit 2)', { concurrency: true }, () => {
  const sgx = intel.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
  const cases: [string, string[], RegExp][] = [
    ['a missing evidence file', ['verify', '/nonexistent/no-such-quote.bin'], /Cannot read evidence/],
    ['a missing collateral directory', ['verify', join(sgx.dir, 'quote.bin'), '--collateral', '/nonexistent/collateral'], /Cannot read collateral directory/],
    ['a missing VCEK file', ['verify', join(sgx.dir, 'quote.bin'), '--vcek', '/nonexistent/vcek.der'], /Cannot read VCEK/],
    ['an unknown flag', ['verify', join(sgx.dir, 'quote.bin'), '--frobnicate'], /unknown option '--frobnicate'/],
    ['an unknown --tee', ['verify', join(sgx.dir, 'quote.bin'), '--tee', 'tpm'], /--tee/],
    ['a time that is not ISO-8601', ['verify', join(sgx.dir, 'quote.bin'), '--at', 'yesterday'], /Invalid --at/],
    ['an unknown command', ['frobnicate'], /unknown command/],
    ['dump of a missing file', ['dump', '/nonexistent/quote.bin'], /Cannot read evidence/],
    ['collateral fetch with an FMSPC that is not hex', ['collateral', 'fetch', '--fmspc', 'xyz', '--pccs', 'http://127.0.0.1:9', '--out', '/tmp/x'], /Invalid --fmspc/],
    ['collateral fetch without --pccs', ['collateral', 'fetch', '--fmspc', '00a067110000', '--out', '/tmp/x'], /--pccs/],
  ];
  for (const [what, args, message] of cases) {
    test(`${what} exits 2 with one line "tee-tools: ..." on stderr`, async () => {
      const run = await tool(args);
      assert.equal(run.code, 2, `${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /^tee-tools: /);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, message);
    });
  }

  test('with --json an I/O error still prints exactly one object', async () => {
    const { run, report } = await verifyJson(['/nonexistent/quote.bin']);
    assert.equal(run.code, 2);
    assert.equal(report.verified, false);
    assert.equal(report.error?.code, 'TEE_TOOLS_ERR_IO');
  });
});

describe('tee-tools dump', { concurrency: true }, () => {
  const sgx = intel.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
  const tdx = intel.find((v) => v.id === 'tdx-v5-alibaba-90c06f000000-2025')!;
  const genoa = snp.find((x) => x.id === 'snp-v3-ms-genoa')!;

  test('--json prints the parsed SGX quote with its measurements, QE report and PCK FMSPC', async () => {
    const run = await tool(['dump', join(sgx.dir, 'quote.bin'), '--json']);
    assert.equal(run.code, 0, run.stderr);
    const d = JSON.parse(run.stdout) as { tee: string; verified: boolean; fields: Record<string, Record<string, unknown>> };
    assert.equal(d.tee, 'sgx');
    assert.equal(d.verified, false);
    const b = sgx.expected.quote.body;
    assert.equal(d.fields.body!.mrEnclave, b.mrenclave);
    assert.equal(d.fields.body!.mrSigner, b.mrsigner);
    assert.equal(d.fields.body!.reportData, b.reportdata);
    assert.equal((d.fields.signature!.qeReport as Record<string, unknown>).mrSigner, sgx.expected.qe_report!.mrsigner);
    assert.equal((d.fields.pckChain!.pckExtensions as Record<string, unknown>).fmspc, sgx.expected.pck_certificate!.fmspc);
  });

  test('--json prints the parsed TDX quote with MRTD and RTMRs', async () => {
    const run = await tool(['dump', join(tdx.dir, 'quote.bin'), '--json']);
    assert.equal(run.code, 0, run.stderr);
    const d = JSON.parse(run.stdout) as { tee: string; fields: Record<string, Record<string, unknown>> };
    assert.equal(d.tee, 'tdx');
    const b = tdx.expected.quote.body;
    for (const [mine, theirs] of [['mrTd', 'mrtd'], ['rtmr0', 'rtmr0'], ['rtmr3', 'rtmr3'], ['mrServiceTd', 'mrservicetd']] as const) {
      assert.equal(d.fields.body![mine], b[theirs], mine);
    }
  });

  test('--json prints the parsed SNP report with its measurement, policy and TCBs; text mode prints path: value lines', async () => {
    const [json, text] = await Promise.all([tool(['dump', genoa.report, '--json']), tool(['dump', genoa.report])]);
    assert.equal(json.code, 0, json.stderr);
    const d = JSON.parse(json.stdout) as { tee: string; fields: Record<string, unknown> };
    assert.equal(d.tee, 'snp');
    const e = genoa.expected.report;
    assert.equal(d.fields.measurement, e.measurement);
    assert.equal(d.fields.chipId, e.chip_id);
    assert.equal((d.fields.reportedTcb as Record<string, unknown>).hex, e.reported_tcb.raw);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /NOT verified/);
    assert.ok(text.stdout.includes(`measurement: ${e.measurement}`));
  });

  test('a file that is no evidence exits 1', async () => {
    const run = await tool(['dump', join(sgx.dir, 'tcb_info.json')]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^tee-tools: Cannot dump evidence/);
  });
});

describe('tee-tools collateral fetch against a PCS on 127.0.0.1', { concurrency: true }, () => {
  const sgx = intel.find((v) => v.id === 'sgx-v3-dcapqvl-00a067110000')!;
  const tdx = intel.find((v) => v.id === 'tdx-v5-alibaba-90c06f000000-2025')!;

  test('fetches SGX and TDX collateral into DIR in the vector layout, and verify --collateral DIR accepts it', async () => {
    for (const v of [sgx, tdx]) {
      const pcs = await startFakePcs(v);
      try {
        const out = join(work, `collateral-${v.id}`);
        const pck = v.expected.pck_certificate!;
        const args = ['collateral', 'fetch', '--fmspc', String(pck.fmspc).toUpperCase(), '--pccs', pcs.baseUrl, '--out', out, '--ca', String(pck.issuing_ca)];
        if (v.kind === 'intel-tdx') args.push('--tdx');
        const run = await tool(args);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /^wrote 7 files/);
        assert.deepEqual((await readdir(out)).sort(), [
          'pck_crl.der', 'pck_crl_issuer_chain.pem', 'qe_identity.json', 'qe_identity_issuer_chain.pem', 'root_ca_crl.der', 'tcb_info.json', 'tcb_info_issuer_chain.pem',
        ]);
        for (const f of ['tcb_info.json', 'qe_identity.json', 'pck_crl.der', 'root_ca_crl.der']) {
          assert.deepEqual(await readFile(join(out, f)), await readFile(join(v.dir, f)), f);
        }
        const { run: vr, report } = await verifyJson([join(v.dir, 'quote.bin'), '--collateral', out, '--at', timeOf(v)]);
        assert.equal(vr.code, 0, report.error?.message);
        assert.equal(report.tcbStatus, v.expected.expected_result.tcb_status);
      } finally {
        await pcs.close();
      }
    }
  });

  test('an HTTP error of the service exits 1 with ATTEST_ERR_COLLATERAL_FETCH', async () => {
    const pcs = await startFakePcs(sgx);
    pcs.failWith(503);
    try {
      const run = await tool(['collateral', 'fetch', '--fmspc', '00a067110000', '--pccs', pcs.baseUrl, '--out', join(work, 'fail')]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /^tee-tools: Cannot fetch collateral: .*HTTP 503/);
    } finally {
      await pcs.close();
    }
  });
});
