/**
 * The package's library entry points as an application uses them (package.json "exports", `npm run build`):
 * a project whose node_modules/inclavare is this repository imports `inclavare/rats-tls`,
 * `inclavare/rats-tls/grpc`, `inclavare/attestation` and `inclavare/pal`, runs an attested TLS exchange on
 * 127.0.0.1 with them, and type-checks against the shipped declarations (dist/types) with tsc.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const repo = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
let app: string;

before(() => {
  for (const f of ['dist/lib/rats-tls.mjs', 'dist/types/rats-tls/index.d.ts']) assert.ok(existsSync(join(repo, f)), `${f} is missing: run \`npm run build\` first`);
  app = mkdtempSync(join(tmpdir(), 'incl-app-'));
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(repo, join(app, 'node_modules', 'inclavare'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
});
after(() => rmSync(app, { recursive: true, force: true }));

/** An application: an attested echo server and a client that trusts the sim platform key, on 127.0.0.1. */
const APP = `
import { generateKeyPairSync } from 'node:crypto';
import { connect, createLocalSimAttester, createRatsTlsIdentity, createServer, RATS_TLS_ERROR_CODES } from 'inclavare/rats-tls';
import { ratsTlsChannelCredentials } from 'inclavare/rats-tls/grpc';
import { detectTee, TEE_SCHEMES, TEE_TYPES } from 'inclavare/attestation';
import { BUILTIN_RUNTIMES, loadEnclaveRuntime } from 'inclavare/pal';

const platform = generateKeyPairSync('ed25519');
const attester = createLocalSimAttester({ platformKey: platform.privateKey });
const server = createServer({ attester }, (socket) => socket.once('data', (d) => socket.end(d)));
server.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const { port } = server.address();
const identity = await createRatsTlsIdentity({ attester });
const echo = await new Promise((resolve, reject) => {
  let got = '';
  const socket = connect({ host: '127.0.0.1', port, identity, verify: { evidence: { sim: { platformKeys: [platform.publicKey] } }, expected: { tee: 'sim' } } }, () => socket.write('ping'));
  socket.on('data', (d) => (got += d));
  socket.on('error', reject);
  socket.on('close', () => resolve(got + ' from ' + socket.ratsTls.claims.tee));
});
identity.close();
server.close();
const runtime = await loadEnclaveRuntime('sim');
console.log(JSON.stringify({
  echo,
  grpc: typeof ratsTlsChannelCredentials({}),
  tees: TEE_TYPES,
  tags: TEE_TYPES.map((t) => TEE_SCHEMES[t].cborTag),
  detect: detectTee(new Uint8Array(8)),
  runtimes: BUILTIN_RUNTIMES,
  runtime: runtime.name,
  code: RATS_TLS_ERROR_CODES.NO_EVIDENCE,
}));
`;

/** The same in TypeScript, with a deliberate type error in a second file. */
const TYPED = `
import { connect, createServer, type RatsTlsVerifyOptions, type AttestedCertificateVerification } from 'inclavare/rats-tls';
import { bindRatsTls, ratsTlsPeerOf, ratsTlsServerCredentials, type RatsTlsServerCredentialsOptions } from 'inclavare/rats-tls/grpc';
import { verifyEvidence, type Claims, type IntelCollateral, type TeeScheme, type VerifyEvidenceOptions } from 'inclavare/attestation';
import { loadEnclaveRuntime, type EnclaveRuntime } from 'inclavare/pal';

const verify: RatsTlsVerifyOptions = { allowUnattested: false, expected: { tee: 'sgx', measurements: { mrenclave: 'ab' } } };
const collateral: IntelCollateral = {};
// Per-TEE options, and the flat ones of the first releases, both type-check.
export const perTee: VerifyEvidenceOptions = { at: new Date(0), sgx: { collateral }, tdx: { collateral }, snp: { vcek: '' }, sim: { platformKeys: [] } };
export const flat: VerifyEvidenceOptions = { at: new Date(0), intelCollateral: collateral, simPlatformKeys: [] };
export function tagOf(s: TeeScheme): number { return s.cborTag; }
export function tee(c: Claims): string { return c.tee; }
export function report(v: AttestedCertificateVerification): boolean { return v.verified && v.binding === 'valid'; }
export const opts: RatsTlsServerCredentialsOptions = { mutual: true, verify };
export const runtime: Promise<EnclaveRuntime> = loadEnclaveRuntime('wasm');
export const fns = [connect, createServer, ratsTlsServerCredentials, bindRatsTls, ratsTlsPeerOf, verifyEvidence, collateral] as const;
`;

function tsc(files: Record<string, string>) {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(app, name), text);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(repo, 'node_modules/@types')],
      },
      files: Object.keys(files),
    }),
  );
  return spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, encoding: 'utf8' });
}

void describe('package exports', () => {
  test('an application imports the four entry points and runs an attested exchange with them', () => {
    writeFileSync(join(app, 'app.mjs'), APP);
    const r = spawnSync(process.execPath, [join(app, 'app.mjs')], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      echo: 'ping from sim',
      grpc: 'object',
      tees: ['sgx', 'tdx', 'snp', 'sim'],
      tags: [60000, 60000, 0x1a7504, 0x1a7600],
      detect: null,
      runtimes: ['sim', 'wasm'],
      runtime: 'sim',
      code: 'RATS_TLS_ERR_NO_EVIDENCE',
    });
  });

  test('the shipped declarations type-check an application, and catch its type errors', () => {
    const ok = tsc({ 'typed.ts': TYPED });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    const bad = tsc({ 'typed.ts': TYPED, 'bad.ts': `import type { RatsTlsVerifyOptions } from 'inclavare/rats-tls';\nexport const v: RatsTlsVerifyOptions = { allowUnattested: 'yes' };\n` });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stdout, /^bad\.ts\(2,\d+\): error TS2322: Type 'string' is not assignable to type 'boolean/m);
    assert.doesNotMatch(bad.stdout, /typed\.ts|dist\/types/, 'only the deliberate error');
  });
});
