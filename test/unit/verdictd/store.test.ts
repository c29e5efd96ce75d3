// The embedded store (src/verdictd/store/embedded.ts): layout and modes, the master key's lifecycle, sealed
// records and their tamper errors, atomic writes under SIGKILL, and the audit log.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { openEmbeddedStore, type EmbeddedStore } from '../../../src/verdictd/store/embedded.ts';
import { BUILTIN_POLICIES } from '../../../src/verdictd/policy/builtin.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'verdictd-store-'));
  dirs.push(d);
  return d;
}
const NOW = new Date('2026-03-01T12:00:00.000Z');
async function fresh(): Promise<{ dir: string; store: EmbeddedStore }> {
  const dir = join(tempDir(), 'data');
  return { dir, store: await openEmbeddedStore(dir, { init: true, now: () => NOW }) };
}
async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isInclavareError(err), `expected InclavareError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}
const mode = (p: string): number => statSync(p).mode & 0o777;

void describe('embedded store', () => {
  void it('init creates the layout with 0700 directories and 0600 files, and a 32-byte master key', async () => {
    const { dir, store } = await fresh();
    await store.createKey();
    await store.appendAudit({ time: NOW.toISOString(), peer: {}, action: 'test', decision: 'allow' });
    assert.equal(mode(dir), 0o700);
    for (const d of ['keys', 'resources', 'policies', 'references']) assert.equal(mode(join(dir, d)), 0o700, d);
    for (const f of ['master.key', 'store.json', 'audit.log']) assert.equal(mode(join(dir, f)), 0o600, f);
    for (const f of readdirSync(join(dir, 'keys'))) assert.equal(mode(join(dir, 'keys', f)), 0o600);
    const mk = JSON.parse(readFileSync(join(dir, 'master.key'), 'utf8')) as { key: string };
    assert.equal(Buffer.from(mk.key, 'base64').length, 32);
    await store.close();
  });

  void it('refuses to open a data dir that has no store unless init is given', async () => {
    await rejectsWith(openEmbeddedStore(join(tempDir(), 'none')), 'VERDICTD_ERR_STORE_NOT_INITIALIZED', /--init/);
  });

  void it('creates random 32-byte keys under UUIDv4 kids, gets, lists and deletes them', async () => {
    const { store } = await fresh();
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
    const { store } = await fresh();
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

  void it('never writes a key or resource in clear', async () => {
    const { dir, store } = await fresh();
    const key = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
    const { kid } = await store.importKey(key);
    const secret = Buffer.from('db-password=hunter2-very-secret');
    await store.setResource('default/db/password', secret);
    for (const sub of ['keys', 'resources']) {
      for (const f of readdirSync(join(dir, sub))) {
        const raw = readFileSync(join(dir, sub, f));
        for (const needle of [key, secret]) {
          assert.equal(raw.indexOf(needle), -1);
          assert.equal(raw.indexOf(needle.toString('base64')), -1);
          assert.equal(raw.indexOf(needle.toString('hex')), -1);
        }
      }
    }
    assert.deepEqual(Buffer.from(await store.getKey(kid)), key);
    await store.close();
  });

  void it('stores resources by repo/type/tag, replaces, lists and deletes them, and refuses other paths', async () => {
    const { store } = await fresh();
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
    const { store } = await fresh();
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
    const { store } = await fresh();
    assert.deepEqual(await store.getTrust(), { simPlatformKeys: [] });
    const pem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await store.setTrust({ simPlatformKeys: [pem] });
    assert.deepEqual(await store.getTrust(), { simPlatformKeys: [pem] });
    await rejectsWith(store.setTrust({ simPlatformKeys: ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'] }), 'VERDICTD_ERR_INVALID_ARGUMENT');
    await store.close();
  });

  void it('reopens with everything in place', async () => {
    const { dir, store } = await fresh();
    const { kid } = await store.createKey();
    const key = await store.getKey(kid);
    await store.setResource('a/b/c', Buffer.from('x'));
    await store.close();
    const again = await openEmbeddedStore(dir);
    assert.deepEqual(await again.getKey(kid), key);
    assert.equal(Buffer.from(await again.getResource('a/b/c')).toString(), 'x');
    await again.close();
  });
});

void describe('embedded store: the master key', () => {
  void it('a missing master key is a startup error naming the file, and init does not re-create it', async () => {
    const { dir, store } = await fresh();
    await store.createKey();
    await store.close();
    unlinkSync(join(dir, 'master.key'));
    for (const init of [false, true]) {
      await rejectsWith(openEmbeddedStore(dir, { init }), 'VERDICTD_ERR_MASTER_KEY_MISSING', new RegExp(`${join(dir, 'master.key')} is missing.*Restore it from your backup`));
    }
    assert.throws(() => statSync(join(dir, 'master.key')));
  });

  void it('init refuses to make a new master key for a data dir that holds sealed records', async () => {
    const { dir, store } = await fresh();
    await store.createKey();
    await store.close();
    unlinkSync(join(dir, 'master.key'));
    unlinkSync(join(dir, 'store.json'));
    await rejectsWith(openEmbeddedStore(dir, { init: true }), 'VERDICTD_ERR_MASTER_KEY_MISSING', /1 encrypted records/);
  });

  void it('a corrupted, truncated or too open master key file is a clear error', async () => {
    const { dir, store } = await fresh();
    await store.close();
    const file = join(dir, 'master.key');
    const good = readFileSync(file, 'utf8');
    const obj = JSON.parse(good) as { key: string };
    const flipped = Buffer.from(obj.key, 'base64');
    flipped[0]! ^= 1;
    const cases: [string, RegExp][] = [
      [good.slice(0, 20), /not JSON/],
      [JSON.stringify({ ...obj, key: flipped.toString('base64') }), /check value/],
      [JSON.stringify({ ...obj, key: flipped.subarray(0, 16).toString('base64') }), /16 bytes/],
      ['', /not JSON/],
    ];
    for (const [text, why] of cases) {
      writeFileSync(file, text, { mode: 0o600 });
      await rejectsWith(openEmbeddedStore(dir), 'VERDICTD_ERR_MASTER_KEY_INVALID', why);
    }
    writeFileSync(file, good);
    chmodSync(file, 0o644);
    await rejectsWith(openEmbeddedStore(dir), 'VERDICTD_ERR_MASTER_KEY_INVALID', /chmod 600/);
    chmodSync(file, 0o600);
    await (await openEmbeddedStore(dir)).close();
  });

  void it("another store's master key is refused at open, before any record is read", async () => {
    const a = await fresh();
    const b = await fresh();
    await a.store.createKey();
    await a.store.close();
    await b.store.close();
    writeFileSync(join(a.dir, 'master.key'), readFileSync(join(b.dir, 'master.key')), { mode: 0o600 });
    await rejectsWith(openEmbeddedStore(a.dir), 'VERDICTD_ERR_MASTER_KEY_INVALID', /not this store's/);
  });

  void it('a master key file kept outside the data dir works (masterKeyFile)', async () => {
    const dir = join(tempDir(), 'data');
    const masterKeyFile = join(tempDir(), 'mk');
    const store = await openEmbeddedStore(dir, { init: true, masterKeyFile });
    const { kid } = await store.createKey();
    await store.close();
    assert.throws(() => statSync(join(dir, 'master.key')));
    await rejectsWith(openEmbeddedStore(dir), 'VERDICTD_ERR_MASTER_KEY_MISSING');
    const again = await openEmbeddedStore(dir, { masterKeyFile });
    assert.equal((await again.getKey(kid)).length, 32);
    await again.close();
  });
});

void describe('embedded store: tampering', () => {
  void it('a flipped byte anywhere in a key file is VERDICTD_ERR_STORE_CORRUPT', async () => {
    const { dir, store } = await fresh();
    const { kid } = await store.createKey();
    const file = join(dir, 'keys', kid);
    const good = readFileSync(file);
    const text = good.toString();
    // Flip a character inside the ciphertext, the IV, and the metadata (each position still parses as JSON).
    const positions = [text.indexOf('"data":"') + 12, text.indexOf('"iv":"') + 8, text.indexOf('"length":') + 9];
    for (const pos of positions) {
      const bad = Buffer.from(good);
      bad[pos] = bad[pos] === 0x41 ? 0x42 : 0x41;
      writeFileSync(file, bad);
      await rejectsWith(store.getKey(kid), 'VERDICTD_ERR_STORE_CORRUPT', new RegExp(`${file}`));
    }
    writeFileSync(file, good.subarray(0, good.length - 10));
    await rejectsWith(store.getKey(kid), 'VERDICTD_ERR_STORE_CORRUPT', /not JSON/);
    writeFileSync(file, good);
    assert.equal((await store.getKey(kid)).length, 32);
    await store.close();
  });

  void it('two swapped key files fail (the kid is authenticated), even with the names inside edited to match', async () => {
    const { dir, store } = await fresh();
    const a = await store.createKey();
    const b = await store.createKey();
    const fa = join(dir, 'keys', a.kid);
    const fb = join(dir, 'keys', b.kid);
    const ta = readFileSync(fa, 'utf8');
    const tb = readFileSync(fb, 'utf8');
    renameSync(fa, `${fa}.x`);
    renameSync(fb, fa);
    renameSync(`${fa}.x`, fb);
    await rejectsWith(store.getKey(a.kid), 'VERDICTD_ERR_STORE_CORRUPT', /swapped/);
    writeFileSync(fa, tb.replace(b.kid, a.kid));
    writeFileSync(fb, ta.replace(a.kid, b.kid));
    await rejectsWith(store.getKey(a.kid), 'VERDICTD_ERR_STORE_CORRUPT', /fails authentication/);
    await rejectsWith(store.getKey(b.kid), 'VERDICTD_ERR_STORE_CORRUPT', /fails authentication/);
    await store.close();
  });

  void it('a key sealed under another master key fails authentication', async () => {
    const a = await fresh();
    const b = await fresh();
    const kb = await b.store.createKey();
    writeFileSync(join(a.dir, 'keys', kb.kid), readFileSync(join(b.dir, 'keys', kb.kid)));
    await rejectsWith(a.store.getKey(kb.kid), 'VERDICTD_ERR_STORE_CORRUPT', /another master key/);
    await a.store.close();
    await b.store.close();
  });

  void it('a resource moved to another path fails', async () => {
    const { dir, store } = await fresh();
    await store.setResource('r/t/one', Buffer.from('1'));
    renameSync(join(dir, 'resources', 'r%2Ft%2Fone'), join(dir, 'resources', 'r%2Ft%2Ftwo'));
    await rejectsWith(store.getResource('r/t/two'), 'VERDICTD_ERR_STORE_CORRUPT');
    await store.close();
  });
});

void describe('embedded store: the audit log', () => {
  void it('appends one JSON line per record and reads them back; a torn last line is cut at open', async () => {
    const { dir, store } = await fresh();
    const rec = (n: number) => ({ time: NOW.toISOString(), peer: { address: '127.0.0.1:5000', frontEnd: 'eaa' }, action: 'release-key', kid: `k${n}`, decision: 'allow' as const });
    await store.appendAudit(rec(1));
    await store.appendAudit(rec(2));
    await store.close();
    appendFileSync(join(dir, 'audit.log'), '{"time":"2026-03-01T12:00:00.000Z","peer":{},"act');
    const again = await openEmbeddedStore(dir);
    await again.appendAudit(rec(3));
    assert.deepEqual((await again.readAudit()).map((r) => r.kid), ['k1', 'k2', 'k3']);
    assert.deepEqual((await again.readAudit({ limit: 1 })).map((r) => r.kid), ['k3']);
    const text = readFileSync(join(dir, 'audit.log'), 'utf8');
    assert.equal(text.split('\n').length, 4);
    await again.close();
  });
});

void describe('embedded store: crash safety', () => {
  void it('SIGKILL in the middle of a burst of createKey(): every acknowledged key is there and decrypts, and the store opens cleanly', async () => {
    const dir = join(tempDir(), 'data');
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./support/create-keys-forever.ts', import.meta.url)), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged: string[] = [];
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code} ${signal}`))));
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const l of lines) if (l !== 'ready') acknowledged.push(l);
        if (acknowledged.length >= 150 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
    });
    assert.ok(acknowledged.length >= 150, `${acknowledged.length} keys acknowledged`);
    // Simulate what a kill between the temporary file and the link leaves behind, too.
    writeFileSync(join(dir, 'keys', `${acknowledged[0]}.tmp-12345-0123456789ab`), 'partial');
    const store = await openEmbeddedStore(dir);
    const listed = new Set((await store.listKeys()).map((k) => k.kid));
    for (const kid of acknowledged) {
      assert.ok(listed.has(kid), `acknowledged key ${kid} is missing`);
      assert.equal((await store.getKey(kid)).length, 32);
    }
    // Keys created but not yet acknowledged when the kill came are whole too.
    for (const kid of listed) assert.equal((await store.getKey(kid)).length, 32);
    assert.deepEqual(readdirSync(join(dir, 'keys')).filter((f) => f.includes('.tmp-')), []);
    await store.close();
  });
});
