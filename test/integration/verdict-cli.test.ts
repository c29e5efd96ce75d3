/**
 * The built `verdict` CLI (dist/verdict.mjs; `npm run build` first) against verdictd's management API,
 * started in-process on 127.0.0.1:0 over an embedded store in a temp dir: every command, --json, exit statuses,
 * secrets only where asked, a refused token; and a server SIGKILLed in the middle of a burst of
 * `verdict key create`: every key the CLI acknowledged is there and intact after a restart.
 */
import { strict as assert } from 'node:assert';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createSimEvidence } from '../../src/attestation/sim/create.ts';
import { Broker } from '../../src/verdictd/broker.ts';
import { startManagementServer, type ManagementServer } from '../../src/verdictd/management/server.ts';
import { openEmbeddedStore, type EmbeddedStore } from '../../src/verdictd/store/embedded.ts';

const VERDICT = fileURLToPath(new URL('../../dist/verdict.mjs', import.meta.url));
const TEE_TOOLS = fileURLToPath(new URL('../../dist/tee-tools.mjs', import.meta.url));
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'verdict-cli-'));
  dirs.push(d);
  return d;
}

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}
function verdict(args: string[], options: { input?: Buffer } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [VERDICT, ...args], { encoding: 'buffer', maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr: stderr.toString() });
    });
    child.stdin!.end(options.input ?? Buffer.alloc(0));
  });
}

const platform = generateKeyPairSync('ed25519');
const good = createHash('sha384').update('image-a').digest();
const wrong = createHash('sha384').update('image-b').digest();

void describe('verdict CLI', () => {
  let dir: string;
  let work: string;
  let store: EmbeddedStore;
  let server: ManagementServer;
  let conn: string[];
  before(async () => {
    work = tempDir();
    dir = join(work, 'data');
    store = await openEmbeddedStore(dir, { init: true });
    server = await startManagementServer({ store, broker: new Broker({ store }), dataDir: dir, address: '127.0.0.1:0' });
    conn = ['-c', server.address, '--data-dir', dir];
  });
  after(async () => {
    await server.close();
    await store.close();
  });

  void it('key create | get | list | import | delete, with --json on reads, values only from get', async () => {
    const created = await verdict(['key', 'create', ...conn]);
    assert.equal(created.code, 0, created.stderr);
    const kid = created.stdout.toString().trim();
    assert.match(kid, /^[0-9a-f-]{36}$/);
    const hex = await verdict(['key', 'get', kid, ...conn]);
    assert.match(hex.stdout.toString(), /^[0-9a-f]{64}\n$/);
    const raw = await verdict(['key', 'get', kid, '--format', 'raw', ...conn]);
    assert.deepEqual(raw.stdout, Buffer.from(hex.stdout.toString().trim(), 'hex'));
    const asJson = JSON.parse((await verdict(['key', 'get', kid, '--json', ...conn])).stdout.toString()) as { key: string };
    assert.equal(asJson.key, hex.stdout.toString().trim());
    const out = join(work, 'k.bin');
    assert.equal((await verdict(['key', 'get', kid, '--format', 'raw', '-o', out, ...conn])).stdout.length, 0);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const value = randomBytes(32);
    const imp = await verdict(['key', 'import', '-', '--format', 'hex', '--json', ...conn], { input: Buffer.from(value.toString('hex')) });
    assert.equal(imp.code, 0, imp.stderr);
    const imported = JSON.parse(imp.stdout.toString()) as { uuid: string; origin: string; status: string };
    assert.deepEqual([imported.status, imported.origin], ['OK', 'imported']);
    const list = JSON.parse((await verdict(['key', 'list', '--json', ...conn])).stdout.toString()) as { uuid: string; length: number }[];
    assert.deepEqual(list.map((k) => k.uuid).sort(), [kid, imported.uuid].sort());
    const plain = (await verdict(['key', 'list', ...conn])).stdout.toString();
    assert.ok(!plain.includes(value.toString('hex')) && plain.includes(imported.uuid));
    assert.equal((await verdict(['key', 'delete', imported.uuid, ...conn])).code, 0);
    const gone = await verdict(['key', 'get', imported.uuid, ...conn]);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr, `verdict: Cannot find key ${imported.uuid}\n`);
  });

  void it('resource set | get | list | delete, from stdin and to stdout', async () => {
    const secret = Buffer.from('db-password\n');
    assert.equal((await verdict(['resource', 'set', 'app/db/password', '-', ...conn], { input: secret })).code, 0);
    assert.deepEqual((await verdict(['resource', 'get', 'app/db/password', ...conn])).stdout, secret);
    const j = JSON.parse((await verdict(['resource', 'get', 'app/db/password', '--json', ...conn])).stdout.toString()) as { base64: string };
    assert.equal(Buffer.from(j.base64, 'base64').toString(), secret.toString());
    const list = JSON.parse((await verdict(['resource', 'list', '--json', ...conn])).stdout.toString()) as { path: string; size: number }[];
    assert.deepEqual(list.map((r) => [r.path, r.size]), [['app/db/password', secret.length]]);
    assert.equal((await verdict(['resource', 'delete', 'app/db/password', ...conn])).code, 0);
    const bad = await verdict(['resource', 'set', 'not-a-path', '-', ...conn], { input: secret });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /repo\/type\/tag/);
  });

  void it('trust add-sim-key, reference set, policy set | get | list | test (the failed rule named for a wrong measurement)', async () => {
    const pemFile = join(work, 'platform.pem');
    writeFileSync(pemFile, platform.publicKey.export({ type: 'spki', format: 'pem' }));
    const id = (await verdict(['trust', 'add-sim-key', pemFile, ...conn])).stdout.toString().trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.deepEqual((JSON.parse((await verdict(['trust', 'list', '--json', ...conn])).stdout.toString()) as { simPlatformKeys: { platformKeyId: string }[] }).simPlatformKeys.map((k) => k.platformKeyId), [id]);
    const refFile = join(work, 'ref.json');
    writeFileSync(refFile, JSON.stringify({ values: { measurement: [good.toString('hex')], platformKeyId: [id] } }));
    assert.equal((await verdict(['reference', 'set', 'default', refFile, ...conn])).code, 0);
    assert.equal((await verdict(['reference', 'list', ...conn])).stdout.toString(), 'default\n');
    assert.deepEqual(JSON.parse((await verdict(['reference', 'get', 'default', '--json', ...conn])).stdout.toString()), { name: 'default', values: { measurement: [good.toString('hex')], platformKeyId: [id] } });

    const policyFile = join(work, 'p.json');
    const policy = JSON.stringify({ name: 'prod', rules: [{ name: 'not-debug', expression: 'claims.debug == false' }] });
    writeFileSync(policyFile, policy);
    assert.equal((await verdict(['policy', 'set', 'prod', policyFile, ...conn])).code, 0);
    assert.equal((await verdict(['policy', 'get', 'prod', ...conn])).stdout.toString(), `${policy}\n`);
    assert.equal((await verdict(['policy', 'list', ...conn])).stdout.toString(), 'prod\nallow-all\t(shipped)\ndefault\t(shipped)\ndeny-all\t(shipped)\n');
    const invalid = join(work, 'bad.json');
    writeFileSync(invalid, '{"rules":[{"name":"r","expression":"claims.("}]}');
    const refused = await verdict(['policy', 'set', 'bad', invalid, ...conn]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Cannot accept policy/);

    const evidenceFile = join(work, 'wrong.bin');
    writeFileSync(evidenceFile, createSimEvidence({ measurement: wrong, reportData: Buffer.alloc(64), platformKey: platform.privateKey, at: new Date() }));
    const denied = await verdict(['policy', 'test', '--evidence', evidenceFile, ...conn]);
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(denied.stdout.toString(), /^deny: policy "default"/);
    assert.match(denied.stdout.toString(), new RegExp(`rule "measurement" failed .*measurements.measurement=${wrong.toString('hex')}`));
    const deniedJson = JSON.parse((await verdict(['policy', 'test', 'default', '--evidence', evidenceFile, '--json', ...conn])).stdout.toString()) as { allow: boolean; failed: { rule: string }[]; claims: unknown };
    assert.deepEqual([deniedJson.allow, deniedJson.failed.map((f) => f.rule)], [false, ['measurement']]);
    const goodFile = join(work, 'good.bin');
    writeFileSync(goodFile, createSimEvidence({ measurement: good, reportData: Buffer.alloc(64), platformKey: platform.privateKey, at: new Date() }));
    assert.equal((await verdict(['policy', 'test', '--evidence', goodFile, '--tee', 'sim', ...conn])).code, 0);
    const claimsFile = join(work, 'claims.json');
    writeFileSync(claimsFile, JSON.stringify(deniedJson.claims));
    const byClaims = await verdict(['policy', 'test', 'prod', '--claims', claimsFile, ...conn]);
    assert.equal(byClaims.code, 0, byClaims.stdout.toString() + byClaims.stderr);
    assert.equal((await verdict(['policy', 'test', '--policy-file', policyFile, '--claims', claimsFile, ...conn])).code, 0);
    assert.equal((await verdict(['policy', 'delete', 'prod', ...conn])).code, 0);
  });

  void it('reference set NAME --from-image BUNDLE adds the `tee-tools measure` measurement to the set (merged; --replace; FILE and --from-image exclusive)', async () => {
    // A small sim bundle: a rootfs of a few files and a config.json whose env names the enclave.
    const bundle = join(work, 'bundle');
    mkdirSync(join(bundle, 'rootfs', 'bin'), { recursive: true });
    mkdirSync(join(bundle, 'rootfs', 'etc'), { recursive: true });
    writeFileSync(join(bundle, 'rootfs', 'bin', 'app'), '#!/bin/sh\necho hello\n');
    chmodSync(join(bundle, 'rootfs', 'bin', 'app'), 0o755);
    writeFileSync(join(bundle, 'rootfs', 'etc', 'app.conf'), 'greeting=hello\n');
    const config = { ociVersion: '1.0.2', root: { path: 'rootfs' }, mounts: [], process: { args: ['/bin/app'], cwd: '/', env: ['PATH=/bin', 'ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'] } };
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    const measured = (extra: string[] = []): string => {
      const r = spawnSync(process.execPath, [TEE_TOOLS, 'measure', bundle, ...extra], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    const m1 = measured();
    const m2 = measured(['--env', 'MODE=prod', '--', '/bin/app', 'serve']);
    assert.notEqual(m1, m2);
    const refFile = join(work, 'img-ref.json');
    writeFileSync(refFile, JSON.stringify({ values: { measurement: [good.toString('hex')], platformKeyId: ['ab'.repeat(32)] } }));
    assert.equal((await verdict(['reference', 'set', 'img', refFile, ...conn])).code, 0);
    const get = async () => (JSON.parse((await verdict(['reference', 'get', 'img', ...conn])).stdout.toString()) as { values: Record<string, string[]> }).values;

    const first = await verdict(['reference', 'set', 'img', '--from-image', bundle, ...conn]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.toString(), `img: measurement ${m1} (from ${bundle})\n`);
    assert.deepEqual(await get(), { measurement: [good.toString('hex'), m1], platformKeyId: ['ab'.repeat(32)] });
    const again = await verdict(['reference', 'set', 'img', '--from-image', bundle, ...conn]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((await get()).measurement, [good.toString('hex'), m1], 'a measurement already listed is not added twice');
    const withCommand = await verdict(['reference', 'set', 'img', '--from-image', bundle, '--env', 'MODE=prod', '--json', ...conn, '--', '/bin/app', 'serve']);
    assert.equal(withCommand.code, 0, withCommand.stderr);
    assert.deepEqual(JSON.parse(withCommand.stdout.toString()), { name: 'img', measurement: m2, source: bundle, values: { measurement: [good.toString('hex'), m1, m2], platformKeyId: ['ab'.repeat(32)] } });
    const replaced = await verdict(['reference', 'set', 'img', '--from-image', bundle, '--replace', ...conn]);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.deepEqual(await get(), { measurement: [m1], platformKeyId: ['ab'.repeat(32)] });
    const fresh = await verdict(['reference', 'set', 'new-set', '--from-image', bundle, ...conn]);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.deepEqual(JSON.parse((await verdict(['reference', 'get', 'new-set', ...conn])).stdout.toString()), { name: 'new-set', values: { measurement: [m1] } });

    for (const args of [
      ['reference', 'set', 'img', refFile, '--from-image', bundle],
      ['reference', 'set', 'img'],
      ['reference', 'set', 'img', refFile, '--replace'],
      ['reference', 'set', 'img', '--from-image', join(work, 'no-such-bundle-dir', 'x')],
    ]) {
      const r = await verdict([...args, ...conn]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.match((await verdict(['reference', 'set', 'img', refFile, '--from-image', bundle, ...conn])).stderr, /FILE .* and --from-image together/);
    assert.deepEqual(await get(), { measurement: [m1], platformKeyId: ['ab'.repeat(32)] }, 'a refused command changes nothing');
    await verdict(['reference', 'delete', 'img', ...conn]);
    await verdict(['reference', 'delete', 'new-set', ...conn]);
  });

  void it('usage errors exit 2; a wrong token or an unreachable address exit 1 with the reason', async () => {
    for (const args of [['key'], ['key', 'get'], ['policy', 'test', ...conn], ['key', 'get', 'x', '--format', 'pem', ...conn], ['key', 'import', '/nonexistent', ...conn]]) {
      const r = await verdict(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    const tokenFile = join(work, 'wrong-token');
    writeFileSync(tokenFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const wrongToken = await verdict(['key', 'list', '-c', server.address, '--token-file', tokenFile]);
    assert.equal(wrongToken.code, 1);
    assert.match(wrongToken.stderr, /admin token is not this verdictd's/);
    const unreachable = await verdict(['key', 'list', '-c', '127.0.0.1:1', '--data-dir', dir, '--timeout', '3']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /Cannot reach verdictd's management API at 127\.0\.0\.1:1/);
    const audit = readFileSync(join(dir, 'audit.log'), 'utf8');
    assert.ok(!audit.includes('db-password'));
  });

  void it('kill -9 of the server in the middle of a burst of `verdict key create`: every acknowledged key is there and intact after a restart', async () => {
    const data = join(tempDir(), 'data');
    const startChild = async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./support/management-server.ts', import.meta.url)), data], { stdio: ['ignore', 'pipe', 'inherit'] });
      const address = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.on('error', reject);
        child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
        child.stdout.on('data', (c: Buffer) => {
          buf += c.toString();
          if (buf.includes('\n')) resolve(buf.trim());
        });
      });
      return { child, address };
    };
    const first = await startChild();
    const acknowledged: string[] = [];
    const exited = new Promise<void>((resolve) => first.child.once('exit', () => resolve()));
    // Four clients in a loop; the server dies under them once 40 keys are acknowledged.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (;;) {
          const r = await verdict(['key', 'create', '-c', first.address, '--data-dir', data, '--timeout', '5']);
          if (r.code !== 0) return;
          acknowledged.push(r.stdout.toString().trim());
          if (acknowledged.length >= 40 && first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
        }
      }),
    );
    await exited;
    assert.equal(first.child.signalCode, 'SIGKILL');
    assert.ok(acknowledged.length >= 40, `${acknowledged.length} keys acknowledged`);
    const second = await startChild();
    try {
      const listed = JSON.parse((await verdict(['key', 'list', '--json', '-c', second.address, '--data-dir', data])).stdout.toString()) as { uuid: string; length: number }[];
      const byKid = new Map(listed.map((k) => [k.uuid, k.length]));
      for (const kid of acknowledged) assert.equal(byKid.get(kid), 32, `acknowledged key ${kid} is missing or damaged`);
      for (const kid of acknowledged.slice(0, 5)) assert.match((await verdict(['key', 'get', kid, '-c', second.address, '--data-dir', data])).stdout.toString(), /^[0-9a-f]{64}\n$/);
    } finally {
      second.child.kill('SIGKILL');
    }
  });
});
