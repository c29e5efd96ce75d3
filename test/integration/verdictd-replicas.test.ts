/**
 * Two replicas of the built verdictd (dist/verdictd.mjs, `npm run build`) on one PostgreSQL database (started
 * here, test/support/postgres.ts), each with its own data dir and a copy of the one master key: what one
 * replica's management API stores, the other releases to an attested client; kill -9 in a burst of key
 * creates loses no acknowledged key; concurrent trust and reference updates through both lose nothing; the
 * audit log is shared (`verdict audit`); `verdict store migrate` moves the database to a data directory and
 * back, offline. Issue #13, items 4 and 5.
 */
import { strict as assert } from 'node:assert';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalSimAttester } from '../../src/rats-tls/attesters/sim-local.ts';
import { createRatsTlsIdentity, type RatsTlsIdentity } from '../../src/rats-tls/identity.ts';
import { ManagementClient } from '../../src/verdictd/management/client.ts';
import { adminTokenPath, readAdminToken } from '../../src/verdictd/management/token.ts';
import { masterKeyFileText } from '../../src/verdictd/store/master-key.ts';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { connectAttested, eaaExchange, spawnVerdictd } from '../support/verdictd.ts';
import { repoRoot } from '../support/fixtures.ts';

const VERDICT = join(repoRoot, 'dist/verdict.mjs');
const skip = postgresSkipReason();
const platform = generateKeyPairSync('ed25519');
const measurement = createHash('sha384').update('replicated-image').digest();

interface Replica {
  child: ChildProcess;
  dataDir: string;
  port: number;
  pin: string;
  management: ManagementClient;
}

let pgServer: TestPostgres | undefined;
let url: string;
let work: string;
const replicas: Replica[] = [];
const identities: RatsTlsIdentity[] = [];

async function startReplica(name: string, extra: string[] = []): Promise<Replica> {
  const dataDir = join(work, name);
  const { child, port, managementPort, pin } = await spawnVerdictd(['--store', url, '--data-dir', dataDir, '-l', '127.0.0.1:0', '--client-api', '127.0.0.1:0', '--log', join(work, `${name}.log`), ...extra]);
  const replica = { child, dataDir, port, pin, management: new ManagementClient(`127.0.0.1:${managementPort}`, { token: readAdminToken(adminTokenPath(dataDir)) }) };
  replicas.push(replica);
  return replica;
}

async function stopReplica(r: Replica, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  r.management.close();
  if (r.child.exitCode !== null || r.child.signalCode !== null) return r.child.exitCode;
  const exited = new Promise<number | null>((resolve) => r.child.once('exit', (code) => resolve(code)));
  r.child.kill(signal);
  return exited;
}

async function clientIdentity(): Promise<RatsTlsIdentity> {
  const id = await createRatsTlsIdentity({ attester: createLocalSimAttester({ platformKey: platform.privateKey, measurement }) });
  identities.push(id);
  return id;
}

/** Asks replica `r` for key `kid` over attested EAA until it answers with `value` (trust is re-read every 5 s). */
async function releasedBy(r: Replica, kid: string, value: Buffer): Promise<void> {
  const id = await clientIdentity();
  const expected = JSON.stringify({ status: 'OK', data: { [kid]: value.toString('base64') } });
  let answer: string | undefined;
  for (let tries = 0; tries < 150; tries++) {
    answer = await eaaExchange(connectAttested(r.port, id), JSON.stringify({ command: 'Get KEK', kids: [kid] })).catch((err: Error) => err.message);
    if (answer === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`replica on port ${r.port} does not release ${kid}: ${answer}`);
}

function verdict(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VERDICT, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

void describe('verdictd replicas on one PostgreSQL database', { skip }, () => {
  let a: Replica;
  let b: Replica;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'verdictd-replicas-'));
    pgServer = await startPostgres();
    url = await pgServer.createDatabase('verdictd');
    a = await startReplica('a', ['--init']);
    // The second replica: its own data dir, a copy of the first one's master key, no --init.
    mkdirSync(join(work, 'b'), { mode: 0o700 });
    copyFileSync(join(work, 'a', 'master.key'), join(work, 'b', 'master.key'));
    b = await startReplica('b');
  });

  after(async () => {
    for (const r of replicas) await stopReplica(r);
    for (const id of identities) id.close();
    await pgServer?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  void it('both replicas present the one identity kept in the database', () => {
    assert.equal(a.pin, b.pin);
  });

  void it('a replica without the master key, or with another one, is refused at start (--init makes no new key)', () => {
    const start = () => spawnSync(process.execPath, [join(repoRoot, 'dist/verdictd.mjs'), '--store', url, '--data-dir', join(work, 'c'), '--init', '-l', '127.0.0.1:0', '--client-api', '127.0.0.1:0'], { encoding: 'utf8', timeout: 60_000 });
    const missing = start();
    assert.equal(missing.status, 1, missing.stderr);
    assert.match(missing.stderr, /master key file .*c\/master.key is missing\. Copy the master key file of the replica that created the store/);
    writeFileSync(join(work, 'c', 'master.key'), masterKeyFileText(Buffer.alloc(32, 1)), { mode: 0o600 });
    const other = start();
    assert.equal(other.status, 1, other.stderr);
    assert.match(other.stderr, /not this store's.*same master key file/);
  });

  void it("a key created through one replica's management API is released by the other through EAA", async () => {
    const { platformKeyId } = await a.management.call('TrustService/AddSimPlatformKey', { pem: platform.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    await a.management.call('ReferenceService/SetReference', { name: 'default', content: JSON.stringify({ values: { measurement: [measurement.toString('hex')], platformKeyId: [platformKeyId] } }) });
    const { uuid } = await a.management.call('KeyManagerService/CreateKey', {});
    const value = Buffer.from((await a.management.call('KeyManagerService/GetKey', { uuid })).key);
    await releasedBy(b, uuid, value);
    // The release B made is in the shared audit log, which A's `verdict audit` reads.
    const out = verdict(['audit', '--kid', uuid, '--json', '-c', `127.0.0.1:${(a.management.address.split(':')[1])}`, '--data-dir', a.dataDir]);
    assert.equal(out.status, 0, out.stderr);
    const actions = (JSON.parse(out.stdout) as { action: string; decision: string; peer: { frontEnd?: string } }[]).map((r) => `${r.action}:${r.decision}:${r.peer.frontEnd}`);
    assert.ok(actions.includes('key-create:allow:management'), actions.join());
    assert.ok(actions.includes('release-key:allow:eaa'), actions.join());
  });

  void it('concurrent trust and reference updates through both replicas lose nothing', async () => {
    const pems = Array.from({ length: 8 }, () => generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const values = Array.from({ length: 8 }, (_, i) => createHash('sha384').update(`image-${i}`).digest('hex'));
    await Promise.all([
      ...pems.map((pem, i) => (i % 2 === 0 ? a : b).management.call('TrustService/AddSimPlatformKey', { pem })),
      ...values.map((v, i) => (i % 2 === 0 ? b : a).management.call('ReferenceService/SetReference', { name: 'merged', content: JSON.stringify({ values: { measurement: [v] } }), mode: 'merge' })),
    ]);
    const trust = await b.management.call('TrustService/GetTrust', {});
    assert.equal(trust.simPlatformKeys.length, 1 + pems.length);
    const merged = JSON.parse((await a.management.call('ReferenceService/GetReference', { name: 'merged' })).content) as { values: { measurement: string[] } };
    assert.deepEqual(new Set(merged.values.measurement), new Set(values));
  });

  void it('kill -9 of a replica in the middle of a burst of key creates: every acknowledged key is there and intact', async () => {
    const acknowledged: string[] = [];
    let killed = false;
    const worker = async (): Promise<void> => {
      for (;;) {
        try {
          acknowledged.push((await b.management.call('KeyManagerService/CreateKey', {})).uuid);
        } catch {
          return; // the replica is gone
        }
        if (acknowledged.length >= 60 && !killed) {
          killed = true;
          b.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    assert.ok(acknowledged.length >= 60, `${acknowledged.length} keys acknowledged`);
    const listed = new Set((await a.management.call('KeyManagerService/ListKeys', {})).keys.map((k) => k.uuid));
    for (const kid of acknowledged) {
      assert.ok(listed.has(kid), `acknowledged key ${kid} is missing`);
      assert.equal((await a.management.call('KeyManagerService/GetKey', { uuid: kid })).key.length, 32);
    }
    // The killed replica's lock is stale: it starts again on its data dir.
    b.management.close();
    b = await startReplica('b');
    assert.equal(b.pin, a.pin);
  });

  void it('verdict store migrate is refused while replicas run, then moves the database to a data dir and back', async () => {
    const embedded = join(work, 'migrated');
    const masterKeyFile = join(a.dataDir, 'master.key');
    const refused = verdict(['store', 'migrate', '--from', url, '--to', embedded, '--master-key-file', masterKeyFile]);
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /stop every verdictd replica/);
    const { uuid } = await a.management.call('KeyManagerService/CreateKey', {});
    const value = Buffer.from((await a.management.call('KeyManagerService/GetKey', { uuid })).key);
    const keyCount = (await a.management.call('KeyManagerService/ListKeys', {})).keys.length;
    const auditCount = (await a.management.call('AuditService/ReadAudit', {})).records.length;
    for (const r of [...replicas]) assert.equal(await stopReplica(r), r === replicas.find((x) => x.child.signalCode === 'SIGKILL') ? null : 0);
    replicas.length = 0;

    const out = verdict(['store', 'migrate', '--from', url, '--to', embedded, '--master-key-file', masterKeyFile, '--json']);
    assert.equal(out.status, 0, out.stderr);
    const summary = JSON.parse(out.stdout) as { keys: number; identity: boolean; auditRecords: number; simPlatformKeys: number };
    assert.equal(summary.keys, keyCount);
    assert.equal(summary.identity, true);
    assert.equal(summary.simPlatformKeys, 9);
    assert.ok(summary.auditRecords >= auditCount);

    // The embedded copy serves the same identity and the same keys.
    const e = await spawnVerdictd(['--data-dir', embedded, '-l', '127.0.0.1:0', '--client-api', '127.0.0.1:0', '--log', join(work, 'embedded.log')]);
    const replica: Replica = { child: e.child, dataDir: embedded, port: e.port, pin: e.pin, management: new ManagementClient(`127.0.0.1:${e.managementPort}`, { token: readAdminToken(adminTokenPath(embedded)) }) };
    replicas.push(replica);
    assert.equal(e.pin, a.pin);
    await releasedBy(replica, uuid, value);
    // Migrating out of a running embedded store is refused (its lock).
    const locked = verdict(['store', 'migrate', '--from', embedded, '--to', join(work, 'other')]);
    assert.equal(locked.status, 1, locked.stderr);
    assert.match(locked.stderr, /already owns/);
    assert.equal(await stopReplica(replica), 0);
    replicas.length = 0;

    // And back, into a new database; a database that is not empty is refused.
    const back = await pgServer!.createDatabase('back');
    const again = verdict(['store', 'migrate', '--from', embedded, '--to', back]);
    assert.equal(again.status, 0, again.stderr);
    const twice = verdict(['store', 'migrate', '--from', embedded, '--to', back]);
    assert.equal(twice.status, 1);
    assert.match(twice.stderr, /not empty/);
    mkdirSync(join(work, 'd'), { mode: 0o700 });
    copyFileSync(masterKeyFile, join(work, 'd', 'master.key'));
    url = back;
    const d = await startReplica('d');
    assert.equal(d.pin, a.pin);
    assert.deepEqual(Buffer.from((await d.management.call('KeyManagerService/GetKey', { uuid })).key), value);
  });
});
