// --collateral-dir (src/verdictd/collateral.ts): the broker verifies the SGX and TDX vectors' quotes with the
// collateral of their directories, RATS-TLS front ends get it without evidence, and a bad directory is a
// startup error naming it.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Broker } from '../../../src/verdictd/broker.ts';
import { directoryCollateralSource } from '../../../src/verdictd/collateral.ts';
import { openEmbeddedStore } from '../../../src/verdictd/store/embedded.ts';
import { loadIntelVectors } from '../../support/intel-vectors.ts';

const work = mkdtempSync(join(tmpdir(), 'verdictd-collateral-'));
after(() => rmSync(work, { recursive: true, force: true }));
const vectors = (await loadIntelVectors()).filter((v) => v.expected.expected_result.verifies === true && v.at !== undefined);
const sgx = vectors.find((v) => v.kind === 'intel-sgx')!;
const tdx = vectors.find((v) => v.kind === 'intel-tdx')!;

void describe('--collateral-dir', () => {
  for (const v of [sgx, tdx]) {
    void it(`the broker verifies ${v.id}'s quote with the collateral of its directory, and rejects it without`, async () => {
      const store = await openEmbeddedStore(join(work, v.id), { init: true });
      try {
        const peer = { address: 'test' };
        const without = new Broker({ store, now: () => v.at! });
        await assert.rejects(without.attest({ evidence: v.quote, peer }), { code: 'VERDICTD_ERR_EVIDENCE_REJECTED' });
        const broker = new Broker({ store, now: () => v.at!, collateral: await directoryCollateralSource(v.dir) });
        const attestation = await broker.attest({ evidence: v.quote, peer });
        assert.equal(attestation.claims.tee, v.kind === 'intel-sgx' ? 'sgx' : 'tdx');
        // Without evidence (what the EAA front end's RATS-TLS verifier is given): both Intel TEEs get it.
        const options = await broker.evidenceOptions(v.at!);
        assert.deepEqual(options.sgx?.collateral, v.collateral);
        assert.deepEqual(options.tdx?.collateral, v.collateral);
      } finally {
        await store.close();
      }
    });
  }

  void it('a directory that is missing or holds no collateral file is VERDICTD_ERR_USAGE naming it', async () => {
    const missing = join(work, 'no-such-dir');
    await assert.rejects(directoryCollateralSource(missing), (err: Error & { code?: string }) => err.code === 'VERDICTD_ERR_USAGE' && err.message.includes(missing));
    const empty = join(work, 'empty');
    mkdirSync(empty);
    await assert.rejects(directoryCollateralSource(empty), (err: Error & { code?: string }) => err.code === 'VERDICTD_ERR_USAGE' && err.message.includes(`${empty}: it holds none`));
  });
});
