/**
 * The built `tee-tools verify-cert` (dist/tee-tools.mjs) on the real RA-TLS certificates of
 * test/vectors/ra-tls and on our own sim certificates: JSON contract, binding, exit statuses.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalSimAttester } from '../../src/rats-tls/attesters/sim-local.ts';
import { createAttestedCertificate } from '../../src/rats-tls/certificate.ts';
import { loadIntelCollateral } from '../../src/collateral/intel-dir.ts';
import { VECTORS_ROOT } from '../support/vectors.ts';

const TOOL = new URL('../../dist/tee-tools.mjs', import.meta.url).pathname;
const VECTORS = VECTORS_ROOT;
const RA_TLS = join(VECTORS, 'ra-tls');
const EVAL17 = join(VECTORS, 'intel-sgx', 'sgx-v3-automata-quotev3-00606a000000-eval17');
const EVAL17_AT = '2025-06-27T23:08:42Z';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface CertReport {
  verified: boolean;
  binding: string;
  format: string;
  evidence: { verified: boolean; tee: string | null; tcbStatus: string | null; error: { code: string } | null } | null;
  error: { code: string; message: string } | null;
  endorsements: { used: string[]; error: { code: string } | null } | null;
}

function tool(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TOOL, ...args], { timeout: 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

const PLATFORM = generateKeyPairSync('ed25519');
let dir: string;

void describe('tee-tools verify-cert', () => {
  before(async () => {
    assert.ok(existsSync(TOOL), 'dist/tee-tools.mjs is missing: run `npm run build` first');
    dir = await mkdtemp(join(tmpdir(), 'verify-cert-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const real = [
    ['ratls-gramine-interop-sgx/gramine-cert.pem', 'OutOfDate', []],
    // rats-rs certificates live one minute (April 2024); the collateral is from 2025.
    ['ratls-rats-rs-demo-sgx/demo-sgx-cert.pem', 'OutOfDateConfigurationNeeded', ['--ignore-validity-period']],
  ] as const;

  void test('verifies the Gramine and rats-rs certificates with collateral of their FMSPC, binding checked (exit 0)', async () => {
    await Promise.all(
      real.map(async ([file, status, extra]) => {
        const run = await tool(['verify-cert', join(RA_TLS, file), '--collateral', EVAL17, '--at', EVAL17_AT, '--json', ...extra]);
        assert.equal(run.code, 0, `${file}: ${run.stdout}${run.stderr}`);
        const r = JSON.parse(run.stdout) as CertReport;
        assert.deepEqual([r.verified, r.binding, r.format, r.error], [true, 'valid', 'dice', null], file);
        assert.equal(r.evidence?.verified, true);
        assert.equal(r.evidence?.tcbStatus, status);
      }),
    );
  });

  void test("verifies the Gramine certificate's legacy extension (0.6.9.42.840.113741.1337.6)", async () => {
    const run = await tool(['verify-cert', join(RA_TLS, 'ratls-gramine-interop-sgx/gramine-cert.pem'), '--collateral', EVAL17, '--at', EVAL17_AT, '--extension', 'legacy', '--json']);
    assert.equal(run.code, 0, run.stdout);
    const r = JSON.parse(run.stdout) as CertReport;
    assert.deepEqual([r.verified, r.binding, r.format], [true, 'valid', 'legacy']);
  });

  void test('the Intel SGX SDK certificate: binding valid, and everything but the TCB level verifies; no TCB Info for FMSPC 00706a100000 exists (exit 1)', async () => {
    const cert = join(RA_TLS, 'ratls-intel-sgxsdk-interop-sgx/intel-sgxsdk-cert.pem');
    const bare = JSON.parse((await tool(['verify-cert', cert, '--at', EVAL17_AT, '--json'])).stdout) as CertReport;
    assert.deepEqual([bare.verified, bare.binding, bare.format, bare.evidence?.error?.code], [false, 'valid', 'dice', 'ATTEST_ERR_COLLATERAL_MISSING']);

    // The platform-independent collateral (QE identity, PCK Processor CA CRL, Root CA CRL) of another vector
    // whose PCK certificate has the same CA: only the per-platform TCB Info is left missing.
    const generic = join(dir, 'generic-collateral');
    await mkdir(generic);
    const source = join(VECTORS, 'intel-sgx/sgx-v3-dcapqvl-00a067110000');
    for (const f of ['qe_identity.json', 'qe_identity_issuer_chain.pem', 'pck_crl.der', 'pck_crl_issuer_chain.pem', 'root_ca_crl.der']) await copyFile(join(source, f), join(generic, f));
    const run = await tool(['verify-cert', cert, '--collateral', generic, '--at', '2025-07-04T10:28:44Z', '--json']);
    assert.equal(run.code, 1);
    const r = JSON.parse(run.stdout) as CertReport;
    assert.deepEqual([r.verified, r.binding, r.format], [false, 'valid', 'dice']);
    const error = r.evidence?.error as { code: string; details?: { missing: string[]; checked: string[]; fmspc: string } };
    assert.equal(error.code, 'ATTEST_ERR_COLLATERAL_MISSING');
    assert.deepEqual(error.details?.missing, ['tcbInfo', 'tcbInfoIssuerChain']);
    assert.equal(error.details?.fmspc, '00706a100000');
    for (const check of ['quote signature', 'QE report signature', 'PCK certificate chain to the trusted root', 'PCK certificate not revoked', 'PCK CA not revoked']) {
      assert.ok(error.details?.checked.includes(check), check);
    }
  });

  void test("a certificate's endorsements are the collateral when --collateral is absent (TDX quote, binding checked separately)", async () => {
    const tdx = join(VECTORS, 'intel-tdx/tdx-v4-dcapqvl-b0c06f000000');
    const quote = new Uint8Array(readFileSync(join(tdx, 'quote.bin')));
    // A replayed quote: its report_data was made for another key, so the binding must come out invalid.
    const c = await createAttestedCertificate({ attester: { tee: 'tdx', getEvidence: async () => quote }, endorsements: await loadIntelCollateral(tdx) });
    const cert = join(dir, 'tdx-endorsed.pem');
    await writeFile(cert, c.certPem);
    const run = await tool(['verify-cert', cert, '--at', '2025-07-04T10:16:31Z', '--ignore-validity-period', '--json']);
    assert.equal(run.code, 1, run.stderr);
    const r = JSON.parse(run.stdout) as CertReport;
    assert.deepEqual([r.verified, r.binding, r.evidence?.verified, r.evidence?.tee], [false, 'invalid', true, 'tdx']);
    assert.equal(r.endorsements?.used.length, 7);
    assert.equal(r.error?.code, 'RATS_TLS_ERR_REPORT_DATA_MISMATCH');
    const text = await tool(['verify-cert', cert, '--at', '2025-07-04T10:16:31Z', '--ignore-validity-period']);
    assert.match(text.stdout, /^rejected: dice certificate, binding invalid, 7 collateral items from its endorsements/);
  });

  void test('the rats-rs certificate is rejected outside its validity period by default (exit 1)', async () => {
    const run = await tool(['verify-cert', join(RA_TLS, 'ratls-rats-rs-demo-sgx/demo-sgx-cert.pem'), '--collateral', EVAL17, '--at', EVAL17_AT, '--json']);
    assert.equal(run.code, 1);
    const r = JSON.parse(run.stdout) as CertReport;
    assert.equal(r.error?.code, 'RATS_TLS_ERR_CERT_NOT_VALID');
    assert.equal(r.binding, 'valid');
  });

  void test('a sim certificate verifies with the platform key as trust anchor and a nonce; a wrong nonce is exit 1', async () => {
    const c = await createAttestedCertificate({ attester: createLocalSimAttester({ platformKey: PLATFORM.privateKey }), nonce: Uint8Array.of(0xab, 0xcd) });
    const cert = join(dir, 'sim.pem');
    const anchor = join(dir, 'platform.pem');
    await writeFile(cert, c.certPem);
    await writeFile(anchor, PLATFORM.publicKey.export({ type: 'spki', format: 'pem' }));
    const [ok, stale, text] = await Promise.all([
      tool(['verify-cert', cert, '--trust-anchor', anchor, '--nonce', 'abcd', '--json']),
      tool(['verify-cert', cert, '--trust-anchor', anchor, '--nonce', '0102', '--json']),
      tool(['verify-cert', cert, '--trust-anchor', anchor]),
    ]);
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal((JSON.parse(ok.stdout) as CertReport).evidence?.tee, 'sim');
    assert.equal(stale.code, 1);
    assert.equal((JSON.parse(stale.stdout) as CertReport).error?.code, 'RATS_TLS_ERR_NONCE_MISMATCH');
    assert.match(text.stdout, /^verified: dice certificate, binding valid/);
  });

  void test('usage and I/O errors are exit 2; a file that is no certificate is exit 1', async () => {
    const junk = join(dir, 'junk.bin');
    await writeFile(junk, 'not a certificate');
    const [missing, badAt, badNonce, notCert] = await Promise.all([
      tool(['verify-cert', join(dir, 'nope.pem'), '--json']),
      tool(['verify-cert', junk, '--at', 'yesterday']),
      tool(['verify-cert', junk, '--nonce', 'xyz']),
      tool(['verify-cert', junk, '--json']),
    ]);
    assert.equal(missing.code, 2);
    assert.equal(badAt.code, 2);
    assert.equal(badNonce.code, 2);
    assert.equal(notCert.code, 1);
    assert.equal((JSON.parse(notCert.stdout) as CertReport).error?.code, 'RATS_TLS_ERR_MALFORMED');
  });
});
