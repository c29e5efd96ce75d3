/**
 * issue #13, the whole story on this machine with Debian 12's tools as they are (skopeo 1.9.3 and containerd
 * 1.6.20 with ocicrypt 1.0.3, no key-provider protocol): an image is encrypted by the real skopeo with `jwe:` to
 * verdictd's image key (`verdict key public`), pushed to a loopback registry (Debian's docker-registry), and
 * pulled through containerd's CRI plugin, whose stream processor inclavare-decoder has each layer key unwrapped
 * by verdictd for an attested sim enclave; a container of the image then runs through rune. Negatives: a policy
 * denial, a tampered layer, a node without the decoder, skopeo with another key.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseJwe } from '../../src/verdictd/image-key.ts';
import { ManagementClient } from '../../src/verdictd/management/client.ts';
import { adminTokenPath, readAdminToken } from '../../src/verdictd/management/token.ts';
import { CRI_RUNTIME_HANDLER, startContainerd, type Containerd } from '../support/containerd.ts';
import { CriClient, CriImageClient, type PodSandboxConfig } from '../support/cri.ts';
import {
  describeRun, inclavaredEnv, isRunc, makeOciImage, makeTempDir, removeTempDir, repoRoot, requireTools, run, runInBackground, runOk, runtimeBinary, waitFor, type BackgroundProcess,
} from '../support/fixtures.ts';
import { JWE_ANNOTATION, layoutLayers } from '../support/ocicrypt.ts';
import { spawnVerdictd } from '../support/verdictd.ts';

const DIST = (name: string): string => path.join(repoRoot, 'dist', name);
const CRI_NAMESPACE = 'k8s.io';
const ENCRYPTED_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

void describe('encrypted images, tested end to end: skopeo jwe: → verdictd → containerd CRI pull through inclavare-decoder → rune', { timeout: 900_000, skip: isRunc() ? 'needs rune' : false }, () => {
  const runtime = runtimeBinary();
  let tmp = '';
  let registry: BackgroundProcess | undefined;
  let registryHost = '';
  let verdictd: Awaited<ReturnType<typeof spawnVerdictd>> | undefined;
  let management: ManagementClient;
  let dataDir = '';
  let pin = '';
  let kid = '';
  let measurement = '';
  let platformKeyId = '';
  let pubPem = '';
  let containerd: Containerd | undefined;
  let cri: CriClient | undefined;
  let images: CriImageClient | undefined;
  let decoderLog = '';
  const marker = `decrypted-${randomBytes(8).toString('hex')}`;

  const setReference = (m: string): Promise<unknown> =>
    management.call('ReferenceService/SetReference', { name: 'default', content: JSON.stringify({ values: { measurement: [m], platformKeyId: [platformKeyId] } }) });

  /** A fresh plain image (its own content: its own layer digests, so no pull reuses another's snapshot), encrypted by skopeo to verdictd's image key. */
  const encryptedImage = async (name: string, content: string): Promise<{ plain: string; enc: string }> => {
    const image = await makeOciImage(path.join(tmp, 'images', name), { name: `docker.io/inclavare/${name}:latest`, cmd: ['cat', '/secret.txt'], files: { 'secret.txt': { content: `${content}\n` } } });
    const enc = path.join(tmp, 'images', `${name}-enc`);
    await runOk('skopeo', ['copy', '--encryption-key', `jwe:${path.join(tmp, 'verdictd-image-key.pem')}`, `oci:${image.layout}:latest`, `oci:${enc}:latest`], { timeoutMs: 120_000 });
    return { plain: image.layout, enc };
  };
  const push = (layout: string, ref: string): Promise<unknown> =>
    runOk('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${registryHost}/${ref}`], { timeoutMs: 120_000 });
  const pull = async (ref: string): Promise<{ ok: true; imageRef: string } | { ok: false; message: string }> => {
    try {
      return { ok: true, imageRef: await images!.pullImage(`${registryHost}/${ref}`) };
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
  };
  const snapshots = async (): Promise<string[]> => (await containerd!.ctrOk(['snapshots', 'ls'], { namespace: CRI_NAMESPACE })).stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]!);

  before(async () => {
    await requireTools([
      { bin: 'containerd', pkg: 'containerd' },
      { bin: 'ctr', pkg: 'containerd' },
      { bin: 'skopeo', pkg: 'skopeo' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: 'docker-registry', pkg: 'docker-registry' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    tmp = await makeTempDir('rune-e2e-encrypted-ctd-');
    // The registry: Debian's docker-registry on loopback, its storage in the temp dir.
    const port = await freePort();
    registryHost = `127.0.0.1:${port}`;
    await mkdir(path.join(tmp, 'registry'));
    await writeFile(
      path.join(tmp, 'registry.yml'),
      ['version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${path.join(tmp, 'registry')}`, 'http:', `  addr: ${registryHost}`, ''].join('\n'),
    );
    registry = runInBackground('docker-registry', ['serve', path.join(tmp, 'registry.yml')]);
    await waitFor('the registry to answer /v2/', async () => (await fetch(`http://${registryHost}/v2/`).catch(() => undefined))?.status === 200, { timeoutMs: 20_000, intervalMs: 100 });
    // verdictd and a key; its image key through the verdict CLI.
    dataDir = path.join(tmp, 'verdictd');
    verdictd = await spawnVerdictd(['--data-dir', dataDir, '--init', '-l', '127.0.0.1:0', '--client-api', '127.0.0.1:0', '--attester', 'nullattester', '--log', path.join(tmp, 'verdictd.log')]);
    pin = verdictd.pin;
    management = new ManagementClient(`127.0.0.1:${verdictd.managementPort}`, { token: readAdminToken(adminTokenPath(dataDir)) });
    const verdict = (args: string[]): Promise<{ stdout: string }> => runOk(process.execPath, [DIST('verdict.mjs'), '--client-api', `127.0.0.1:${verdictd!.managementPort}`, '--data-dir', dataDir, ...args]);
    kid = (await verdict(['key', 'create'])).stdout.trim();
    pubPem = (await verdict(['key', 'public', kid])).stdout;
    await writeFile(path.join(tmp, 'verdictd-image-key.pem'), pubPem);
    // The node: containerd with inclavare-decoder as the stream processor of encrypted layers, CRI key_model "node".
    const stateDir = path.join(tmp, 'decoder');
    decoderLog = path.join(tmp, 'decoder.log');
    const decoderArgs = ['--verdictd', `127.0.0.1:${verdictd.port}`, '--verdictd-key', pin, '--state-dir', stateDir, '--log', decoderLog];
    containerd = await startContainerd(tmp, {
      runtimeBinary: runtime,
      imageDecryptionKeyModel: 'node',
      registryMirrors: { [registryHost]: [`http://${registryHost}`] },
      streamProcessors: [
        { id: 'io.containerd.ocicrypt.decoder.v1.tar.gzip', accepts: [ENCRYPTED_GZIP], returns: 'application/vnd.oci.image.layer.v1.tar+gzip', path: DIST('inclavare-decoder.mjs'), args: decoderArgs },
        { id: 'io.containerd.ocicrypt.decoder.v1.tar', accepts: ['application/vnd.oci.image.layer.v1.tar+encrypted'], returns: 'application/vnd.oci.image.layer.v1.tar', path: DIST('inclavare-decoder.mjs'), args: decoderArgs },
      ],
    });
    cri = new CriClient(containerd.address);
    images = new CriImageClient(containerd.address);
    // verdictd trusts this node's inclavared and the unwrapping enclave's measurement.
    const nodeEnv = { ...process.env, ...inclavaredEnv(path.join(tmp, 'containerd')) };
    const platformPem = (await runOk(process.execPath, [DIST('inclavared.mjs'), 'platform-cert', '--data-dir', nodeEnv.INCLAVARED_DATA_DIR], { env: nodeEnv })).stdout;
    platformKeyId = (await management.call('TrustService/AddSimPlatformKey', { pem: platformPem })).platformKeyId;
    measurement = (await runOk(process.execPath, [DIST('inclavare-keyprovider.mjs'), 'measure', '--verdictd-key', pin, '--state-dir', stateDir], { env: nodeEnv })).stdout.trim();
    await setReference(measurement);
  });

  after(async () => {
    if (tmp === '') return;
    if (process.env.KEEP_E2E) console.log(await readFile(path.join(tmp, 'verdictd.log'), 'utf8').catch(() => ''), await readFile(decoderLog, 'utf8').catch(() => ''));
    cri?.close();
    images?.close();
    management?.close();
    await containerd?.stop();
    verdictd?.child.kill('SIGTERM');
    registry?.child.kill('SIGTERM');
    await removeTempDir(tmp);
  });

  test('verdict key public prints a P-256 PEM; skopeo jwe: to it encrypts every layer: an ECDH-ES+A256KW JWE per layer, no layer a readable tar', async () => {
    assert.match(pubPem, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
    const { enc } = await encryptedImage('check', 'just checking');
    const { layers } = await layoutLayers(enc);
    assert.ok(layers.length >= 1);
    for (const layer of layers) {
      assert.equal(layer.mediaType, ENCRYPTED_GZIP);
      assert.deepEqual(parseJwe(layer.annotations![JWE_ANNOTATION]!).recipients, ['ECDH-ES+A256KW P-256']);
      assert.notEqual((await run('tar', ['-tzf', path.join(enc, 'blobs', ...layer.digest.split(':'))])).code, 0);
    }
  });

  test('CRI PullImage of the pushed image decrypts each layer through inclavare-decoder (unwrapped by verdictd for the attested enclave, audited); a container of it prints the secret', async () => {
    const { enc } = await encryptedImage('secret', marker);
    await push(enc, 'inclavare/secret:1');
    const pulled = await pull('inclavare/secret:1');
    assert.ok(pulled.ok, `PullImage failed: ${'message' in pulled ? pulled.message : ''}\n${await readFile(decoderLog, 'utf8').catch(() => '')}`);
    const audit = await readFile(path.join(dataDir, 'audit.log'), 'utf8');
    assert.match(audit, new RegExp(`"frontEnd":"eaa","tee":"sim"},"action":"release-key","kid":"${kid}".*"decision":"allow"`));
    const logDirectory = path.join(tmp, 'pod-logs');
    await mkdir(logDirectory, { recursive: true });
    const sandbox: PodSandboxConfig = {
      metadata: { name: 'encrypted', uid: randomUUID(), namespace: 'default', attempt: 0 },
      logDirectory,
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
    };
    const podId = await cri!.runPodSandbox(sandbox, CRI_RUNTIME_HANDLER);
    try {
      const id = await cri!.createContainer(podId, { metadata: { name: 'secret', attempt: 0 }, image: { image: `${registryHost}/inclavare/secret:1` }, logPath: 'secret.log', linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } }, sandbox);
      await cri!.startContainer(id);
      await waitFor('the container to exit', async () => (await cri!.containerStatus(id)).state === 'CONTAINER_EXITED', { timeoutMs: 60_000 });
      const status = await cri!.containerStatus(id);
      assert.equal(status.exitCode, 0, `${status.reason}: ${status.message}`);
      assert.match(await readFile(path.join(logDirectory, 'secret.log'), 'utf8'), new RegExp(`^\\S+ stdout F ${marker}$`, 'm'));
      await cri!.removeContainer(id);
    } finally {
      await cri!.stopPodSandbox(podId).catch(() => undefined);
      await cri!.removePodSandbox(podId).catch(() => undefined);
    }
  });

  test('verdictd\'s policy denies the unwrapping enclave: the pull fails, and the error containerd answers names the rule; nothing is unpacked', async (t) => {
    const { enc } = await encryptedImage('denied', `denied ${marker}`);
    await push(enc, 'inclavare/denied:1');
    const before = await snapshots();
    await setReference('00'.repeat(48));
    let pulled;
    try {
      pulled = await pull('inclavare/denied:1');
    } finally {
      await setReference(measurement);
    }
    assert.equal(pulled.ok, false);
    assert.ok(!pulled.ok);
    t.diagnostic(`CRI PullImage: ${pulled.message.slice(0, 600)}`);
    assert.match(pulled.message, /rule "measurement"/, pulled.message);
    assert.match(pulled.message, /VERDICTD_ERR_POLICY_DENIED/);
    assert.match(await readFile(decoderLog, 'utf8'), /inclavare-decoder: .*rule "measurement"/);
    assert.deepEqual(await snapshots(), before);
  });

  test('a tampered layer (ciphertext altered, digests made consistent): the decoder\'s HMAC check fails the pull; no layer is unpacked', async (t) => {
    const { enc } = await encryptedImage('tampered', `tampered ${marker}`);
    const { layers, write } = await layoutLayers(enc);
    const layer = layers[0]!;
    const blob = await readFile(path.join(enc, 'blobs', ...layer.digest.split(':')));
    blob[Math.floor(blob.length / 2)]! ^= 0x20;
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    await writeFile(path.join(enc, 'blobs', ...digest.split(':')), blob);
    layer.digest = digest;
    await write(layers);
    await push(enc, 'inclavare/tampered:1');
    const before = await snapshots();
    const pulled = await pull('inclavare/tampered:1');
    assert.ok(!pulled.ok, 'the tampered image was pulled');
    t.diagnostic(`CRI PullImage: ${pulled.message}`);
    assert.match(pulled.message, /HMAC does not match/, pulled.message);
    assert.deepEqual(await snapshots(), before);
  });

  test('skopeo with another private key cannot decrypt the image (it is really encrypted, and only verdictd holds the key)', async (t) => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(path.join(tmp, 'other.pem'), other.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const r = await run('skopeo', ['copy', '--src-tls-verify=false', '--decryption-key', path.join(tmp, 'other.pem'), `docker://${registryHost}/inclavare/secret:1`, `oci:${path.join(tmp, 'skopeo-dec')}:latest`], { timeoutMs: 120_000 });
    assert.notEqual(r.code, 0, describeRun('skopeo copy --decryption-key', [], r));
    t.diagnostic(`skopeo: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    assert.match(r.stderr, /decrypt|key/i);
  });

  test('a containerd without the decoder configured cannot unpack the image', async (t) => {
    const plainNode = await startContainerd(path.join(tmp, 'plain-node'), { runtimeBinary: runtime, registryMirrors: { [registryHost]: [`http://${registryHost}`] } });
    const client = new CriImageClient(plainNode.address);
    try {
      await assert.rejects(client.pullImage(`${registryHost}/inclavare/secret:1`), (err: Error) => {
        t.diagnostic(`CRI PullImage: ${err.message}`);
        assert.match(err.message, /tar\+gzip\+encrypted/, err.message);
        return true;
      });
    } finally {
      client.close();
      await plainNode.stop();
    }
  });
});
