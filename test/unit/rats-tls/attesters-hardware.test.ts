/**
 * The hardware attesters against doubles of their file systems that answer with real evidence from the
 * shared vectors: tdx/snp through configfs-tsm (the report data goes in as the 64-byte inblob, the outblob
 * comes back) and sgx through Gramine's /dev/attestation; certificates made with them carry the evidence
 * under the right tag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TsmFs } from '../../../src/attestation-socket/tsm.ts';
import { createTsmAttester } from '../../../src/rats-tls/attesters/tsm.ts';
import { createGramineAttester } from '../../../src/rats-tls/attesters/gramine.ts';
import { createAttestedCertificate } from '../../../src/rats-tls/certificate.ts';
import { TAG_INTEL_QUOTE, TAG_SNP_REPORT } from '../../../src/rats-tls/format.ts';
import { parseAttestedCertificate } from '../../../src/rats-tls/parse.ts';
import { verifyAttestedCertificate } from '../../../src/rats-tls/verify.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { VECTORS_ROOT } from '../../support/intel-vectors.ts';

/** configfs-tsm as the kernel behaves for one provider whose "hardware" always returns `evidence`. */
class CannedConfigfs implements TsmFs {
  readonly inblobs: Uint8Array[] = [];
  readonly live = new Set<string>();
  #generation = 0;
  constructor(readonly provider: string, readonly evidence: Uint8Array) {}
  async mkdir(path: string): Promise<void> {
    this.live.add(path);
  }
  async rmdir(path: string): Promise<void> {
    this.live.delete(path);
  }
  async write(path: string, data: Uint8Array): Promise<void> {
    assert.equal(basename(path), 'inblob');
    this.inblobs.push(Uint8Array.from(data));
    this.#generation++;
  }
  async read(path: string): Promise<Uint8Array> {
    const attr = basename(path);
    if (attr === 'provider') return Buffer.from(`${this.provider}\n`);
    if (attr === 'generation') return Buffer.from(`${this.#generation}\n`);
    return this.evidence;
  }
}

const tdxQuote = new Uint8Array(readFileSync(join(VECTORS_ROOT, 'intel-tdx/tdx-v4-dcapqvl-b0c06f000000/quote.bin')));
const snpReport = new Uint8Array(readFileSync(join(VECTORS_ROOT, 'amd-sev-snp/snp-v3-ms-genoa/report.bin')));

test('the tdx attester writes the report data as a zero-padded 64-byte inblob and returns the outblob', async () => {
  const fs = new CannedConfigfs('tdx_guest', tdxQuote);
  const attester = createTsmAttester({ tee: 'tdx', tsmPath: '/fake/tsm/report', fs });
  const evidence = await attester.getEvidence(new Uint8Array(32).fill(7));
  assert.deepEqual(evidence, tdxQuote);
  assert.deepEqual(fs.inblobs, [Uint8Array.from([...new Uint8Array(32).fill(7), ...new Uint8Array(32)])]);
  assert.equal(fs.live.size, 0, 'the report directory is removed again');
});

for (const [tee, provider, evidence, tag] of [['tdx', 'tdx_guest', tdxQuote, TAG_INTEL_QUOTE], ['snp', 'sev_guest', snpReport, TAG_SNP_REPORT]] as const) {
  test(`a certificate made with the ${tee} attester carries its evidence under tag ${tag}; a node's old report does not bind to it`, async () => {
    const attester = createTsmAttester({ tee, fs: new CannedConfigfs(provider, evidence) });
    const cert = await createAttestedCertificate({ attester });
    const parsed = parseAttestedCertificate(cert.certDer);
    assert.equal(parsed.format, 'dice');
    assert.equal(parsed.tag, tag);
    assert.deepEqual(parsed.evidence, evidence);
    // The canned evidence was made for other report data: the binding check must catch exactly that.
    const verdict = verifyAttestedCertificate(cert.certDer, { at: new Date() });
    assert.equal(verdict.verified, false);
    assert.equal(verdict.binding, 'invalid');
  });
}

test('an attester for one TEE on a node of another fails with RATS_TLS_ERR_ATTESTER', async () => {
  const attester = createTsmAttester({ tee: 'tdx', fs: new CannedConfigfs('sev_guest', snpReport) });
  await assert.rejects(attester.getEvidence(new Uint8Array(64)), (e) => isInclavareError(e, 'RATS_TLS_ERR_ATTESTER') && /configfs-tsm/.test(e.message));
  await assert.rejects(attester.getEvidence(new Uint8Array(65)), (e) => isInclavareError(e, 'RATS_TLS_ERR_ATTESTER'));
});

test('the Gramine sgx attester writes user_report_data and returns the quote; a non-DCAP Gramine is refused', async () => {
  const sgxQuote = new Uint8Array(readFileSync(join(VECTORS_ROOT, 'intel-sgx/sgx-v3-dcapqvl-00a067110000/quote.bin')));
  const written: Record<string, Uint8Array> = {};
  const files: Record<string, Uint8Array> = { attestation_type: Buffer.from('dcap\n'), quote: sgxQuote };
  const fs = {
    readFile: async (path: string) => files[basename(path)] ?? Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })),
    writeFile: async (path: string, data: Uint8Array) => {
      written[basename(path)] = Uint8Array.from(data);
    },
  };
  const attester = createGramineAttester({ dir: '/fake/dev/attestation', fs });
  assert.deepEqual(await attester.getEvidence(new Uint8Array([1, 2, 3])), sgxQuote);
  assert.deepEqual(written.user_report_data, Uint8Array.from([1, 2, 3, ...new Uint8Array(61)]));
  const cert = await createAttestedCertificate({ attester });
  assert.equal(parseAttestedCertificate(cert.certDer).tag, TAG_INTEL_QUOTE);

  files.attestation_type = Buffer.from('none\n');
  await assert.rejects(attester.getEvidence(new Uint8Array(64)), (e) => isInclavareError(e, 'RATS_TLS_ERR_ATTESTER') && /not "dcap"/.test(e.message));
  await assert.rejects(createGramineAttester({ dir: '/nonexistent/attestation' }).getEvidence(new Uint8Array(64)), (e) => isInclavareError(e, 'RATS_TLS_ERR_ATTESTER'));
});
