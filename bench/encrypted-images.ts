/**
 * Benchmark: decrypting an encrypted image's layers through inclavare-keyprovider (each layer key unwrapped by a
 * sim enclave run through rune, attested to verdictd, EAA Decrypt) versus skopeo's local-key decryption (a JWE
 * private key file), for the same image in the same run, rounds alternating. Both end in the same
 * `skopeo copy --decryption-key` of the layers; the provider path adds the enclave unwraps (ocicrypt's part is
 * played as in test/support/ocicrypt.ts: Debian's skopeo has no key provider protocol).
 * Third path: inclavare-decoder run as containerd runs it (layer on stdin, imgcrypt's Payload on fd 3, plain
 * layer on stdout), the layer key unwrapped by verdictd (EAA "Unwrap JWE") for the same enclave; the image is
 * encrypted by skopeo to both the local key and verdictd's image key, so all paths decrypt the same layers.
 *
 * Usage: node --import tsx bench/encrypted-images.ts [--rounds N]   (as root, after npm run build)
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ManagementClient } from '../src/verdictd/management/client.ts';
import { adminTokenPath, readAdminToken } from '../src/verdictd/management/token.ts';
import { encodeAny, PAYLOAD_TYPE_URL } from '../src/decoder/payload.ts';
import { makeOciImage, makeTempDir, podmanEnv, removeTempDir, repoRoot, run, runOk } from '../test/support/fixtures.ts';
import { JWE_ANNOTATION, jweDecrypt, jweEncrypt, keyProviderCall, keyUnwrapInput, keyWrapInput, layoutLayers, PROVIDER_ANNOTATION } from '../test/support/ocicrypt.ts';
import { spawnVerdictd } from '../test/support/verdictd.ts';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 5;
const DIST = (name: string): string => path.join(repoRoot, 'dist', name);
const tmp = await makeTempDir('bench-encrypted-');
const env = await podmanEnv(tmp, { runtimeBinary: DIST('rune') });
const vd = await spawnVerdictd(['--data-dir', path.join(tmp, 'vd'), '--init', '-l', '127.0.0.1:0', '--client-api', '127.0.0.1:0', '--attester', 'nullattester', '--log', path.join(tmp, 'vd.log')]);
const grpc = `127.0.0.1:${vd.managementPort}`;
const management = new ManagementClient(grpc, { token: readAdminToken(adminTokenPath(path.join(tmp, 'vd'))) });
try {
  const kid = (await management.call('KeyManagerService/CreateKey', {})).uuid;
  const platformPem = (await runOk(process.execPath, [DIST('inclavared.mjs'), 'platform-cert', '--data-dir', String(env.INCLAVARED_DATA_DIR)], { env })).stdout;
  const { platformKeyId } = await management.call('TrustService/AddSimPlatformKey', { pem: platformPem });
  const providerArgs = [DIST('inclavare-keyprovider.mjs'), '--verdictd', `127.0.0.1:${vd.port}`, '--verdictd-key', vd.pin, '--state-dir', path.join(tmp, 'kp')];
  const measurement = (await runOk(process.execPath, [...providerArgs, 'measure'], { env, input: '' })).stdout.trim();
  await management.call('ReferenceService/SetReference', { name: 'default', content: JSON.stringify({ values: { measurement: [measurement], platformKeyId: [platformKeyId] } }) });
  const image = await makeOciImage(path.join(tmp, 'plain'), { name: 'docker.io/inclavare/bench:latest', cmd: ['true'] });
  const jwe = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(path.join(tmp, 'pub.pem'), jwe.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(path.join(tmp, 'priv.pem'), jwe.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const local = path.join(tmp, 'jwe');
  const imageKey = (await management.call('KeyManagerService/GetImagePublicKey', { uuid: kid })).pem;
  await writeFile(path.join(tmp, 'verdictd.pem'), imageKey);
  await runOk('skopeo', ['copy', '--encryption-key', `jwe:${path.join(tmp, 'pub.pem')}`, '--encryption-key', `jwe:${path.join(tmp, 'verdictd.pem')}`, `oci:${image.layout}:latest`, `oci:${local}:latest`], { env, timeoutMs: 120_000 });
  const decoderArgs = [DIST('inclavare-decoder.mjs'), '--verdictd', `127.0.0.1:${vd.port}`, '--verdictd-key', vd.pin, '--state-dir', path.join(tmp, 'kp')];
  // As containerd runs a stream processor: the layer on stdin, the payload on fd 3, the plain layer on stdout.
  const decode = async (n: number): Promise<void> => {
    const { layers } = await layoutLayers(local);
    for (const [i, layer] of layers.entries()) {
      const input = openSync(path.join(local, 'blobs', ...layer.digest.split(':')), 'r');
      const output = openSync(path.join(tmp, `decoded-${n}-${i}`), 'w');
      const child = spawn(process.execPath, decoderArgs, { env: { ...env, STREAM_PROCESSOR_MEDIATYPE: layer.mediaType }, stdio: [input, output, 'pipe', 'pipe'] });
      closeSync(input);
      closeSync(output);
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      (child.stdio[3] as NodeJS.WritableStream).end(encodeAny(PAYLOAD_TYPE_URL, Buffer.from(JSON.stringify({ DecryptConfig: { Parameters: {} }, Descriptor: layer }))));
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      if (code !== 0) throw new Error(`inclavare-decoder failed: ${stderr}`);
    }
  };
  // The provider-encrypted copy: each layer key wrapped by verdictd.
  const wrapped = path.join(tmp, 'provider');
  await runOk('cp', ['-a', local, wrapped]);
  const enc = await layoutLayers(wrapped);
  for (const layer of enc.layers) {
    const optsdata = jweDecrypt(Buffer.from(layer.annotations![JWE_ANNOTATION]!, 'base64').toString('utf8'), jwe.privateKey);
    const out = JSON.parse((await keyProviderCall(grpc, 'WrapKey', keyWrapInput('verdictd', kid, optsdata))).toString('utf8')) as { keywrapresults: { annotation: string } };
    delete layer.annotations![JWE_ANNOTATION];
    layer.annotations![`${PROVIDER_ANNOTATION}verdictd`] = out.keywrapresults.annotation;
  }
  await enc.write(enc.layers);
  const decrypt = async (source: string, key: string, n: number): Promise<void> => {
    await runOk('rm', ['-rf', path.join(tmp, `out-${n}`)]);
    await runOk('skopeo', ['copy', '--decryption-key', key, `oci:${source}:latest`, `oci:${path.join(tmp, `out-${n}`)}:latest`], { env, timeoutMs: 120_000 });
  };
  const times = { local: [] as number[], provider: [] as number[], decoder: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await decrypt(local, path.join(tmp, 'priv.pem'), i);
    times.local.push(performance.now() - t);
    t = performance.now();
    const handed = path.join(tmp, `handed-${i}`);
    await runOk('cp', ['-a', wrapped, handed]);
    const h = await layoutLayers(handed);
    for (const layer of h.layers) {
      const r = await run(process.execPath, providerArgs, { env, input: JSON.stringify(keyUnwrapInput(Buffer.from(layer.annotations![`${PROVIDER_ANNOTATION}verdictd`]!, 'base64'))), timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(`inclavare-keyprovider failed: ${r.stderr}`);
      const optsdata = Buffer.from((JSON.parse(r.stdout) as { keyunwrapresults: { optsdata: string } }).keyunwrapresults.optsdata, 'base64');
      delete layer.annotations![`${PROVIDER_ANNOTATION}verdictd`];
      layer.annotations![JWE_ANNOTATION] = Buffer.from(jweEncrypt(optsdata, jwe.publicKey)).toString('base64');
    }
    await h.write(h.layers);
    await decrypt(handed, path.join(tmp, 'priv.pem'), i);
    times.provider.push(performance.now() - t);
    t = performance.now();
    await decode(i);
    times.decoder.push(performance.now() - t);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const [l, p, d] = [median(times.local), median(times.provider), median(times.decoder)];
  console.log(`layers: ${enc.layers.length}, rounds: ${rounds}`);
  console.log(`skopeo local JWE key: median ${l.toFixed(0)} ms  [${times.local.map((x) => x.toFixed(0)).join(', ')}]`);
  console.log(`inclavare-keyprovider (attested enclave) + skopeo: median ${p.toFixed(0)} ms  [${times.provider.map((x) => x.toFixed(0)).join(', ')}]`);
  console.log(`inclavare-decoder (attested enclave, as containerd runs it): median ${d.toFixed(0)} ms  [${times.decoder.map((x) => x.toFixed(0)).join(', ')}]`);
  console.log(`provider/local: ${(p / l).toFixed(2)}`);
  console.log(`decoder/local: ${(d / l).toFixed(2)}`);
} finally {
  management.close();
  vd.child.kill('SIGTERM');
  await removeTempDir(tmp);
}
