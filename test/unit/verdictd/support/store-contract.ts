// The Store contract (src/verdictd/store/store.ts) as tests that every implementation passes: run by
// store.test.ts against the embedded store and by store-postgres.test.ts against the PostgreSQL store.
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { isInclavareError } from '../../../../src/errors/errors.ts';
import { BUILTIN_POLICIES } from '../../../../src/verdictd/policy/builtin.ts';
import type { AuditRecord, Store } from '../../../../src/verdictd/store/store.ts';

/** The clock every contract store is opened with. */
export const NOW = new Date('2026-03-01T12:00:00.000Z');

/** How the contract gets stores of one implementation. */
export interface StoreFactory {
  /** A new, empty store opened with the clock {@link NOW}; `reopen` opens it again (after close), `peer` is a second handle for concurrent use (another connection, where there is one). */
  fresh(): Promise<{ store: Store; reopen(): Promise<Store>; peer(): Promise<Store> }>;
}

/** Asserts that `p` rejects with an InclavareError of `code` (and a message matching `message`). */
export async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isInclavareError(err), `expected InclavareError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

function publicKeyPem(): string {
  return generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** Registers the contract's tests for the implementation `name`. */
export function storeContract(name: string, factory: StoreFactory): void {
  void describe(`${name} store: the Store contract`, () => {
    void it('creates random 32-byte keys under UUIDv4 kids, gets, lists and deletes them', async () => {
      const { store } = await factory.fresh();
      const a = await store.createKey();
      const b = await store.createKey();
      assert.match(a.kid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.deepEqual(a, { kid: a.kid, length: 32, origin: 'generated', createdAt: NOW.toISOString() });
      const ka = await store.getKey(a.kid);
      assert.equal(ka.length, 32);
      assert.notDeepEqual(ka, await store.getKey(b.kid));
      assert.deepEqual((await store.listKeys()).map((k) => k.kid), [a.kid, b.kid].sort());
      await store.deleteKey(a.kid);
      await rejectsWith(store.getKey(a.kid), 'VERDICTD_ERR_NOT_FOUND');
      await rejectsWith(store.deleteKey(a.kid), 'VERDICTD_ERR_NOT_FOUND');
      await rejectsWith(store.getKey('../master.key'), 'VERDICTD_ERR_INVALID_ARGUMENT');
      await store.close();
    });

    void it('imports a key under a given kid (lowercased) once, and refuses bad lengths', async () => {
      const { store } = await factory.fresh();
      const key = Buffer.alloc(32, 7);
      const kid = 'AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE';
      const info = await store.importKey(key, { kid });
      assert.equal(info.kid, kid.toLowerCase());
      assert.equal(info.origin, 'imported');
      assert.deepEqual(Buffer.from(await store.getKey(kid)), key);
      await rejectsWith(store.importKey(key, { kid }), 'VERDICTD_ERR_ALREADY_EXISTS');
      await rejectsWith(store.importKey(Buffer.alloc(8)), 'VERDICTD_ERR_INVALID_ARGUMENT');
      await rejectsWith(store.importKey(key, { kid: 'not-a-uuid' }), 'VERDICTD_ERR_INVALID_ARGUMENT');
      await store.close();
    });

    void it('stores resources by repo/type/tag, replaces, lists and deletes them, and refuses other paths', async () => {
      const { store } = await factory.fresh();
      await store.setResource('default/key/one', Buffer.from('v1'));
      await store.setResource('default/key/one', Buffer.from('v2'));
      await store.setResource('my-repo/cosign/key.pub', Buffer.from('pub'));
      assert.equal(Buffer.from(await store.getResource('default/key/one')).toString(), 'v2');
      assert.deepEqual((await store.listResources()).map((r) => [r.path, r.size]), [['default/key/one', 2], ['my-repo/cosign/key.pub', 3]]);
      await store.deleteResource('default/key/one');
      await rejectsWith(store.getResource('default/key/one'), 'VERDICTD_ERR_NOT_FOUND');
      for (const bad of ['a/b', 'a/b/c/d', '../b/c', 'a/../c', 'a/b/', 'a%2f/b/c', '']) await rejectsWith(store.getResource(bad), 'VERDICTD_ERR_INVALID_ARGUMENT');
      await store.close();
    });

    void it('stores policies after validating them, and reference-value sets normalized', async () => {
      const { store } = await factory.fresh();
      await store.setPolicy('default', BUILTIN_POLICIES.default);
      assert.equal((await store.getPolicy('default')).text, BUILTIN_POLICIES.default);
      await rejectsWith(store.setPolicy('bad', '{"rules":[{"name":"x","expression":"1 +"}]}'), 'VERDICTD_ERR_POLICY_INVALID', /rule "x"/);
      await rejectsWith(store.setPolicy('other', BUILTIN_POLICIES.default), 'VERDICTD_ERR_POLICY_INVALID', /named "default"/);
      assert.deepEqual(await store.listPolicies(), ['default']);
      await store.setReferenceSet({ name: 'prod', values: { measurement: ['AB'.repeat(24)], svn: [1, 2] } });
      assert.deepEqual(await store.getReferenceSet('prod'), { name: 'prod', values: { measurement: ['ab'.repeat(24)], svn: [1, 2] } });
      assert.deepEqual(Object.keys(await store.referenceSets()), ['prod']);
      await rejectsWith(store.setReferenceSet({ name: 'x', values: { f: [{}] } } as never), 'VERDICTD_ERR_REFERENCE_INVALID');
      await store.deleteReferenceSet('prod');
      await store.deletePolicy('default');
      await rejectsWith(store.getPolicy('default'), 'VERDICTD_ERR_NOT_FOUND');
      await rejectsWith(store.getReferenceSet('prod'), 'VERDICTD_ERR_NOT_FOUND');
      await store.close();
    });

    void it('keeps the trust configuration and refuses a platform key that is no public key', async () => {
      const { store } = await factory.fresh();
      assert.deepEqual(await store.getTrust(), { simPlatformKeys: [] });
      const pem = publicKeyPem();
      await store.setTrust({ simPlatformKeys: [pem] });
      assert.deepEqual(await store.getTrust(), { simPlatformKeys: [pem] });
      await rejectsWith(store.setTrust({ simPlatformKeys: ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'] }), 'VERDICTD_ERR_INVALID_ARGUMENT');
      await store.close();
    });

    void it('keeps the identity key sealed, and never replaces it', async () => {
      const { store } = await factory.fresh();
      await rejectsWith(store.getIdentityKey(), 'VERDICTD_ERR_NOT_FOUND');
      await store.createIdentityKey(Buffer.from('pkcs8-bytes'));
      await rejectsWith(store.createIdentityKey(Buffer.from('other')), 'VERDICTD_ERR_ALREADY_EXISTS');
      assert.equal(Buffer.from(await store.getIdentityKey()).toString(), 'pkcs8-bytes');
      await store.close();
    });

    void it('reopens with everything in place', async () => {
      const { store, reopen } = await factory.fresh();
      const { kid } = await store.createKey();
      const key = await store.getKey(kid);
      await store.setResource('a/b/c', Buffer.from('x'));
      await store.close();
      const again = await reopen();
      assert.deepEqual(await again.getKey(kid), key);
      assert.equal(Buffer.from(await again.getResource('a/b/c')).toString(), 'x');
      await again.close();
    });

    void it('concurrent trust and reference-set updates through two handles lose nothing', async () => {
      const { store, peer } = await factory.fresh();
      const other = await peer();
      const pems = Array.from({ length: 12 }, publicKeyPem);
      const values = Array.from({ length: 12 }, (_, i) => `${i.toString(16).padStart(2, '0')}`.repeat(48));
      await Promise.all([
        ...pems.map((pem, i) => (i % 2 === 0 ? store : other).updateTrust((t) => ({ ...t, simPlatformKeys: [...t.simPlatformKeys, pem] }))),
        ...values.map((v, i) =>
          (i % 2 === 0 ? other : store).updateReferenceSet('default', (cur) => ({ name: 'default', values: { ...cur?.values, measurement: [...(cur?.values.measurement ?? []), v] } })),
        ),
      ]);
      assert.deepEqual(new Set((await store.getTrust()).simPlatformKeys), new Set(pems));
      assert.deepEqual(new Set((await other.getReferenceSet('default')).values.measurement), new Set(values));
      assert.equal(await store.updateTrust(() => null), false);
      await rejectsWith(store.updateTrust(() => ({ simPlatformKeys: ['junk'] })), 'VERDICTD_ERR_INVALID_ARGUMENT');
      assert.equal((await store.getTrust()).simPlatformKeys.length, pems.length);
      if (other !== store) await other.close();
      await store.close();
    });

    void it('concurrent imports of one kid through two handles: exactly one wins', async () => {
      const { store, peer } = await factory.fresh();
      const other = await peer();
      const kid = '11111111-2222-4333-8444-555555555555';
      const results = await Promise.allSettled([store, other, store, other].map((s, i) => s.importKey(Buffer.alloc(32, i), { kid })));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'VERDICTD_ERR_ALREADY_EXISTS');
      assert.equal((await other.listKeys()).length, 1);
      if (other !== store) await other.close();
      await store.close();
    });

    void it('appends audit records and reads them back filtered by time, decision, kid and path, last N first-to-last', async () => {
      const { store } = await factory.fresh();
      const rec = (n: number, over: Partial<AuditRecord> = {}): AuditRecord => ({
        time: new Date(NOW.getTime() + n * 60_000).toISOString(),
        peer: { address: '127.0.0.1:5000', frontEnd: 'eaa' },
        action: 'release-key',
        kid: `0000000${n}-0000-4000-8000-000000000000`,
        decision: n % 2 === 0 ? 'allow' : 'deny',
        ...over,
      });
      for (let n = 0; n < 6; n++) await store.appendAudit(rec(n));
      await store.appendAudit(rec(6, { action: 'release-resource', kid: undefined, path: 'a/b/c' }));
      const kids = (q: Parameters<Store['readAudit']>[0]) => store.readAudit(q).then((rs) => rs.map((r) => r.kid ?? r.path));
      assert.equal((await store.readAudit()).length, 7);
      assert.deepEqual(await kids({ limit: 2 }), [rec(5).kid, 'a/b/c']);
      assert.deepEqual(await kids({ decision: 'deny' }), [1, 3, 5].map((n) => rec(n).kid));
      assert.deepEqual(await kids({ since: rec(2).time, until: rec(4).time }), [rec(2).kid, rec(3).kid]);
      assert.deepEqual(await kids({ kid: rec(3).kid!.toUpperCase() }), [rec(3).kid]);
      assert.deepEqual(await kids({ path: 'a/b/c' }), ['a/b/c']);
      assert.deepEqual(await kids({ decision: 'allow', limit: 2 }), [rec(4).kid, 'a/b/c']);
      assert.deepEqual(await store.readAudit({ since: rec(9).time }), []);
      await rejectsWith(store.readAudit({ since: 'yesterday' }), 'VERDICTD_ERR_INVALID_ARGUMENT');
      await rejectsWith(store.readAudit({ limit: 0 }), 'VERDICTD_ERR_INVALID_ARGUMENT');
      const [last] = await store.readAudit({ limit: 1 });
      assert.deepEqual([last!.action, last!.path, last!.kid, last!.peer], ['release-resource', 'a/b/c', undefined, rec(6).peer]);
      await store.close();
    });
  });
}
