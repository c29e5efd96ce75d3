/**
 * issue #16 item 2 - every byte of a quote is covered by a signature or checked for form. Before: single-byte
 * changes of real quotes verified when they landed in the PCK chain's root certificate (a block the lenient PEM
 * reader skipped, the chain then completed from the trust anchor), in a certificate's outer length or its
 * signatureAlgorithm (bytes outside the signed TBS that a lenient DER decoder tolerated), in the PEM's line
 * breaks, or in the zero padding after the signature data. Now each is refused, with the code that names it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyIntelQuote } from '../../../src/attestation/intel/verify.ts';
import { codeOf, loadIntelVectors, quoteRegions, type IntelVector } from '../../support/intel-vectors.ts';

const vectors = (await loadIntelVectors()).filter((v) => v.expected.expected_result.verifies === true);
// One SGX quote and one TDX quote zero-padded to 8000 bytes (as GCP's stack writes them).
const picked = [vectors.find((v) => v.id.startsWith('sgx-'))!, vectors.find((v) => v.id.startsWith('tdx-') && v.quote.length === 8000)!];

function codeAfterFlip(v: IntelVector, offset: number): string {
  const q = v.quote.slice();
  q[offset] = q[offset]! ^ 0x01;
  return codeOf(() => verifyIntelQuote(q, { collateral: v.collateral, at: v.at! }));
}

for (const v of picked) {
  void test(`verifyIntelQuote() refuses ${v.id} with any one bit changed in its PCK chain (root included) or after its signature data`, () => {
    assert.ok(v, 'the vector exists');
    const chain = quoteRegions(v.quote).pckChain!;
    const text = Buffer.from(v.quote.subarray(chain.start, chain.end)).toString('latin1');
    const rootStart = chain.start + text.lastIndexOf('-----BEGIN CERTIFICATE-----');
    const seen = new Map<string, number>();
    for (let off = chain.start; off < v.quote.length; off++) {
      const code = codeAfterFlip(v, off);
      const where = off >= chain.end ? 'after' : off >= rootStart ? 'root' : 'chain';
      // MALFORMED: the chain is not exactly PEM certificates, or the padding is not zero; PCK_CHAIN: a certificate
      // is not DER or its signature fails; UNTRUSTED_ROOT: the root is another certificate than the anchor.
      const allowed = where === 'after' ? ['ATTEST_ERR_MALFORMED'] : where === 'root' ? ['ATTEST_ERR_MALFORMED', 'ATTEST_ERR_PCK_CHAIN', 'ATTEST_ERR_UNTRUSTED_ROOT'] : ['ATTEST_ERR_MALFORMED', 'ATTEST_ERR_PCK_CHAIN'];
      assert.ok(allowed.includes(code), `byte ${off} (${where}): ${code}`);
      seen.set(`${where} ${code}`, (seen.get(`${where} ${code}`) ?? 0) + 1);
    }
    // The root's body decodes to another certificate for most flips: named as an untrusted root.
    assert.ok((seen.get('root ATTEST_ERR_UNTRUSTED_ROOT') ?? 0) > 0, JSON.stringify([...seen]));
  });
}

void test('a non-zero byte in the zero padding after the signature data is ATTEST_ERR_MALFORMED, naming its offset', () => {
  const v = picked[1]!;
  const q = v.quote.slice();
  q[7999] = 1;
  assert.throws(() => verifyIntelQuote(q, { collateral: v.collateral, at: v.at! }), /byte 7999 after the signature data is not zero/);
});
