// The EAA front end caches verdicts on client certificates (src/verdictd/eaa/server.ts) until the trust
// configuration changes: a platform key removed from the store must not stay accepted through the cache.
import { strict as assert } from 'node:assert';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createNullAttester } from '../../../src/rats-tls/attesters/null.ts';
import { createLocalSimAttester } from '../../../src/rats-tls/attesters/sim-local.ts';
import { createRatsTlsIdentity } from '../../../src/rats-tls/identity.ts';
import { Broker } from '../../../src/verdictd/broker.ts';
import { createEaaServer } from '../../../src/verdictd/eaa/server.ts';
import { silentVerdictdLog } from '../../../src/verdictd/log.ts';
import { openEmbeddedStore } from '../../../src/verdictd/store/embedded.ts';
import { connectAttested, eaaExchange } from '../../support/verdictd.ts';

const dir = mkdtempSync(join(tmpdir(), 'verdictd-eaa-trust-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a client certificate accepted (and cached) is refused once its platform key is removed from the trust configuration, and accepted again when it is back', async () => {
  const platform = generateKeyPairSync('ed25519');
  const pem = platform.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const measurement = createHash('sha384').update('image').digest();
  const store = await openEmbeddedStore(join(dir, 'data'), { init: true });
  await store.setTrust({ simPlatformKeys: [pem] });
  await store.setPolicy('allow-sim', JSON.stringify({ name: 'allow-sim', rules: [{ name: 'sim', expression: "claims.tee == 'sim'" }] }));
  const { kid } = await store.createKey();
  const ok = JSON.stringify({ status: 'OK', data: { [kid]: Buffer.from(await store.getKey(kid)).toString('base64') } });
  const identity = await createRatsTlsIdentity({ attester: createNullAttester() });
  const eaa = createEaaServer({ broker: new Broker({ store, policy: 'allow-sim' }), identity, host: '127.0.0.1', port: 0, log: silentVerdictdLog });
  const { port } = await eaa.start();
  const id = await createRatsTlsIdentity({ attester: createLocalSimAttester({ platformKey: platform.privateKey, measurement }) });
  const ask = () => eaaExchange(connectAttested(port, id), JSON.stringify({ command: 'Get KEK', kids: [kid] })).catch((err: Error) => `refused: ${err.message}`);
  try {
    assert.equal(await ask(), ok);
    assert.equal(await ask(), ok); // the cached verdict
    await store.setTrust({ simPlatformKeys: [] });
    await eaa.refreshTrust();
    assert.match(await ask(), /^refused/);
    await store.setTrust({ simPlatformKeys: [pem] });
    await eaa.refreshTrust();
    assert.equal(await ask(), ok);
  } finally {
    id.close();
    identity.close();
    await eaa.close();
    await store.close();
  }
});
