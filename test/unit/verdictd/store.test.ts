// The embedded store (src/verdictd/store/embedded.ts): the Store contract (support/store-contract.ts), layout and modes, the master key's lifecycle, sealed
// records and their tamper errors, atomic writes under SIGKILL, and the audit log.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openEmbeddedStore, type EmbeddedStore } from '../../../src/verdictd/store/embedded.ts';
import { NOW, rejectsWith, storeContract } from './support/store-contract.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'verdictd-store-'));
  dirs.push(d);
  return d;
}
async function fresh(): Promise<{ dir: string; store: EmbeddedStore }> {
  const dir = join(tempDir(), 'data');
  return { dir, store: await openEmbeddedStore(dir, { init: true, now: () => NOW }) };
}

storeContract('embedded', {
  async fresh() {
    const { dir, store } = await fresh();
    // One process owns a data directory: the second handle of the contract is the same store.
    return { store, reopen: () => openEmbeddedStore(dir, { now: () => NOW }), peer: () => Promise.resolve(store) };
  },
});
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
