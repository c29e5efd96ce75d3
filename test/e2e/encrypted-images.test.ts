/**
 * issue #13 items 1, 2, 6, 7 - encrypted images: verdictd wraps layer keys (ocicrypt key provider on its
 * --client-api), inclavare-keyprovider unwraps them inside an attested sim enclave run through rune, skopeo
 * decrypts the layers with that key and podman runs the result through rune. Debian 12's skopeo is built with
 * ocicrypt 1.0.3, which has no key provider protocol: the test plays ocicrypt's part for the keys
 * (test/support/ocicrypt.ts) and skopeo does the layers.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAnnotation } from '../../src/verdictd/key-provider/annotation.ts';
import { ManagementClient } from '../../src/verdictd/management/client.ts';
import { adminTokenPath, readAdminToken } from '../../src/verdictd/management/token.ts';
import {
  describeRun, isRunc, makeOciImage, makeTempDir, podmanEnv, podmanReset, reapProcesses, removeTempDir, repoRoot, requireTools, run, runOk, runtimeBinary, type OciImage,
} from '../support/fixtures.ts';
import { JWE_ANNOTATION, jweDecrypt, jweEncrypt, keyProviderCall, keyUnwrapInput, keyWrapInput, layoutLayers, PROVIDER_ANNOTATION } from '../support/ocicrypt.ts';
import { spawnVerdictd } from '../support/verdictd.ts';

const DIST = (name: string): string => path.join(repoRoot, 'dist', name);
const MESSAGE = 'hello from a decrypted image';

void describe('encrypted images: verdictd key provider + inclavare-keyprovider (attested) + skopeo + podman/rune', { timeout: 600_000, skip: isRunc() ? 'needs rune' : false }, () => {
  const runtime = runtimeBinary();
  let tmp = '';
  let env: NodeJS.ProcessEnv = {};
  let verdictd: Awaited<ReturnType<typeof spawnVerdictd>> | undefined;
  let management: ManagementClient;
  let grpcAddress = '';
  let eaaAddress = '';
  let pin = '';
  let kid = '';
  let platformKeyId = '';
  let measurement = '';
  let image: OciImage;
  let jwe: { publicKey: KeyObject; privateKey: KeyObject };
  let encrypted = '';

  const provider = (args: string[], input: object): Promise<Awaited<ReturnType<typeof run>>> =>
    run(process.execPath, [DIST('inclavare-keyprovider.mjs'), '--verdictd', eaaAddress, '--verdictd-key', pin, '--state-dir', path.join(tmp, 'keyprovider'), ...args], { env, input: JSON.stringify(input), timeoutMs: 120_000 });

  before(async () => {
    await requireTools([
      { bin: 'podman', pkg: 'podman' },
      { bin: 'skopeo', pkg: 'skopeo' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    tmp = await makeTempDir('rune-e2e-encrypted-');
    env = await podmanEnv(tmp, { runtimeBinary: runtime });
    image = await makeOciImage(path.join(tmp, 'plain'), { name: 'docker.io/inclavare/encrypted:latest', cmd: ['sh', '-c', `echo ${MESSAGE}`] });
    const dataDir = path.join(tmp, 'verdictd');
    verdictd = await spawnVerdictd(['--data-dir', dataDir, '--init', '-l', '127.0.0.1:0', '--client-api', '127.0.0.1:0', '--attester', 'nullattester', '--log', path.join(tmp, 'verdictd.log')]);
    grpcAddress = `127.0.0.1:${verdictd.managementPort}`;
    eaaAddress = `127.0.0.1:${verdictd.port}`;
    pin = verdictd.pin;
    management = new ManagementClient(grpcAddress, { token: readAdminToken(adminTokenPath(dataDir)) });
    kid = (await management.call('KeyManagerService/CreateKey', {})).uuid;
    const platformPem = (await runOk(process.execPath, [DIST('inclavared.mjs'), 'platform-cert', '--data-dir', String(env.INCLAVARED_DATA_DIR)], { env })).stdout;
    platformKeyId = (await management.call('TrustService/AddSimPlatformKey', { pem: platformPem })).platformKeyId;
    const measured = await provider(['measure'], {});
    assert.equal(measured.code, 0, describeRun('inclavare-keyprovider measure', [], measured));
    measurement = measured.stdout.trim();
    await management.call('ReferenceService/SetReference', { name: 'default', content: JSON.stringify({ values: { measurement: [measurement], platformKeyId: [platformKeyId] } }) });
    // skopeo encrypts the layers (JWE to a test key); each layer key then goes through verdictd's WrapKey.
    jwe = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(path.join(tmp, 'pub.pem'), jwe.publicKey.export({ type: 'spki', format: 'pem' }));
    encrypted = path.join(tmp, 'enc');
    await runOk('skopeo', ['copy', '--encryption-key', `jwe:${path.join(tmp, 'pub.pem')}`, `oci:${image.layout}:latest`, `oci:${encrypted}:latest`], { env, timeoutMs: 120_000 });
    const { layers, write } = await layoutLayers(encrypted);
    for (const layer of layers) {
      const optsdata = jweDecrypt(Buffer.from(layer.annotations![JWE_ANNOTATION]!.split(',')[0]!, 'base64').toString('utf8'), jwe.privateKey);
      const answer = JSON.parse((await keyProviderCall(grpcAddress, 'WrapKey', keyWrapInput('verdictd', kid, optsdata))).toString('utf8')) as { keywrapresults: { annotation: string } };
      delete layer.annotations![JWE_ANNOTATION];
      layer.annotations![`${PROVIDER_ANNOTATION}verdictd`] = answer.keywrapresults.annotation;
    }
    await write(layers);
  });

  after(async () => {
    if (tmp === '') return;
    if (process.env.KEEP_E2E) console.log(await readFile(path.join(tmp, 'verdictd.log'), 'utf8'));
    management?.close();
    await podmanReset(env);
    verdictd?.child.kill('SIGTERM');
    await reapProcesses((p) => path.basename(p.argv[0] ?? '') === 'conmon' && p.argv.some((a) => a.startsWith(tmp)));
    await removeTempDir(tmp);
  });

  test('WrapKey: every layer descriptor carries verdictd\'s annotation (EAA format, the kid), no layer is a readable tar, and each wrap is audited', async () => {
    const { layers } = await layoutLayers(encrypted);
    assert.ok(layers.length >= 1);
    for (const layer of layers) {
      assert.match(layer.mediaType, /\+encrypted$/);
      const annotation = parseAnnotation(Buffer.from(layer.annotations![`${PROVIDER_ANNOTATION}verdictd`]!, 'base64'));
      assert.equal(annotation.format, 'eaa');
      assert.equal(annotation.kid, kid);
      assert.equal(layer.annotations![JWE_ANNOTATION], undefined);
      const listed = await run('tar', ['-tzf', path.join(encrypted, 'blobs', ...layer.digest.split(':'))]);
      assert.notEqual(listed.code, 0, 'an encrypted layer must not list as a tar');
    }
    const audit = await readFile(path.join(tmp, 'verdictd', 'audit.log'), 'utf8');
    assert.match(audit, new RegExp(`"frontEnd":"key-provider"},"action":"key-wrap","kid":"${kid}","decision":"allow"`));
  });

  test('UnWrapKey on the plain --client-api connection is refused, naming the attested route; nothing is released', async () => {
    const { layers } = await layoutLayers(encrypted);
    const annotation = Buffer.from(layers[0]!.annotations![`${PROVIDER_ANNOTATION}verdictd`]!, 'base64');
    await assert.rejects(keyProviderCall(grpcAddress, 'UnWrapKey', keyUnwrapInput(annotation)), (err: Error & { code?: number }) => {
      assert.equal(err.code, 7);
      assert.match(err.message, /attested enclaves .*inclavare-keyprovider/);
      return true;
    });
  });

  test('inclavare-keyprovider unwraps each layer key in an attested sim enclave; skopeo decrypts the layers with it; podman runs the image through rune', async () => {
    const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(path.join(tmp, 'priv2.pem'), second.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const handed = path.join(tmp, 'handed');
    await runOk('cp', ['-a', encrypted, handed]);
    const { layers, write } = await layoutLayers(handed);
    for (const layer of layers) {
      const annotation = Buffer.from(layer.annotations![`${PROVIDER_ANNOTATION}verdictd`]!, 'base64');
      const r = await provider([], keyUnwrapInput(annotation));
      assert.equal(r.code, 0, describeRun('inclavare-keyprovider', [], r));
      const optsdata = Buffer.from((JSON.parse(r.stdout) as { keyunwrapresults: { optsdata: string } }).keyunwrapresults.optsdata, 'base64');
      assert.ok(JSON.parse(optsdata.toString('utf8')).symkey, 'the optsdata is ocicrypt\'s private layer options');
      delete layer.annotations![`${PROVIDER_ANNOTATION}verdictd`];
      layer.annotations![JWE_ANNOTATION] = Buffer.from(jweEncrypt(optsdata, second.publicKey)).toString('base64');
    }
    await write(layers);
    const decrypted = path.join(tmp, 'decrypted');
    const copy = await run('skopeo', ['copy', '--decryption-key', path.join(tmp, 'priv2.pem'), `oci:${handed}:latest`, `oci:${decrypted}:latest`], { env, timeoutMs: 120_000 });
    assert.equal(copy.code, 0, describeRun('skopeo copy --decryption-key', [], copy));
    for (const layer of (await layoutLayers(decrypted)).layers) assert.doesNotMatch(layer.mediaType, /encrypted/);
    // A relative oci: path: podman names the image after it, and a name must be lowercase.
    const r = await run('podman', ['--runtime', runtime, 'run', '--rm', '--network', 'none', '-e', 'ENCLAVE_TYPE=sim', '-e', 'ENCLAVE_RUNTIME_PATH=sim', 'oci:decrypted:latest'], { env, cwd: tmp, timeoutMs: 180_000 });
    assert.equal(r.code, 0, describeRun('podman run', [], r));
    assert.equal(r.stdout.trim(), MESSAGE);
    const audit = await readFile(path.join(tmp, 'verdictd', 'audit.log'), 'utf8');
    assert.match(audit, new RegExp(`"frontEnd":"eaa","tee":"sim"},"action":"release-key","kid":"${kid}".*"decision":"allow"`));
  });

  test('a policy denial fails the unwrap with the rule named (also on the parent\'s stderr when ocicrypt discards ours); no layer key is answered', async () => {
    await management.call('ReferenceService/SetReference', { name: 'default', content: JSON.stringify({ values: { measurement: ['00'.repeat(48)], platformKeyId: [platformKeyId] } }) });
    try {
      const { layers } = await layoutLayers(encrypted);
      const annotation = Buffer.from(layers[0]!.annotations![`${PROVIDER_ANNOTATION}verdictd`]!, 'base64');
      const r = await provider([], keyUnwrapInput(annotation));
      assert.notEqual(r.code, 0);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /rule "measurement"/);
      assert.match(r.stderr, /VERDICTD_ERR_POLICY_DENIED/);
      // As ocicrypt runs it (Go's exec with Stderr nil): stderr on /dev/null; the line reaches the parent's stderr.
      const asOcicrypt = [
        "const { spawn } = require('node:child_process');",
        "const c = spawn(process.argv[1], process.argv.slice(2), { stdio: ['pipe', 'pipe', 'ignore'] });",
        'c.stdin.end(process.env.KP_INPUT);',
        "c.on('exit', (code) => { process.exitCode = code ?? 1; });",
      ].join('\n');
      // The parent's stderr is a file here (a tty or a pipe for a user's skopeo): node's own 'pipe' stdio is a
      // socket, which /proc/PID/fd/2 cannot open.
      const parentErr = path.join(tmp, 'ocicrypt-stderr.txt');
      const args = ['-e', asOcicrypt, process.execPath, DIST('inclavare-keyprovider.mjs'), '--verdictd', eaaAddress, '--verdictd-key', pin, '--state-dir', path.join(tmp, 'keyprovider')];
      const asParent = await run('sh', ['-c', 'exec "$0" "$@" 2>"$PARENT_ERR"', process.execPath, ...args], {
        env: { ...env, KP_INPUT: JSON.stringify(keyUnwrapInput(annotation)), PARENT_ERR: parentErr },
        timeoutMs: 120_000,
      });
      assert.notEqual(asParent.code, 0);
      assert.equal(asParent.stdout, '');
      assert.match(await readFile(parentErr, 'utf8'), /inclavare-keyprovider: .*rule "measurement"/);
    } finally {
      await management.call('ReferenceService/SetReference', { name: 'default', content: JSON.stringify({ values: { measurement: [measurement], platformKeyId: [platformKeyId] } }) });
    }
  });
});
