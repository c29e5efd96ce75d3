// The broker (src/verdictd/broker.ts): verify → policy → release or deny, every outcome audited first, over
// the embedded store with a fixed clock and an injected collateral source.
import { strict as assert } from 'node:assert';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { Broker, type CollateralSource } from '../../../src/verdictd/broker.ts';
import { claimsDigest } from '../../../src/verdictd/canonical-json.ts';
import { openEmbeddedStore, type EmbeddedStore } from '../../../src/verdictd/store/embedded.ts';
import { loadIntelVectors } from '../../support/intel-vectors.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const AT = new Date('2026-03-01T12:00:00.000Z');
const platform = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const pem = (k: typeof platform) => k.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const measurement = createHash('sha384').update('image-a').digest();
const reportData = createHash('sha512').update('nonce').digest();
const evidence = (o: { key?: typeof platform; m?: Buffer; at?: Date } = {}) =>
  createSimEvidence({ measurement: o.m ?? measurement, reportData, platformKey: (o.key ?? platform).privateKey, at: o.at ?? AT });
const platformKeyId = (k: typeof platform) => createHash('sha256').update(k.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
const peer = { address: '127.0.0.1:40000', frontEnd: 'test' };

async function setup(now: () => Date = () => AT): Promise<{ store: EmbeddedStore; broker: Broker; dir: string; kid: string; key: Uint8Array }> {
  const dir = mkdtempSync(join(tmpdir(), 'verdictd-broker-'));
  dirs.push(dir);
  const store = await openEmbeddedStore(join(dir, 'data'), { init: true, now });
  await store.setTrust({ simPlatformKeys: [pem(platform), pem(stranger)] });
  await store.setReferenceSet({ name: 'default', values: { measurement: [measurement.toString('hex')], platformKeyId: [platformKeyId(platform)] } });
  const { kid } = await store.createKey();
  return { store, broker: new Broker({ store, now }), dir, kid, key: await store.getKey(kid) };
}
function hasCode(code: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(isInclavareError(err), String(err));
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

void describe('Broker', () => {
  void it('releases a key to an enclave the default policy allows, and audits it with the claims digest and no secret', async () => {
    const { store, broker, dir, kid, key } = await setup();
    const release = await broker.attestAndRelease({ evidence: evidence(), reportData: reportData.toString('hex'), peer }, { kind: 'key', kid });
    assert.deepEqual(Buffer.from(release.value), Buffer.from(key));
    assert.equal(release.verdict.allow, true);
    const att = await broker.attest({ evidence: evidence(), peer });
    assert.equal(release.verdict.claimsDigest, claimsDigest(att.claims));
    const [rec] = await store.readAudit();
    assert.deepEqual(rec, { time: AT.toISOString(), peer: { ...peer, tee: 'sim' }, action: 'release-key', kid, claimsDigest: att.claimsDigest, policy: 'default', decision: 'allow' });
    const log = readFileSync(join(dir, 'data', 'audit.log'));
    for (const form of ['hex', 'base64'] as const) assert.equal(log.indexOf(Buffer.from(key).toString(form)), -1);
    await store.close();
  });

  void it('releases resources by path', async () => {
    const { store, broker } = await setup();
    await store.setResource('default/db/password', Buffer.from('s3cret'));
    const r = await broker.attestAndRelease({ evidence: evidence(), peer }, { kind: 'resource', path: 'default/db/password' });
    assert.equal(Buffer.from(r.value).toString(), 's3cret');
    assert.equal((await store.readAudit())[0]!.path, 'default/db/password');
    await store.close();
  });

  void it('denies another measurement with the rule and the claim named, to the caller and in the audit log', async () => {
    const { store, broker, kid } = await setup();
    const other = createHash('sha384').update('image-b').digest('hex');
    await assert.rejects(
      broker.attestAndRelease({ evidence: evidence({ m: Buffer.from(other, 'hex') }), peer }, { kind: 'key', kid }),
      (err: unknown) => {
        hasCode('VERDICTD_ERR_POLICY_DENIED', /policy "default" denies: rule "measurement"/)(err);
        assert.ok(isInclavareError(err) && err.message.includes(`measurements.measurement=${other}`));
        assert.equal(isInclavareError(err) && err.mapping.grpcStatus, 7);
        return true;
      },
    );
    const [rec] = await store.readAudit();
    assert.equal(rec!.decision, 'deny');
    assert.deepEqual(rec!.failedRules!.map((f) => [f.rule, f.claims['measurements.measurement']]), [['measurement', other]]);
    await store.close();
  });

  void it('denies sim evidence of a trusted key the reference set does not list (sim-platform-key)', async () => {
    const { store, broker, kid } = await setup();
    await assert.rejects(broker.attestAndRelease({ evidence: evidence({ key: stranger }), peer }, { kind: 'key', kid }), hasCode('VERDICTD_ERR_POLICY_DENIED', /sim-platform-key/));
    await store.close();
  });

  void it('rejects evidence of an untrusted platform key and audits the rejection; the peer cannot bring its own key', async () => {
    const { store, broker, kid } = await setup();
    const rogue = generateKeyPairSync('ed25519');
    const ev = evidence({ key: rogue });
    await assert.rejects(broker.attestAndRelease({ evidence: ev, peer, evidenceOptions: { sim: { platformKeys: [rogue.publicKey] } } }, { kind: 'key', kid }), (err: unknown) => {
      hasCode('VERDICTD_ERR_EVIDENCE_REJECTED')(err);
      assert.ok(isInclavareError((err as Error).cause, 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY'));
      return true;
    });
    const [rec] = await store.readAudit();
    assert.deepEqual([rec!.action, rec!.decision, rec!.error!.code], ['attest', 'deny', 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY']);
    await assert.rejects(broker.attest({ evidence: new Uint8Array(10), peer }), hasCode('VERDICTD_ERR_EVIDENCE_REJECTED', /no known evidence format/));
    await store.close();
  });

  void it('rejects evidence that binds other report data', async () => {
    const { store, broker } = await setup();
    await assert.rejects(broker.attest({ evidence: evidence(), reportData: '00'.repeat(64), peer }), hasCode('VERDICTD_ERR_EVIDENCE_REJECTED', /report data/));
    await store.close();
  });

  void it('refuses to release on an attestation whose validity has ended', async () => {
    let now = AT;
    const { store, broker, kid } = await setup(() => now);
    const att = await broker.attest({ evidence: evidence(), peer });
    now = new Date(AT.getTime() + 10 * 60_000);
    await assert.rejects(broker.release(att, { kind: 'key', kid }), hasCode('VERDICTD_ERR_EVIDENCE_REJECTED', /attest again/));
    assert.equal((await store.readAudit())[0]!.decision, 'deny');
    await store.close();
  });

  void it('judges before it looks the target up, and audits a missing kid as an error', async () => {
    const { store, broker } = await setup();
    const missing = '00000000-0000-4000-8000-000000000000';
    await assert.rejects(broker.attestAndRelease({ evidence: evidence({ key: stranger }), peer }, { kind: 'key', kid: missing }), hasCode('VERDICTD_ERR_POLICY_DENIED'));
    await assert.rejects(broker.attestAndRelease({ evidence: evidence(), peer }, { kind: 'key', kid: missing }), hasCode('VERDICTD_ERR_NOT_FOUND'));
    assert.deepEqual((await store.readAudit()).map((r) => r.decision), ['deny', 'error']);
    await store.close();
  });

  void it('releases nothing when the audit record cannot be written', async () => {
    const { store, broker, kid } = await setup();
    const att = await broker.attest({ evidence: evidence(), peer });
    await store.close();
    await assert.rejects(broker.release(att, { kind: 'key', kid }), hasCode('VERDICTD_ERR_AUDIT'));
  });

  void it('uses a stored policy over the shipped one of the same name, and a named policy', async () => {
    const { store, kid } = await setup();
    await store.setPolicy('default', '{"name":"default","rules":[{"name":"no","expression":"false","message":"closed"}]}');
    const att = await new Broker({ store, now: () => AT }).attest({ evidence: evidence(), peer });
    await assert.rejects(new Broker({ store, now: () => AT }).release(att, { kind: 'key', kid }), hasCode('VERDICTD_ERR_POLICY_DENIED', /rule "no"/));
    assert.equal((await new Broker({ store, now: () => AT, policy: 'allow-all' }).release(att, { kind: 'key', kid })).verdict.policy, 'allow-all');
    await assert.rejects(new Broker({ store, now: () => AT, policy: 'nosuch' }).release(att, { kind: 'key', kid }), hasCode('VERDICTD_ERR_NOT_FOUND'));
    assert.equal((await store.readAudit()).at(-1)!.decision, 'error');
    await store.close();
  });

  void it('verifies real TDX evidence with collateral from the injected source and releases on its mrtd', async () => {
    const v = (await loadIntelVectors()).find((x) => x.id === 'tdx-v4-tinfoil-90c06f000000')!;
    const { store, kid } = await setup();
    const asked: string[] = [];
    const collateral: CollateralSource = {
      optionsFor: async (tee) => {
        asked.push(tee);
        return { tdx: { collateral: v.collateral } };
      },
    };
    const broker = new Broker({ store, now: () => v.at!, collateral });
    const att = await broker.attest({ evidence: v.quote, peer });
    await store.setReferenceSet({ name: 'default', values: { mrtd: [att.claims.measurements.mrtd!] } });
    assert.equal((await broker.release(att, { kind: 'key', kid })).verdict.allow, true);
    assert.deepEqual(asked, ['tdx']);
    await store.close();
  });
});
