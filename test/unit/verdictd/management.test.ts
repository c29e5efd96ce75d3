// The management API (src/verdictd/management/): every method over the embedded store through a raw gRPC
// client, its authentication (loopback only, bearer token in constant time), its audit records, and fuzzed
// request bytes. The `verdict` CLI is driven against the same server in verdict-cli.test.ts.
import { strict as assert } from 'node:assert';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { Broker } from '../../../src/verdictd/broker.ts';
import { isLoopback, parseManagementAddress } from '../../../src/verdictd/management/address.ts';
import { ManagementClient } from '../../../src/verdictd/management/client.ts';
import { messagesOf } from '../../../src/verdictd/management/messages.ts';
import { startManagementServer, type ManagementServer } from '../../../src/verdictd/management/server.ts';
import { bearerMatches, readAdminToken } from '../../../src/verdictd/management/token.ts';
import { openEmbeddedStore, type EmbeddedStore } from '../../../src/verdictd/store/embedded.ts';
import { fuzzRandom, managementFuzzRequest, managementFuzzSeeds } from '../../support/verdictd-fuzz.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'verdictd-mgmt-'));
  dirs.push(d);
  return d;
}
const platform = generateKeyPairSync('ed25519');
const pemOf = (k: typeof platform) => k.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const platformKeyId = createHash('sha256').update(platform.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
const good = createHash('sha384').update('image-a').digest();
const wrong = createHash('sha384').update('image-b').digest();
const simEvidence = (m: Buffer) => createSimEvidence({ measurement: m, reportData: Buffer.alloc(64, 7), platformKey: platform.privateKey, at: new Date() });

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isInclavareError(err), `expected InclavareError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

interface Fixture {
  dir: string;
  store: EmbeddedStore;
  server: ManagementServer;
  client: ManagementClient;
}
async function start(dir = join(tempDir(), 'data')): Promise<Fixture> {
  const store = await openEmbeddedStore(dir, { init: true });
  const server = await startManagementServer({ store, broker: new Broker({ store }), dataDir: dir, address: '127.0.0.1:0' });
  const client = new ManagementClient(server.address, { token: readAdminToken(server.tokenFile) });
  return { dir, store, server, client };
}
async function stop(f: Fixture): Promise<void> {
  f.client.close();
  await f.server.close();
  await f.store.close();
}

void describe('management API', () => {
  let f: Fixture;
  before(async () => {
    f = await start();
  });
  after(async () => {
    await stop(f);
  });

  void it('writes a 0600 admin token of 32 random bytes (hex) at the first start and keeps it across restarts', async () => {
    const token = readFileSync(f.server.tokenFile, 'utf8');
    assert.match(token, /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(f.server.tokenFile).mode & 0o777, 0o600);
    const dir = join(tempDir(), 'data');
    const a = await start(dir);
    const first = readFileSync(a.server.tokenFile, 'utf8');
    await stop(a);
    const b = await start(dir);
    assert.equal(readFileSync(b.server.tokenFile, 'utf8'), first);
    await stop(b);
  });

  void it('refuses to start on a token file readable by others', async () => {
    const dir = join(tempDir(), 'data');
    const a = await start(dir);
    await stop(a);
    chmodSync(a.server.tokenFile, 0o644);
    const store = await openEmbeddedStore(dir);
    await rejectsWith(startManagementServer({ store, broker: new Broker({ store }), dataDir: dir, address: '127.0.0.1:0' }), 'VERDICTD_ERR_ADMIN_TOKEN', /chmod 600/);
    await store.close();
  });

  void it('refuses calls without the token, with another token or another scheme: UNAUTHENTICATED with a clear message', async () => {
    const token = readAdminToken(f.server.tokenFile);
    const other = randomBytes(32).toString('hex');
    for (const [label, client] of [
      ['none', new ManagementClient(f.server.address)],
      ['wrong', new ManagementClient(f.server.address, { token: other })],
      ['prefix', new ManagementClient(f.server.address, { token: token.slice(0, 63) })],
    ] as const) {
      await assert.rejects(client.call('KeyManagerService/ListKeys', {}), (err: unknown) => {
        assert.ok(isInclavareError(err, 'VERDICTD_ERR_UNAUTHENTICATED'), `${label}: ${String(err)}`);
        assert.equal(err.mapping.grpcStatus, 16);
        assert.match(err.message, /admin token/);
        assert.ok(!err.message.includes(token), 'the message must not carry the token');
        return true;
      });
      client.close();
    }
    assert.equal(bearerMatches(`Bearer ${token}`, token), true);
    assert.equal(bearerMatches(token, token), false);
    assert.equal(bearerMatches(`bearer ${token}`, token), false);
    assert.equal(bearerMatches(undefined, token), false);
  });

  void it('refuses to listen beyond loopback without the explicit flag, and in clear even with it', async () => {
    for (const address of ['0.0.0.0:0', '[::]:0', '192.0.2.1:0', 'example.com:60000']) {
      await rejectsWith(startManagementServer({ store: f.store, broker: new Broker({ store: f.store }), dataDir: f.dir, address }), 'VERDICTD_ERR_BIND_REFUSED', /not a loopback address/);
    }
    await rejectsWith(startManagementServer({ store: f.store, broker: new Broker({ store: f.store }), dataDir: f.dir, address: '0.0.0.0:0', allowRemote: true }), 'VERDICTD_ERR_BIND_REFUSED', /without TLS/);
    for (const a of ['127.0.0.1:1', '127.1.2.3:1', '[::1]:1', 'localhost:1', 'unix:/tmp/x.sock']) assert.equal(isLoopback(parseManagementAddress(a)), true, a);
    for (const a of ['0.0.0.0:1', '[::]:1', '10.0.0.1:1', '[::ffff:10.0.0.1]:1', 'host:1']) assert.equal(isLoopback(parseManagementAddress(a)), false, a);
  });

  void it('keys: create (status OK, a UUIDv4), get, list, import, delete; each change audited without the value', async () => {
    const c = f.client;
    const created = await c.call('KeyManagerService/CreateKey', {});
    assert.equal(created.status, 'OK');
    assert.match(created.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const got = await c.call('KeyManagerService/GetKey', { uuid: created.uuid });
    assert.equal(got.status, 'OK');
    assert.equal(got.key.length, 32);
    const value = randomBytes(24);
    const kid = '6f1c0a52-5d1e-4c69-9f0e-0a4b3a1e2d3c';
    const imported = await c.call('KeyManagerService/ImportKey', { key: value, uuid: kid });
    assert.deepEqual([imported.status, imported.uuid, imported.info?.origin, imported.info?.length], ['OK', kid, 'imported', 24]);
    assert.deepEqual(Buffer.from((await c.call('KeyManagerService/GetKey', { uuid: kid })).key), value);
    await rejectsWith(c.call('KeyManagerService/ImportKey', { key: value, uuid: kid }), 'VERDICTD_ERR_ALREADY_EXISTS');
    const listed = (await c.call('KeyManagerService/ListKeys', {})).keys.map((k) => k.uuid);
    assert.ok(listed.includes(created.uuid) && listed.includes(kid));
    assert.equal((await c.call('KeyManagerService/DeleteKey', { uuid: kid })).status, 'OK');
    await rejectsWith(c.call('KeyManagerService/GetKey', { uuid: kid }), 'VERDICTD_ERR_NOT_FOUND');
    await rejectsWith(c.call('KeyManagerService/DeleteKey', { uuid: kid }), 'VERDICTD_ERR_NOT_FOUND');
    const actions = (await f.store.readAudit()).filter((r) => r.kid === kid).map((r) => `${r.action}:${r.decision}`);
    assert.deepEqual(actions, ['key-import:allow', 'key-get:allow', 'key-import:error', 'key-delete:allow', 'key-delete:error']);
    const log = readFileSync(join(f.dir, 'audit.log'));
    for (const secret of [value, Buffer.from(got.key)]) for (const form of ['hex', 'base64'] as const) assert.equal(log.indexOf(secret.toString(form)), -1);
  });

  void it('resources: set, get, list, delete', async () => {
    const c = f.client;
    const info = await c.call('ResourceService/SetResource', { path: 'app/db/password', data: Buffer.from('s3cret') });
    assert.deepEqual([info.info?.path, info.info?.size], ['app/db/password', 6]);
    assert.equal(Buffer.from((await c.call('ResourceService/GetResource', { path: 'app/db/password' })).data).toString(), 's3cret');
    assert.deepEqual((await c.call('ResourceService/ListResources', {})).resources.map((r) => r.path), ['app/db/password']);
    await c.call('ResourceService/DeleteResource', { path: 'app/db/password' });
    await rejectsWith(c.call('ResourceService/GetResource', { path: 'app/db/password' }), 'VERDICTD_ERR_NOT_FOUND');
    await rejectsWith(c.call('ResourceService/SetResource', { path: '../etc/passwd', data: Buffer.from('x') }), 'VERDICTD_ERR_INVALID_ARGUMENT');
    assert.equal(readFileSync(join(f.dir, 'audit.log')).indexOf('s3cret'), -1);
  });

  void it('policies: set (validated), get (stored or shipped), list, delete', async () => {
    const c = f.client;
    const text = JSON.stringify({ name: 'prod', rules: [{ name: 'not-debug', expression: 'claims.debug == false' }] });
    assert.equal((await c.call('PolicyService/SetPolicy', { name: 'prod', content: text })).name, 'prod');
    assert.equal((await c.call('PolicyService/GetPolicy', { name: 'prod' })).content, text);
    const shipped = await c.call('PolicyService/GetPolicy', { name: 'deny-all' });
    assert.equal(shipped.builtin, true);
    assert.deepEqual(await c.call('PolicyService/ListPolicies', {}), { stored: ['prod'], builtin: ['allow-all', 'default', 'deny-all'] });
    await rejectsWith(c.call('PolicyService/SetPolicy', { name: 'bad', content: '{"rules":[{"name":"x","expression":"claims.("}]}' }), 'VERDICTD_ERR_POLICY_INVALID', /"x"/);
    await c.call('PolicyService/DeletePolicy', { name: 'prod' });
    await rejectsWith(c.call('PolicyService/GetPolicy', { name: 'prod' }), 'VERDICTD_ERR_NOT_FOUND');
  });

  void it('reference sets: set, get, list; trust: add, list and remove sim platform keys', async () => {
    const c = f.client;
    await c.call('ReferenceService/SetReference', { name: 'default', content: JSON.stringify({ values: { measurement: [good.toString('hex').toUpperCase()], platformKeyId: [platformKeyId] } }) });
    const set = JSON.parse((await c.call('ReferenceService/GetReference', { name: 'default' })).content) as { values: { measurement: string[] } };
    assert.deepEqual(set.values.measurement, [good.toString('hex')]);
    assert.deepEqual((await c.call('ReferenceService/ListReferences', {})).names, ['default']);
    await rejectsWith(c.call('ReferenceService/SetReference', { name: 'x', content: '{' }), 'VERDICTD_ERR_REFERENCE_INVALID');
    const added = await c.call('TrustService/AddSimPlatformKey', { pem: pemOf(platform) });
    assert.deepEqual(added, { platformKeyId, added: true });
    assert.equal((await c.call('TrustService/AddSimPlatformKey', { pem: pemOf(platform) })).added, false);
    await rejectsWith(c.call('TrustService/AddSimPlatformKey', { pem: platform.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }), 'VERDICTD_ERR_INVALID_ARGUMENT', /private key/);
    await rejectsWith(c.call('TrustService/AddSimPlatformKey', { pem: 'garbage' }), 'VERDICTD_ERR_INVALID_ARGUMENT', /not a PEM public key/);
    const other = generateKeyPairSync('ed25519');
    const otherId = (await c.call('TrustService/AddSimPlatformKey', { pem: pemOf(other) })).platformKeyId;
    assert.deepEqual((await c.call('TrustService/GetTrust', {})).simPlatformKeys.map((k) => k.platformKeyId), [platformKeyId, otherId]);
    await c.call('TrustService/RemoveSimPlatformKey', { platformKeyId: otherId });
    await rejectsWith(c.call('TrustService/RemoveSimPlatformKey', { platformKeyId: otherId }), 'VERDICTD_ERR_NOT_FOUND');
    assert.deepEqual((await c.call('TrustService/GetTrust', {})).simPlatformKeys.map((k) => k.platformKeyId), [platformKeyId]);
  });

  void it('policy test: sim evidence with a wrong measurement fails rule "measurement"; the right one passes; claims JSON and inline policies work', async () => {
    const c = f.client;
    const denied = await c.call('PolicyService/TestPolicy', { evidence: simEvidence(wrong) });
    assert.equal(denied.allow, false);
    assert.equal(denied.policy, 'default');
    assert.deepEqual(denied.failed.map((r) => r.rule), ['measurement']);
    assert.equal((JSON.parse(denied.failed[0]!.claimsJson) as Record<string, unknown>)['measurements.measurement'], wrong.toString('hex'));
    assert.match(denied.claimsDigest, /^[0-9a-f]{64}$/);
    const allowed = await c.call('PolicyService/TestPolicy', { evidence: simEvidence(good), tee: 'sim' });
    assert.deepEqual([allowed.allow, allowed.failed], [true, []]);
    // The claims the evidence gave, tested again as JSON, give the same verdict.
    const again = await c.call('PolicyService/TestPolicy', { claimsJson: denied.claimsJson });
    assert.deepEqual([again.allow, again.claimsDigest, again.failed.map((r) => r.rule)], [false, denied.claimsDigest, ['measurement']]);
    const inline = JSON.stringify({ name: 'dbg', rules: [{ name: 'debug', expression: 'claims.debug == true' }] });
    const byInline = await c.call('PolicyService/TestPolicy', { claimsJson: allowed.claimsJson, policyContent: inline });
    assert.deepEqual([byInline.policy, byInline.failed.map((r) => r.rule)], ['dbg', ['debug']]);
    assert.equal((await c.call('PolicyService/TestPolicy', { claimsJson: allowed.claimsJson, policyName: 'allow-all' })).allow, true);
    await rejectsWith(c.call('PolicyService/TestPolicy', {}), 'VERDICTD_ERR_INVALID_ARGUMENT', /exactly one/);
    await rejectsWith(c.call('PolicyService/TestPolicy', { claimsJson: '[1]' }), 'VERDICTD_ERR_INVALID_ARGUMENT');
    await rejectsWith(c.call('PolicyService/TestPolicy', { evidence: Buffer.from('not evidence') }), 'VERDICTD_ERR_EVIDENCE_REJECTED');
    await rejectsWith(c.call('PolicyService/TestPolicy', { claimsJson: allowed.claimsJson, policyName: 'nope' }), 'VERDICTD_ERR_NOT_FOUND');
  });

  void it('fuzzed requests (10^4 random and mutated messages across every method) get statuses, never INTERNAL or a crash', async () => {
    const r = fuzzRandom(7);
    const seeds = managementFuzzSeeds(pemOf(platform), r);
    const N = 10_000;
    const statuses = new Map<string, number>();
    let next = 0;
    const t0 = Date.now();
    const worker = async (): Promise<void> => {
      while (next < N) {
        const { method, bytes } = managementFuzzRequest(next++, seeds, r);
        try {
          await f.client.callRaw(method, bytes);
          statuses.set('ok', (statuses.get('ok') ?? 0) + 1);
        } catch (err) {
          assert.ok(isInclavareError(err), `${method}: ${String(err)}`);
          assert.notEqual(err.errorClass, 'internal', `${method} ${Buffer.from(bytes).toString('hex')}: ${err.code} ${err.message}`);
          statuses.set(err.code, (statuses.get(err.code) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    const ms = Date.now() - t0;
    assert.ok((statuses.get('VERDICTD_ERR_MALFORMED_REQUEST') ?? 0) > N / 4, JSON.stringify([...statuses]));
    assert.ok(ms < 20_000, `${N} calls took ${ms} ms`);
    // Still serving, and the request/response pairing is intact.
    assert.ok(Array.isArray((await f.client.call('KeyManagerService/ListKeys', {})).keys));
    assert.equal(messagesOf('KeyManagerService/ListKeys')[1], 'ListKeysResponse');
  });
});
