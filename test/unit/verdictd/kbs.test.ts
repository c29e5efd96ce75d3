// The KBS front end (src/verdictd/kbs/): Trustee's KBS protocol over HTTP on loopback, driven by the test
// suite's own client (test/support/kbs-client.ts), over an embedded store, the broker and a clock the test moves.
import { strict as assert } from 'node:assert';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, jwtVerify, SignJWT, type FlattenedJWE } from 'jose';
import { createSimEvidence } from '../../../src/attestation/sim/create.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { pemDecode } from '../../../src/x509/pem.ts';
import { Broker, type CollateralSource } from '../../../src/verdictd/broker.ts';
import type { ManagedServer } from '../../../src/verdictd/eaa/server.ts';
import { loadIdentityKey } from '../../../src/verdictd/identity.ts';
import { readKbsAdminKey } from '../../../src/verdictd/kbs/admin.ts';
import { parseTeeEvidence } from '../../../src/verdictd/kbs/evidence.ts';
import { createKbsServer, kbsReportData } from '../../../src/verdictd/kbs/server.ts';
import { silentVerdictdLog } from '../../../src/verdictd/log.ts';
import { openEmbeddedStore, type EmbeddedStore } from '../../../src/verdictd/store/embedded.ts';
import { loadIntelVectors } from '../../support/intel-vectors.ts';
import { KbsClient, openResource, runtimeDataBinding, teeKeyPair, type KbsAnswer } from '../../support/kbs-client.ts';
import { loadSnpVectorFiles, snpInputs } from '../../support/snp-vectors.ts';
import { fuzzRandom } from '../../support/verdictd-fuzz.ts';

const AT = new Date('2026-03-01T12:00:00.000Z');
const platform = generateKeyPairSync('ed25519');
const admin = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const measurement = createHash('sha384').update('kbs-image').digest();
const platformKeyId = createHash('sha256').update(platform.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
const SECRET = Buffer.from('the database password');

const work = mkdtempSync(join(tmpdir(), 'verdictd-kbs-'));
let clock = AT;
const now = (): Date => clock;
let store: EmbeddedStore;
let broker: Broker;
let server: ManagedServer;
let closed: ManagedServer;
let base: string;
let closedBase: string;

before(async () => {
  store = await openEmbeddedStore(join(work, 'data'), { init: true, now });
  await store.setTrust({ simPlatformKeys: [platform.publicKey.export({ type: 'spki', format: 'pem' }).toString()] });
  await store.setReferenceSet({ name: 'default', values: { measurement: [measurement.toString('hex')], platformKeyId: [platformKeyId] } });
  await store.setResource('app/db/password', SECRET);
  broker = new Broker({ store, now });
  const adminKeyFile = join(work, 'admin.pub');
  writeFileSync(adminKeyFile, admin.publicKey.export({ type: 'spki', format: 'pem' }));
  server = createKbsServer({ store, broker, log: silentVerdictdLog, host: '127.0.0.1', port: 0, policy: 'default', adminKey: readKbsAdminKey(adminKeyFile), now });
  closed = createKbsServer({ store, broker, log: silentVerdictdLog, host: '127.0.0.1', port: 0, policy: 'default', now });
  base = `http://127.0.0.1:${(await server.start()).port}`;
  closedBase = `http://127.0.0.1:${(await closed.start()).port}`;
});
after(async () => {
  await server.close();
  await closed.close();
  await store.close();
  rmSync(work, { recursive: true, force: true });
});

/** Sim evidence binding `runtimeData`, in the `sample` tee-evidence form. */
function simEvidence(runtimeData: unknown, o: { m?: Buffer } = {}): { evidence: string } {
  const bytes = createSimEvidence({ measurement: o.m ?? measurement, reportData: runtimeDataBinding(runtimeData), platformKey: platform.privateKey, at: clock });
  return { evidence: Buffer.from(bytes).toString('base64') };
}

/** auth + attest with sim evidence; resolves to the client, its TEE key and the attest answer. */
async function attested(o: { kind?: 'rsa' | 'ec'; m?: Buffer; tee?: string } = {}) {
  const client = new KbsClient(base);
  const nonce = await client.auth(o.tee ?? 'sample');
  const key = await teeKeyPair(o.kind ?? 'ec');
  const runtimeData = { nonce, 'tee-pubkey': key.jwk };
  const answer = await client.attest(runtimeData, simEvidence(runtimeData, o));
  return { client, key, answer, runtimeData };
}

function problem(a: KbsAnswer, status: number, code: string, detail?: RegExp): void {
  const body = a.body as { type: string; status: number; code: string; detail: string };
  assert.equal(a.status, status, JSON.stringify(a.body));
  assert.equal(a.headers.get('content-type'), 'application/problem+json');
  assert.equal(body.code, code);
  assert.equal(body.type, `urn:inclavare:error:${code}`);
  assert.equal(body.status, status);
  if (detail !== undefined) assert.match(body.detail, detail);
}

async function adminJwt(key = admin.privateKey, exp = Math.floor(AT.getTime() / 1000) + 600): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).setIssuedAt(Math.floor(AT.getTime() / 1000)).setExpirationTime(exp).sign(key);
}

void describe('KBS front end: the sim flow', () => {
  void it('auth answers a nonce and a kbs-session-id cookie; attest answers an ES256 EAR token that binds the tee-pubkey', async () => {
    const { client, key, answer, runtimeData } = await attested();
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.match(client.cookie!, /^kbs-session-id=[0-9a-f-]{36}$/);
    const { key: signing } = await loadIdentityKey(store, 'kbs-token');
    const { payload, protectedHeader } = await jwtVerify(client.token!, createPublicKey(signing), { currentDate: clock });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(payload.eat_profile, 'tag:github.com,2023:veraison/ear');
    assert.equal(payload.eat_nonce, runtimeData.nonce);
    assert.deepEqual((payload.cnf as { jwk: unknown }).jwk, { kty: 'EC', crv: 'P-256', x: key.jwk.x, y: key.jwk.y });
    const cpu0 = (payload.submods as Record<string, Record<string, unknown>>).cpu0!;
    assert.equal(cpu0['ear.status'], 'affirming');
    assert.deepEqual(cpu0['ear.trustworthiness-vector'], { 'instance-identity': 2, configuration: 3, executables: 2 });
    assert.equal(cpu0['ear.appraisal-policy-id'], 'policy:default');
    const annotated = cpu0['ear.veraison.annotated-evidence'] as { claims: { tee: string; reportData: string }; 'runtime-data': unknown };
    assert.equal(annotated.claims.tee, 'sim');
    assert.deepEqual(annotated['runtime-data'], runtimeData);
    assert.equal(annotated.claims.reportData, Buffer.from(runtimeDataBinding(runtimeData)).toString('hex'));
    assert.equal(payload.exp! - payload.iat!, 300);
  });

  void it('releases a resource as a flattened A256GCM JWE to an EC (ECDH-ES+A256KW) and an RSA (RSA-OAEP-256) tee-pubkey, by cookie and by bearer token', async () => {
    for (const kind of ['ec', 'rsa'] as const) {
      const { client, key } = await attested({ kind });
      const byCookie = await client.resource('app/db/password');
      assert.equal(byCookie.status, 200, JSON.stringify(byCookie.body));
      const jwe = byCookie.body as FlattenedJWE;
      assert.equal(JSON.parse(Buffer.from(jwe.protected!, 'base64url').toString()).alg, kind === 'ec' ? 'ECDH-ES+A256KW' : 'RSA-OAEP-256');
      assert.deepEqual(await openResource(jwe, key.privateKey), SECRET);
      const byToken = await new KbsClient(base).resource('app/db/password', { bearer: client.token! });
      assert.deepEqual(await openResource(byToken.body as FlattenedJWE, key.privateKey), SECRET);
    }
    const last = (await store.readAudit()).at(-1)!;
    assert.equal(last.action, 'release-resource');
    assert.equal(last.path, 'app/db/password');
    assert.equal(last.decision, 'allow');
    assert.equal(last.peer.frontEnd, 'kbs');
  });

  void it('computes report_data as SHA-384 of the RFC 8785 JSON of runtime-data, zero padded (the client computes it independently)', () => {
    const rd = { nonce: 'n', 'tee-pubkey': { y: '2', kty: 'EC', x: '1', crv: 'P-256' }, extra: [1.5, 'é', { b: 1, a: 2 }] };
    assert.equal(kbsReportData(rd), Buffer.from(runtimeDataBinding(rd)).toString('hex'));
    assert.match(kbsReportData(rd), /0{32}$/);
  });
});

void describe('KBS front end: refusals', () => {
  void it('refuses evidence replayed for another nonce, and a second attest in the same session', async () => {
    const first = await attested();
    assert.equal(first.answer.status, 200);
    // The same evidence and runtime-data in a new session: its nonce is not this session's.
    const replay = new KbsClient(base);
    await replay.auth('sample');
    problem(await replay.attest(first.runtimeData, simEvidence(first.runtimeData)), 401, 'VERDICTD_ERR_EVIDENCE_REJECTED', /nonce is not this session's/);
    // The new session's nonce in runtime-data, the old evidence: report_data does not bind it.
    const other = new KbsClient(base);
    const nonce = await other.auth('sample');
    problem(await other.attest({ ...first.runtimeData, nonce }, simEvidence(first.runtimeData)), 401, 'VERDICTD_ERR_EVIDENCE_REJECTED', /report data/);
    problem(await first.client.attest(first.runtimeData, simEvidence(first.runtimeData)), 401, 'VERDICTD_ERR_UNAUTHENTICATED', /used its nonce/);
    assert.equal((await store.readAudit()).at(-1)!.action, 'attest');
  });

  void it('answers 401 for no session, an unattested session, an expired token or session, and a token signed by another key', async () => {
    problem(await new KbsClient(base).resource('app/db/password'), 401, 'VERDICTD_ERR_UNAUTHENTICATED');
    const fresh = new KbsClient(base);
    await fresh.auth('sample');
    problem(await fresh.resource('app/db/password'), 401, 'VERDICTD_ERR_UNAUTHENTICATED', /no attested KBS session/);
    const { client } = await attested();
    const payload = decodeJwt(client.token!);
    const foreign = await new SignJWT(payload).setProtectedHeader({ alg: 'ES256' }).sign(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    problem(await new KbsClient(base).resource('app/db/password', { bearer: foreign }), 401, 'VERDICTD_ERR_UNAUTHENTICATED', /not signed by this verdictd/);
    problem(await new KbsClient(base).resource('app/db/password', { bearer: 'not.a.jwt' }), 401, 'VERDICTD_ERR_UNAUTHENTICATED');
    clock = new Date(AT.getTime() + 301_000);
    try {
      problem(await new KbsClient(base).resource('app/db/password', { bearer: client.token! }), 401, 'VERDICTD_ERR_UNAUTHENTICATED', /expired/);
      problem(await client.resource('app/db/password'), 401, 'VERDICTD_ERR_UNAUTHENTICATED');
    } finally {
      clock = AT;
    }
  });

  void it('refuses a tee-pubkey asking for RSA1_5 or an RSA key under 2048 bits, naming why (400)', async () => {
    for (const [jwk, detail] of [
      [{ ...(await teeKeyPair('rsa')).jwk, alg: 'RSA1_5' }, /RSA1_5 is refused/],
      [(await teeKeyPair('rsa', 1024)).jwk, /1024 bits; at least 2048/],
      [{ kty: 'EC', crv: 'secp256k1', x: 'AA', y: 'AA' }, /curve "secp256k1"/],
    ] as const) {
      const client = new KbsClient(base);
      const nonce = await client.auth('sample');
      const runtimeData = { nonce, 'tee-pubkey': jwk };
      problem(await client.attest(runtimeData, simEvidence(runtimeData)), 400, 'VERDICTD_ERR_TEE_KEY_REFUSED', detail);
    }
  });

  void it('answers 404 for a missing resource and an unknown endpoint', async () => {
    const { client } = await attested();
    problem(await client.resource('app/db/nosuch'), 404, 'VERDICTD_ERR_NOT_FOUND');
    problem(await client.request('GET', '/kbs/v0/nosuch'), 404, 'VERDICTD_ERR_NOT_FOUND');
    problem(await client.request('GET', '/other'), 404, 'VERDICTD_ERR_NOT_FOUND');
  });

  void it('issues a contraindicated token to an unknown image and denies its resource with 403 naming the rule', async () => {
    const { client, answer } = await attested({ m: createHash('sha384').update('another image').digest() });
    assert.equal(answer.status, 200);
    const cpu0 = (decodeJwt(client.token!).submods as Record<string, Record<string, unknown>>).cpu0!;
    assert.equal(cpu0['ear.status'], 'contraindicated');
    assert.deepEqual((cpu0['ear.veraison.annotated-evidence'] as { 'failed-rules': string[] })['failed-rules'], ['measurement']);
    problem(await client.resource('app/db/password'), 403, 'VERDICTD_ERR_POLICY_DENIED', /rule "measurement"/);
    const last = (await store.readAudit()).at(-1)!;
    assert.equal(last.decision, 'deny');
    assert.deepEqual(last.failedRules!.map((f) => f.rule), ['measurement']);
  });

  void it('refuses tee names it does not serve and protocol versions other than 0.1.x (400)', async () => {
    const client = new KbsClient(base);
    problem(await client.request('POST', '/kbs/v0/auth', { body: { version: '0.1.1', tee: 'cca', 'extra-params': {} } }), 400, 'VERDICTD_ERR_MALFORMED_REQUEST', /"cca" is not served/);
    problem(await client.request('POST', '/kbs/v0/auth', { body: { version: '1.0.0', tee: 'sgx', 'extra-params': {} } }), 400, 'VERDICTD_ERR_MALFORMED_REQUEST');
    problem(await client.request('POST', '/kbs/v0/auth', { body: Buffer.alloc(300 * 1024, 0x20) }), 400, 'VERDICTD_ERR_BODY_TOO_LARGE');
  });
});

void describe('KBS front end: admin endpoints', () => {
  void it('are refused without --kbs-admin-key (403), without a JWT or with one of another key or expired (401)', async () => {
    const body = { policy: Buffer.from('{"rules":[{"name":"t","expression":"true"}]}').toString('base64') };
    problem(await new KbsClient(closedBase).request('POST', '/kbs/v0/resource-policy', { body, headers: { authorization: `Bearer ${await adminJwt()}` } }), 403, 'VERDICTD_ERR_ADMIN_DISABLED');
    const client = new KbsClient(base);
    problem(await client.request('POST', '/kbs/v0/resource-policy', { body }), 401, 'VERDICTD_ERR_UNAUTHENTICATED');
    problem(await client.request('POST', '/kbs/v0/resource-policy', { body, headers: { authorization: `Bearer ${await adminJwt(stranger.privateKey)}` } }), 401, 'VERDICTD_ERR_UNAUTHENTICATED');
    problem(await client.request('POST', '/kbs/v0/resource-policy', { body, headers: { authorization: `Bearer ${await adminJwt(admin.privateKey, Math.floor(AT.getTime() / 1000) - 1)}` } }), 401, 'VERDICTD_ERR_UNAUTHENTICATED');
    problem(await client.request('POST', '/kbs/v0/resource/app/db/password', { body: Buffer.from('overwritten') }), 401, 'VERDICTD_ERR_UNAUTHENTICATED');
    assert.deepEqual(Buffer.from(await store.getResource('app/db/password')), SECRET);
  });

  void it('upload a resource, set reference values and policies with the admin JWT, audited as kbs-admin; Rego is refused', async () => {
    const headers = { authorization: `Bearer ${await adminJwt()}` };
    const client = new KbsClient(base);
    assert.equal((await client.request('POST', '/kbs/v0/resource/app/tls/key', { body: Buffer.from('tls key'), headers })).status, 200);
    assert.deepEqual(Buffer.from(await store.getResource('app/tls/key')), Buffer.from('tls key'));
    const set = { name: 'extra', values: { measurement: ['ab'.repeat(48)] } };
    assert.equal((await client.request('POST', '/kbs/v0/reference-value', { body: set, headers })).status, 200);
    assert.deepEqual((await client.request('GET', '/kbs/v0/reference-value/extra', { headers })).body, set);
    const policy = { name: 'kbs-test', rules: [{ name: 'sim-only', expression: "claims.tee == 'sim'" }] };
    const b64 = Buffer.from(JSON.stringify(policy)).toString('base64');
    assert.equal((await client.request('POST', '/kbs/v0/attestation-policy', { body: { type: 'cel', policy_id: 'kbs-test', policy: b64 }, headers })).status, 200);
    assert.equal(JSON.parse((await store.getPolicy('kbs-test')).text).name, 'kbs-test');
    problem(await client.request('POST', '/kbs/v0/attestation-policy', { body: { type: 'rego', policy_id: 'x', policy: b64 }, headers }), 400, 'VERDICTD_ERR_MALFORMED_REQUEST', /rego/);
    const got = (await client.request('GET', '/kbs/v0/resource-policy', { headers })).body as { policy: string };
    assert.match(Buffer.from(got.policy, 'base64url').toString(), /"name": ?"default"/);
    const audit = await store.readAudit();
    assert.ok(audit.some((r) => r.action === 'resource-set' && r.path === 'app/tls/key' && r.peer.frontEnd === 'kbs-admin'));
    assert.ok(audit.some((r) => r.action === 'policy-set' && r.name === 'kbs-test'));
  });
});

void describe('KBS tee-evidence of real hardware (vectors, at their suggested time)', () => {
  // A vector's report_data was fixed by whoever captured it: it cannot bind this session's runtime-data. So
  // these go through the KBS evidence parser and the broker (what /attest does), and the report-data check is
  // expected to refuse them after the evidence itself verified.
  const expectBindingRefused = async (b: Broker, tee: 'sgx' | 'tdx' | 'snp', teeEvidence: unknown): Promise<void> => {
    const { evidence, evidenceOptions } = parseTeeEvidence(tee, teeEvidence);
    const peer = { address: 'test', frontEnd: 'kbs' };
    const att = await b.attest({ evidence, tee, evidenceOptions, peer });
    assert.equal(att.claims.tee, tee);
    const runtimeData = { nonce: 'n', 'tee-pubkey': (await teeKeyPair()).jwk };
    await assert.rejects(b.attest({ evidence, tee, reportData: kbsReportData(runtimeData), evidenceOptions, peer }), (err: unknown) => {
      assert.ok(isInclavareError(err, 'VERDICTD_ERR_EVIDENCE_REJECTED'));
      assert.match(err.message, /does not bind the expected report data/);
      return true;
    });
  };

  void it('an SGX and a TDX quote as {"quote": b64} verify, then fail the runtime-data binding', async () => {
    const vectors = await loadIntelVectors();
    for (const id of ['sgx-v3-dcapqvl-00a067110000', 'tdx-v4-tinfoil-90c06f000000']) {
      const v = vectors.find((x) => x.id === id)!;
      const collateral: CollateralSource = { optionsFor: async (tee) => ({ [tee]: { collateral: v.collateral } }) };
      await expectBindingRefused(new Broker({ store, now: () => v.at!, collateral }), v.kind === 'intel-sgx' ? 'sgx' : 'tdx', { quote: Buffer.from(v.quote).toString('base64') });
    }
  });

  void it('an SNP report as {"attestation_report": b64, "cert_chain": [VCEK as bytes]} verifies, then fails the runtime-data binding', async () => {
    const v = loadSnpVectorFiles().find((x) => x.id === 'snp-v2-trustee-milan')!;
    const { vcek } = snpInputs(v);
    const der = typeof vcek === 'string' ? pemDecode(vcek, 'CERTIFICATE')! : vcek;
    const teeEvidence = JSON.stringify({ attestation_report: readFileSync(v.report).toString('base64'), cert_chain: [{ cert_type: 'VCEK', data: Array.from(der) }] });
    await expectBindingRefused(new Broker({ store, now: () => v.at }), 'snp', teeEvidence);
  });
});

void describe('KBS front end: fuzz', () => {
  void it('answers 10^4 random and mutated requests with 4xx only, then still serves the full flow', async () => {
    const r = fuzzRandom(Number(process.env.KBS_FUZZ_SEED ?? 20261204));
    const { runtimeData } = await attested();
    const valid: Record<string, unknown>[] = [
      { version: '0.1.1', tee: 'sample', 'extra-params': {} },
      { 'runtime-data': runtimeData, 'tee-evidence': simEvidence(runtimeData) },
      { 'runtime-data': runtimeData, 'tee-evidence': { quote: 'AAAA' } },
      { 'runtime-data': runtimeData, 'tee-evidence': JSON.stringify({ attestation_report: 'AAAA', cert_chain: [{ cert_type: 'VCEK', data: [1, 2] }] }) },
      { type: 'cel', policy_id: 'x', policy: 'e30' },
    ];
    const paths = ['/kbs/v0/auth', '/kbs/v0/attest', '/kbs/v0/resource/app/db/password', '/kbs/v0/resource-policy', '/kbs/v0/reference-value', '/kbs/v0/attestation-policy', '/kbs/v0/x'];
    const values = [null, true, 0, -1, 1e308, '', 'sample', 'A'.repeat(5000), [], {}, [1, 'a'], { nonce: 1 }];
    const mutate = (v: unknown, depth = 0): unknown => {
      if (v === null || typeof v !== 'object' || depth > 4) return r.int(3) === 0 ? values[r.int(values.length)] : v;
      if (Array.isArray(v)) return v.map((x) => mutate(x, depth + 1));
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const roll = r.int(10);
        if (roll === 0) continue;
        out[roll === 1 ? `${k}_` : k] = roll === 2 ? values[r.int(values.length)] : mutate(x, depth + 1);
      }
      return out;
    };
    const one = async (i: number): Promise<void> => {
      const client = new KbsClient(base);
      if (r.int(2) === 0) client.cookie = r.int(2) === 0 ? 'kbs-session-id=' + r.uuid() : 'kbs-session-id=' + r.bytes(8).toString('hex');
      const path = paths[r.int(paths.length)]!;
      const kind = r.int(4);
      const body = kind === 0 ? r.bytes(r.int(200)) : kind === 1 ? JSON.stringify(mutate(valid[r.int(valid.length)])).slice(0, r.int(2) === 0 ? undefined : r.int(400)) : mutate(valid[r.int(valid.length)]);
      const headers: Record<string, string> = r.int(4) === 0 ? { authorization: `Bearer ${r.bytes(20).toString('base64url')}.${r.bytes(8).toString('base64url')}.x` } : {};
      const get = r.int(5) === 0;
      const a = await client.request(get ? 'GET' : 'POST', path, get ? { headers } : { body, headers });
      assert.ok(a.status >= 400 && a.status < 500 ? true : a.status === 200 && /auth$|attest$/.test(path), `request ${i} to ${path}: ${a.status} ${JSON.stringify(a.body)}`);
    };
    const N = 10_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < N) await one(next++);
      }),
    );
    const { client, key } = await attested();
    assert.deepEqual(await openResource((await client.resource('app/db/password')).body as FlattenedJWE, key.privateKey), SECRET);
  });
});
