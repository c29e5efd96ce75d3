/**
 * ocicrypt's side of the key provider protocol, for tests and the benchmark. Debian 12's skopeo 1.9.3, podman
 * 4.3.1 and containerd 1.6.20 are built with ocicrypt 1.0.3, which predates the key provider protocol
 * (ocicrypt 1.1.0): `--encryption-key provider:...` fails with "Provided protocol not recognized". So the tests
 * play ocicrypt's part for the key (the same JSON, the same gRPC messages on /keyprovider.KeyProviderService/*,
 * the same cmd stdin/stdout) and let skopeo do the layers (AES-256-CTR + HMAC-SHA256, JWE-wrapped keys):
 *
 *   encrypt:  skopeo --encryption-key jwe:pub.pem  →  the test unwraps each layer's JWE with the private key
 *             (its optsdata), asks verdictd's WrapKey, and puts the answer in
 *             org.opencontainers.image.enc.keys.provider.<name> instead of the JWE annotation;
 *   decrypt:  the test runs inclavare-keyprovider with ocicrypt's keyunwrap JSON, wraps the optsdata it answers
 *             as a JWE to a fresh key, and skopeo --decryption-key decrypts the layers with it: skopeo's HMAC
 *             check proves the optsdata is the layer's.
 */
import { constants, createCipheriv, createDecipheriv, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { decodeProtocolMessage, encodeProtocolMessage } from '../../src/verdictd/key-provider/protocol.ts';
import { run, type RunResult } from './fixtures.ts';

export const JWE_ANNOTATION = 'org.opencontainers.image.enc.keys.jwe';
export const PROVIDER_ANNOTATION = 'org.opencontainers.image.enc.keys.provider.';

const b64url = (b: Buffer): string => b.toString('base64url');

/** A JWE (flattened JSON, RSA-OAEP + A256GCM, as go-jose writes for an RSA recipient) of `plain` to `publicKey`. */
export function jweEncrypt(plain: Buffer, publicKey: KeyObject): string {
  const cek = randomBytes(32);
  const iv = randomBytes(12);
  const protectedHeader = b64url(Buffer.from(JSON.stringify({ alg: 'RSA-OAEP', enc: 'A256GCM' })));
  const cipher = createCipheriv('aes-256-gcm', cek, iv);
  cipher.setAAD(Buffer.from(protectedHeader));
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, cek);
  return JSON.stringify({ protected: protectedHeader, encrypted_key: b64url(encryptedKey), iv: b64url(iv), ciphertext: b64url(ciphertext), tag: b64url(cipher.getAuthTag()) });
}

/** Decrypts a JWE as ocicrypt's jwe key wrapper writes it (one RSA-OAEP recipient, A256GCM). */
export function jweDecrypt(jwe: string, privateKey: KeyObject): Buffer {
  const j = JSON.parse(jwe) as { protected: string; encrypted_key?: string; iv: string; ciphertext: string; tag: string; recipients?: { encrypted_key: string }[] };
  const encryptedKey = j.encrypted_key ?? j.recipients?.[0]?.encrypted_key ?? '';
  const cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(encryptedKey, 'base64url'));
  const decipher = createDecipheriv('aes-256-gcm', cek, Buffer.from(j.iv, 'base64url'));
  decipher.setAAD(Buffer.from(j.protected));
  decipher.setAuthTag(Buffer.from(j.tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(j.ciphertext, 'base64url')), decipher.final()]);
}

/** One unary call on `/keyprovider.KeyProviderService/<method>` with the protocol JSON, as ocicrypt's grpc client makes it (no token). */
export function keyProviderCall(address: string, method: 'WrapKey' | 'UnWrapKey', json: object): Promise<Buffer> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      `/keyprovider.KeyProviderService/${method}`,
      (b) => b,
      (b) => b,
      encodeProtocolMessage(Buffer.from(JSON.stringify(json))),
      (err: ServiceError | null, value?: Buffer) => (err ? reject(err) : resolve(decodeProtocolMessage(value!))),
    );
  }).finally(() => client.close());
}

/** ocicrypt's keywrap request for `provider:<name>:<kid>`. */
export function keyWrapInput(name: string, kid: string, optsdata: Buffer): object {
  return { op: 'keywrap', keywrapparams: { ec: { Parameters: { [name]: [Buffer.from(kid).toString('base64')] }, DecryptConfig: { Parameters: {} } }, optsdata: optsdata.toString('base64') } };
}

/** ocicrypt's keyunwrap request for an annotation (its decoded bytes). */
export function keyUnwrapInput(annotation: Buffer): object {
  return { op: 'keyunwrap', keyunwrapparams: { dc: { Parameters: { 'attestation-agent': [Buffer.from('Enabled').toString('base64')] } }, annotation: annotation.toString('base64') } };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The layers of the image at an OCI layout's only manifest, and a function that rewrites them (new manifest blob, index updated). */
export async function layoutLayers(layout: string): Promise<{ layers: Descriptor[]; write(layers: Descriptor[]): Promise<void> }> {
  const indexPath = join(layout, 'index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as { manifests: Descriptor[] };
  const entry = index.manifests[0]!;
  const blob = (d: string): string => join(layout, 'blobs', ...d.split(':'));
  const manifest = JSON.parse(await readFile(blob(entry.digest), 'utf8')) as { layers: Descriptor[] };
  return {
    layers: manifest.layers,
    async write(layers) {
      const bytes = Buffer.from(JSON.stringify({ ...manifest, layers }));
      const { createHash } = await import('node:crypto');
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      await writeFile(blob(digest), bytes);
      entry.digest = digest;
      entry.size = bytes.length;
      await writeFile(indexPath, JSON.stringify(index));
    },
  };
}

/** Runs `cmd` with `input` on stdin (as ocicrypt runs a cmd provider: stderr not captured by it, but here it is). */
export function runWithStdin(cmd: string, args: string[], input: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  return run(cmd, args, { env, input, timeoutMs: 120_000 });
}
