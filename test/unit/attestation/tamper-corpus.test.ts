/**
 * The tamper corpus (docs/attestation.md, "Tamper corpus"): every named field of every real vector that
 * verifies, changed one at a time (signature, each measurement, report_data, TCB fields, certificate chain
 * links, collateral dates, CRLs), each rejected with the code that names what broke. The same table is the one
 * in docs/attestation.md: this test fails when they differ, so the document shows what is tested.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifyIntelQuote } from '../../../src/attestation/intel/verify.ts';
import type { IntelCollateral } from '../../../src/attestation/intel/collateral.ts';
import { verifySnpReport } from '../../../src/attestation/snp/verify.ts';
import { codeOf, flip, loadIntelVectors, quoteRegions, type IntelVector } from '../../support/intel-vectors.ts';
import { loadSnpVectorFiles, snpInputs } from '../../support/snp-vectors.ts';

const repo = join(import.meta.dirname, '..', '..', '..');

/** A field: where it is (relative to its region) and the code a change of it must give. */
interface FieldCase {
  tee: 'SGX' | 'TDX' | 'SNP' | 'SGX, TDX';
  field: string;
  /** Region of the quote (quoteRegions) or `report` for SNP. */
  region: string;
  offset: number;
  length: number;
  code: string;
}

// Intel: offsets inside the quote body (SGX REPORT body; TDX TD report) and inside the QE report.
const SGX_BODY: [string, number, number][] = [
  ['CPUSVN (TCB)', 0, 16],
  ['MISCSELECT', 16, 4],
  ['ATTRIBUTES (debug bit)', 48, 16],
  ['MRENCLAVE', 64, 32],
  ['MRSIGNER', 128, 32],
  ['ISVPRODID', 256, 2],
  ['ISVSVN', 258, 2],
  ['REPORTDATA', 320, 64],
];
const TDX_BODY: [string, number, number][] = [
  ['TEE_TCB_SVN (TCB)', 0, 16],
  ['MRSEAM', 16, 48],
  ['MRSIGNERSEAM', 64, 48],
  ['SEAMATTRIBUTES', 112, 8],
  ['TDATTRIBUTES (debug bit)', 120, 8],
  ['XFAM', 128, 8],
  ['MRTD', 136, 48],
  ['MRCONFIGID', 184, 48],
  ['MROWNER', 232, 48],
  ['MROWNERCONFIG', 280, 48],
  ['RTMR0', 328, 48],
  ['RTMR1', 376, 48],
  ['RTMR2', 424, 48],
  ['RTMR3', 472, 48],
  ['REPORTDATA', 520, 64],
];
const SNP_REPORT: [string, number, number, string][] = [
  ['GUEST_SVN', 0x04, 4, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['POLICY (debug bit)', 0x08, 8, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['FAMILY_ID', 0x10, 16, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['IMAGE_ID', 0x20, 16, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['VMPL', 0x30, 4, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['CURRENT_TCB', 0x38, 8, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['PLATFORM_INFO', 0x40, 8, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['REPORT_DATA', 0x50, 64, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['MEASUREMENT', 0x90, 48, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['HOST_DATA', 0xc0, 32, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['ID_KEY_DIGEST', 0xe0, 48, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['AUTHOR_KEY_DIGEST', 0x110, 48, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['REPORT_ID', 0x140, 32, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['REPORTED_TCB', 0x180, 8, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['CHIP_ID', 0x1a0, 64, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['COMMITTED_TCB', 0x1e0, 8, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['LAUNCH_TCB', 0x1f0, 8, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['SIGNATURE r', 0x2a0, 48, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['SIGNATURE s', 0x2e8, 48, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['VERSION (another supported version)', 0x00, 1, 'ATTEST_ERR_REPORT_SIGNATURE'],
  ['SIGNATURE_ALGO', 0x34, 1, 'ATTEST_ERR_REPORT_SIGNATURE'],
];

const FIELDS: FieldCase[] = [
  ...SGX_BODY.map(([field, offset, length]): FieldCase => ({ tee: 'SGX', field, region: 'body', offset, length, code: 'ATTEST_ERR_QUOTE_SIGNATURE' })),
  ...TDX_BODY.map(([field, offset, length]): FieldCase => ({ tee: 'TDX', field, region: 'body', offset, length, code: 'ATTEST_ERR_QUOTE_SIGNATURE' })),
  { tee: 'SGX, TDX', field: 'QE vendor ID, user data (header)', region: 'header', offset: 12, length: 36, code: 'ATTEST_ERR_QUOTE_SIGNATURE' },
  { tee: 'SGX, TDX', field: 'quote signature', region: 'quoteSignature', offset: 0, length: 64, code: 'ATTEST_ERR_QUOTE_SIGNATURE' },
  { tee: 'SGX, TDX', field: 'attestation key', region: 'attestationKey', offset: 0, length: 64, code: 'ATTEST_ERR_QE_REPORT_BINDING' },
  { tee: 'SGX, TDX', field: 'QE report: MRENCLAVE', region: 'qeReport', offset: 64, length: 32, code: 'ATTEST_ERR_QE_REPORT_SIGNATURE' },
  { tee: 'SGX, TDX', field: 'QE report: ISVSVN', region: 'qeReport', offset: 258, length: 2, code: 'ATTEST_ERR_QE_REPORT_SIGNATURE' },
  { tee: 'SGX, TDX', field: 'QE report: REPORTDATA (key binding)', region: 'qeReport', offset: 320, length: 64, code: 'ATTEST_ERR_QE_REPORT_SIGNATURE' },
  { tee: 'SGX, TDX', field: 'QE report signature', region: 'qeReportSignature', offset: 0, length: 64, code: 'ATTEST_ERR_QE_REPORT_SIGNATURE' },
  { tee: 'SGX, TDX', field: 'QE authentication data', region: 'qeAuthData', offset: 0, length: 32, code: 'ATTEST_ERR_QE_REPORT_BINDING' },
  ...SNP_REPORT.map(([field, offset, length, code]): FieldCase => ({ tee: 'SNP', field, region: 'report', offset, length, code })),
];

/** Whole-item cases: what changes and the code. */
interface ItemCase {
  tee: 'SGX, TDX' | 'SNP';
  item: string;
  code: string;
}

/** Changes one character of the `member` body's issueDate or nextUpdate (keeps the JSON valid). */
function tamperDate(doc: string, member: string, key: 'issueDate' | 'nextUpdate'): string {
  const start = doc.indexOf(`"${member}":`);
  const i = doc.indexOf(`"${key}":"`, start) + key.length + 4 + 3;
  assert.ok(i > start && /[0-9]/.test(doc[i]!));
  return doc.slice(0, i) + (doc[i] === '9' ? '8' : String(Number(doc[i]) + 1)) + doc.slice(i + 1);
}

/** The PEM blocks of a chain, and the chain with block `i` changed inside its base64 (same length, valid PEM). */
function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}
function tamperPemBlock(quote: Uint8Array, blockIndex: number): Uint8Array {
  const text = Buffer.from(quote).toString('latin1');
  const starts: number[] = [];
  for (let i = text.indexOf('-----BEGIN CERTIFICATE-----'); i >= 0; i = text.indexOf('-----BEGIN CERTIFICATE-----', i + 1)) starts.push(i);
  const at = starts[blockIndex]! + 28 + 300;
  const out = quote.slice();
  const ch = String.fromCharCode(out[at]!);
  assert.match(ch, /[A-Za-z0-9+/]/);
  out[at] = (ch === 'A' ? 'B' : 'A').charCodeAt(0);
  return out;
}

const INTEL_ITEMS: [string, string, (v: IntelVector) => { quote?: Uint8Array; collateral?: IntelCollateral; at?: Date }][] = [
  ['PCK certificate (chain link 1)', 'ATTEST_ERR_PCK_CHAIN', (v) => ({ quote: tamperPemBlock(v.quote, 0) })],
  ['PCK CA certificate (chain link 2)', 'ATTEST_ERR_PCK_CHAIN', (v) => ({ quote: tamperPemBlock(v.quote, 1) })],
  ['root certificate in the quote (chain link 3)', 'ATTEST_ERR_PCK_CHAIN', (v) => ({ quote: tamperPemBlock(v.quote, 2) })],
  ['TCB Info body (a TCB level)', 'ATTEST_ERR_TCB_INFO_SIGNATURE', (v) => ({ collateral: { ...v.collateral, tcbInfo: v.collateral.tcbInfo!.replace(/"isvsvn":(\d)/, (_m, d: string) => `"isvsvn":${d === '9' ? 8 : Number(d) + 1}`).replace(/"pcesvn":(\d)/, (_m, d: string) => `"pcesvn":${d === '9' ? 8 : Number(d) + 1}`) } })],
  ['TCB Info issueDate', 'ATTEST_ERR_TCB_INFO_SIGNATURE', (v) => ({ collateral: { ...v.collateral, tcbInfo: tamperDate(v.collateral.tcbInfo!, 'tcbInfo', 'issueDate') } })],
  ['TCB Info nextUpdate', 'ATTEST_ERR_TCB_INFO_SIGNATURE', (v) => ({ collateral: { ...v.collateral, tcbInfo: tamperDate(v.collateral.tcbInfo!, 'tcbInfo', 'nextUpdate') } })],
  ['TCB Info signing certificate', 'ATTEST_ERR_TCB_INFO_SIGNATURE', (v) => ({ collateral: { ...v.collateral, tcbInfoIssuerChain: v.collateral.pckCrlIssuerChain! } })],
  ['QE Identity issueDate', 'ATTEST_ERR_QE_IDENTITY_SIGNATURE', (v) => ({ collateral: { ...v.collateral, qeIdentity: tamperDate(v.collateral.qeIdentity!, 'enclaveIdentity', 'issueDate') } })],
  ['QE Identity nextUpdate', 'ATTEST_ERR_QE_IDENTITY_SIGNATURE', (v) => ({ collateral: { ...v.collateral, qeIdentity: tamperDate(v.collateral.qeIdentity!, 'enclaveIdentity', 'nextUpdate') } })],
  ['PCK CRL (signature bytes)', 'ATTEST_ERR_CRL', (v) => ({ collateral: { ...v.collateral, pckCrl: flip(v.collateral.pckCrl!, v.collateral.pckCrl!.length - 3) } })],
  ['Root CA CRL (signature bytes)', 'ATTEST_ERR_CRL', (v) => ({ collateral: { ...v.collateral, rootCaCrl: flip(v.collateral.rootCaCrl!, v.collateral.rootCaCrl!.length - 3) } })],
  ['verification time after the collateral window', 'ATTEST_ERR_COLLATERAL_EXPIRED', (v) => ({ at: new Date(v.window!.until.getTime() + 1000) })],
  ['verification time before the collateral window', 'ATTEST_ERR_COLLATERAL_EXPIRED', (v) => ({ at: new Date(v.window!.from.getTime() - 1000) })],
];

const SNP_ITEMS: [string, string][] = [
  ['VCEK signature (AMD\'s, by the ASK)', 'ATTEST_ERR_CERT_CHAIN'],
  ['verification time after the VCEK window', 'ATTEST_ERR_COLLATERAL_EXPIRED'],
  ['verification time before the VCEK window', 'ATTEST_ERR_COLLATERAL_EXPIRED'],
];

const ITEMS: ItemCase[] = [...INTEL_ITEMS.map(([item, code]): ItemCase => ({ tee: 'SGX, TDX', item, code })), ...SNP_ITEMS.map(([item, code]): ItemCase => ({ tee: 'SNP', item, code }))];

/** The markdown table of docs/attestation.md, "Tamper corpus". */
function table(): string {
  const rows = [
    '| TEE | what changes | error code |',
    '|---|---|---|',
    ...FIELDS.map((f) => `| ${f.tee} | ${f.field} (bytes ${f.region === 'report' ? '0x' + f.offset.toString(16) : `${f.region}+${f.offset}`}, ${f.length}) | \`${f.code}\` |`),
    ...ITEMS.map((i) => `| ${i.tee} | ${i.item} | \`${i.code}\` |`),
  ];
  return rows.join('\n');
}

const intel = (await loadIntelVectors()).filter((v) => v.expected.expected_result.verifies === true && v.at !== undefined);
const snp = loadSnpVectorFiles().filter((v) => v.expected.expected_result?.verifies !== false);

if (process.env.PRINT_TAMPER_TABLE === '1') process.stdout.write(`${table()}\n`);

void test('docs/attestation.md shows exactly the tamper table this test runs', () => {
  const doc = readFileSync(join(repo, 'docs', 'attestation.md'), 'utf8');
  const begin = doc.indexOf('<!-- tamper-corpus:begin -->');
  const end = doc.indexOf('<!-- tamper-corpus:end -->');
  assert.ok(begin >= 0 && end > begin, 'docs/attestation.md has the tamper-corpus markers');
  assert.equal(doc.slice(begin + '<!-- tamper-corpus:begin -->'.length, end).trim(), table(), 'regenerate the table: PRINT_TAMPER_TABLE=1 node --import tsx test/unit/attestation/tamper-corpus.test.ts');
});

for (const v of intel) {
  const tee = v.kind === 'intel-sgx' ? 'SGX' : 'TDX';
  void test(`tamper corpus: every field of ${v.id} (first, middle, last byte of each)`, () => {
    const regions = quoteRegions(v.quote);
    for (const f of FIELDS.filter((c) => c.tee.includes(tee))) {
      const r = regions[f.region]!;
      const start = r.start + f.offset;
      assert.ok(start + f.length <= r.end, `${f.field} lies inside ${f.region}`);
      for (const off of new Set([start, start + (f.length >> 1), start + f.length - 1])) {
        assert.equal(codeOf(() => verifyIntelQuote(flip(v.quote, off), { collateral: v.collateral, at: v.at! })), f.code, `${f.field}, byte ${off}`);
      }
    }
  });

  void test(`tamper corpus: chain links, collateral items and dates of ${v.id}`, () => {
    assert.equal(pemBlocks(Buffer.from(v.quote).toString('latin1')).length, 3);
    for (const [item, code, change] of INTEL_ITEMS) {
      if (item.startsWith('verification time') && v.window === undefined) continue;
      const { quote = v.quote, collateral = v.collateral, at = v.at! } = change(v);
      assert.equal(codeOf(() => verifyIntelQuote(quote, { collateral, at })), code, item);
    }
  });
}

for (const v of snp) {
  const report = new Uint8Array(readFileSync(v.report));
  const inputs = snpInputs(v);
  void test(`tamper corpus: every field of ${v.id} (first, middle, last byte of each), the VCEK and the window`, () => {
    assert.doesNotThrow(() => verifySnpReport(report, { ...inputs, at: v.at }));
    for (const f of FIELDS.filter((c) => c.tee === 'SNP')) {
      for (const off of new Set([f.offset, f.offset + (f.length >> 1), f.offset + f.length - 1])) {
        assert.equal(codeOf(() => verifySnpReport(flip(report, off), { ...inputs, at: v.at })), f.code, `${f.field}, byte 0x${off.toString(16)}`);
      }
    }
    const vcek = typeof inputs.vcek === 'string' ? new Uint8Array(Buffer.from(inputs.vcek.replace(/-----[^-]+-----|\s/g, ''), 'base64')) : inputs.vcek;
    assert.equal(codeOf(() => verifySnpReport(report, { ...inputs, vcek: flip(vcek, vcek.length - 5), at: v.at })), 'ATTEST_ERR_CERT_CHAIN', SNP_ITEMS[0]![0]);
    assert.equal(codeOf(() => verifySnpReport(report, { ...inputs, at: new Date(v.notAfter.getTime() + 1000) })), 'ATTEST_ERR_COLLATERAL_EXPIRED', SNP_ITEMS[1]![0]);
    assert.equal(codeOf(() => verifySnpReport(report, { ...inputs, at: new Date(v.notBefore.getTime() - 1000) })), 'ATTEST_ERR_COLLATERAL_EXPIRED', SNP_ITEMS[2]![0]);
  });
}
