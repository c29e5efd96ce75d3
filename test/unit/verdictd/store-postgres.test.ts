// The PostgreSQL store (src/verdictd/store/postgres.ts) against a real PostgreSQL started here
// (test/support/postgres.ts): the Store contract (support/store-contract.ts), its master key checks, the
// schema version table, tampered rows and the append-only audit table.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { masterKeyFileText } from '../../../src/verdictd/store/master-key.ts';
import { openPostgresStore, SCHEMA_VERSION } from '../../../src/verdictd/store/postgres.ts';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../../support/postgres.ts';
import { NOW, rejectsWith, storeContract } from './support/store-contract.ts';

const skip = postgresSkipReason();
let server: TestPostgres | undefined;
const work = mkdtempSync(join(tmpdir(), 'verdictd-pgstore-'));
let databases = 0;

before(async () => {
  if (skip === undefined) server = await startPostgres();
});
after(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A new database and a master key file for it. */
async function freshDatabase(): Promise<{ url: string; masterKeyFile: string }> {
  databases++;
  const url = await server!.createDatabase(`store${databases}`);
  return { url, masterKeyFile: join(work, `master${databases}.key`) };
}

async function sql(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

if (skip !== undefined) {
  void describe('postgres store', () => {
    void it('needs PostgreSQL', { skip }, () => undefined);
  });
} else {
  storeContract('postgres', {
    async fresh() {
      const { url, masterKeyFile } = await freshDatabase();
      const open = (init = false) => openPostgresStore(url, { masterKeyFile, now: () => NOW, init });
      return { store: await open(true), reopen: () => open(), peer: () => open() };
    },
  });

  void describe('postgres store: startup, master key and schema', () => {
    void it('a database without a store is refused without init; init creates the key file and records its id', async () => {
      const { url, masterKeyFile } = await freshDatabase();
      await rejectsWith(openPostgresStore(url, { masterKeyFile }), 'VERDICTD_ERR_STORE_NOT_INITIALIZED', /--init/);
      const store = await openPostgresStore(url, { masterKeyFile, init: true });
      const { rows } = await sql(url, 'SELECT master_key_id FROM verdictd_store');
      assert.equal(rows[0].master_key_id, store.masterKeyId);
      assert.deepEqual((await sql(url, 'SELECT version FROM verdictd_schema ORDER BY version')).rows.map((r: { version: number }) => r.version), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
      await store.close();
    });

    void it('a replica with another master key is refused at start, even with init', async () => {
      const { url, masterKeyFile } = await freshDatabase();
      await (await openPostgresStore(url, { masterKeyFile, init: true })).close();
      const other = join(work, 'other.key');
      writeFileSync(other, masterKeyFileText(Buffer.alloc(32, 9)), { mode: 0o600 });
      for (const init of [false, true]) await rejectsWith(openPostgresStore(url, { masterKeyFile: other, init }), 'VERDICTD_ERR_MASTER_KEY_INVALID', /same master key file/);
      await rejectsWith(openPostgresStore(url, { masterKeyFile: join(work, 'missing.key') }), 'VERDICTD_ERR_MASTER_KEY_MISSING');
    });

    void it('replicas starting together migrate the schema once', async () => {
      const { url, masterKeyFile } = await freshDatabase();
      await (await openPostgresStore(url, { masterKeyFile, init: true })).close();
      const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url, { masterKeyFile })));
      assert.equal((await sql(url, 'SELECT count(*)::int AS n FROM verdictd_schema')).rows[0].n, SCHEMA_VERSION);
      await Promise.all(stores.map((s) => s.close()));
    });

    void it('a tampered or swapped key row is VERDICTD_ERR_STORE_CORRUPT; keys are never in clear in the database', async () => {
      const { url, masterKeyFile } = await freshDatabase();
      const store = await openPostgresStore(url, { masterKeyFile, init: true });
      const key = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
      const a = await store.importKey(key);
      const b = await store.createKey();
      const dump = JSON.stringify((await sql(url, 'SELECT * FROM verdictd_keys')).rows);
      for (const needle of [key.toString('hex'), key.toString('base64')]) assert.equal(dump.includes(needle), false);
      const recordOf = async (kid: string): Promise<string> => (await sql(url, 'SELECT record FROM verdictd_keys WHERE kid = $1', [kid])).rows[0].record as string;
      const ra = await recordOf(a.kid);
      const rb = await recordOf(b.kid);
      await sql(url, 'UPDATE verdictd_keys SET record = $2 WHERE kid = $1', [a.kid, rb.replace(b.kid, a.kid)]);
      await rejectsWith(store.getKey(a.kid), 'VERDICTD_ERR_STORE_CORRUPT', /fails authentication/);
      const flipped = ra.replace(/"data":"(.)/, (_m, c: string) => `"data":"${c === 'A' ? 'B' : 'A'}`);
      await sql(url, 'UPDATE verdictd_keys SET record = $2 WHERE kid = $1', [a.kid, flipped]);
      await rejectsWith(store.getKey(a.kid), 'VERDICTD_ERR_STORE_CORRUPT', /verdictd_keys/);
      await sql(url, 'UPDATE verdictd_keys SET record = $2 WHERE kid = $1', [a.kid, ra]);
      assert.deepEqual(Buffer.from(await store.getKey(a.kid)), key);
      await store.close();
    });

    void it('the audit table is append-only', async () => {
      const { url, masterKeyFile } = await freshDatabase();
      const store = await openPostgresStore(url, { masterKeyFile, init: true });
      await store.appendAudit({ time: NOW.toISOString(), peer: {}, action: 'test', decision: 'allow' });
      await assert.rejects(sql(url, "UPDATE verdictd_audit SET decision = 'deny'"), /append-only/);
      await assert.rejects(sql(url, 'DELETE FROM verdictd_audit'), /append-only/);
      assert.equal((await store.readAudit()).length, 1);
      await store.close();
    });
  });
}
