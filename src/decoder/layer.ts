/**
 * ocicrypt's layer format, as `skopeo copy --encryption-key` writes it (ocicrypt's blockcipher package; checked
 * against layers the real skopeo 1.9.3 encrypted): cipher AES_256_CTR_HMAC_SHA256 only. The layer blob is the
 * AES-256-CTR ciphertext of the plain layer (a gzip'd tar); the key is the private options' `symkey` (32 bytes),
 * the counter block their `cipheroptions.nonce` (16 bytes); the HMAC-SHA256 of the *ciphertext* under the same
 * key is the public options' `hmac`; the private options' `digest` is the plain layer's digest.
 *
 * - public options: annotation `org.opencontainers.image.enc.pubopts`, base64 of
 *   `{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"<b64>","cipheroptions":{}}`;
 * - private options: what the key wrapper wrapped (the JWE's plaintext):
 *   `{"symkey":"<b64>","digest":"sha256:…","cipheroptions":{"nonce":"<b64>"}}`.
 *
 * {@link decryptLayer} checks the HMAC over the whole ciphertext *before* writing a byte of plaintext (the
 * ciphertext is spooled to an unlinked temp file), then decrypts to the output and checks the digest at the end.
 */
import { createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import { decoderError } from './codes.ts';

export const PUBOPTS_ANNOTATION = 'org.opencontainers.image.enc.pubopts';
export const JWE_ANNOTATION = 'org.opencontainers.image.enc.keys.jwe';
export const PROVIDER_ANNOTATION_PREFIX = 'org.opencontainers.image.enc.keys.provider.';
export const LAYER_CIPHER = 'AES_256_CTR_HMAC_SHA256';

/** The public options of a layer. */
export interface PublicOptions {
  hmac: Buffer;
}

/** The private options of a layer (the unwrapped key). */
export interface PrivateOptions {
  symkey: Buffer;
  nonce: Buffer;
  digest: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function layerError(message: string): Error {
  return decoderError('DECODER_ERR_LAYER', message);
}

function jsonOf(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw layerError(`Cannot read the ${what}: it is not JSON`);
  }
  if (!isObject(value)) throw layerError(`Cannot read the ${what}: it is not a JSON object`);
  return value;
}

function b64(value: unknown, what: string, length: number): Buffer {
  if (typeof value !== 'string' || !B64.test(value)) throw layerError(`Cannot read the ${what}: it is not base64`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length !== length) throw layerError(`Cannot read the ${what}: it is ${bytes.length} bytes, ${LAYER_CIPHER} takes ${length}`);
  return bytes;
}

/** The public options from the layer's annotations. */
export function parsePublicOptions(annotations: Record<string, string>): PublicOptions {
  const text = annotations[PUBOPTS_ANNOTATION];
  if (text === undefined) throw layerError(`Cannot decrypt the layer: it has no ${PUBOPTS_ANNOTATION} annotation (is it an ocicrypt-encrypted layer?)`);
  if (text.length > 4096 || !B64.test(text)) throw layerError(`Cannot read ${PUBOPTS_ANNOTATION}: it is not base64 (of at most 4096 characters)`);
  const o = jsonOf(Buffer.from(text, 'base64').toString('utf8'), `${PUBOPTS_ANNOTATION} annotation`);
  if (o.cipher !== LAYER_CIPHER) throw layerError(`Cannot decrypt the layer: its cipher ${JSON.stringify(o.cipher)} is not ${LAYER_CIPHER}, the one ocicrypt uses`);
  return { hmac: b64(o.hmac, 'layer HMAC (pubopts "hmac")', 32) };
}

/** The private options the key wrapper protected (the JWE's plaintext, a provider's optsdata). */
export function parsePrivateOptions(bytes: Uint8Array): PrivateOptions {
  const o = jsonOf(Buffer.from(bytes).toString('utf8'), 'unwrapped private layer options');
  const options = isObject(o.cipheroptions) ? o.cipheroptions : {};
  if (typeof o.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(o.digest)) throw layerError('Cannot read the unwrapped private layer options: "digest" is not sha256:<hex>');
  return { symkey: b64(o.symkey, 'layer key (private "symkey")', 32), nonce: b64(options.nonce, 'layer nonce (private "cipheroptions.nonce")', 16), digest: o.digest };
}

/**
 * Decrypts `input` (the encrypted layer) to `output`: spools the ciphertext to an unlinked file in `tmpDir`
 * while computing its HMAC, refuses a mismatch (DECODER_ERR_INTEGRITY) before any output, then writes the
 * plaintext and checks its digest. `privateOptions` may resolve later (the enclave unwraps meanwhile).
 */
export async function decryptLayer(input: Readable, output: Writable, pub: PublicOptions, privateOptions: Promise<PrivateOptions>, tmpDir: string): Promise<{ bytes: number }> {
  const dir = mkdtempSync(join(tmpDir, 'layer-'));
  const spool = join(dir, 'ciphertext');
  let fd: number | undefined;
  try {
    let size = 0;
    await pipeline(input, createWriteStream(spool, { mode: 0o600 }));
    // The key is needed for the HMAC; the ciphertext was read meanwhile (the enclave unwraps in parallel).
    const priv = await privateOptions;
    fd = openSync(spool, 'r');
    rmSync(dir, { recursive: true, force: true });
    const hmac = createHmac('sha256', priv.symkey);
    for await (const chunk of createReadStream('', { fd, autoClose: false, start: 0 })) {
      hmac.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    if (!timingSafeEqual(hmac.digest(), pub.hmac)) {
      throw decoderError('DECODER_ERR_INTEGRITY', `Cannot decrypt the layer: its HMAC does not match (${size} bytes read): the encrypted layer or its ${PUBOPTS_ANNOTATION} annotation was altered; nothing was written`);
    }
    const decipher = createDecipheriv('aes-256-ctr', priv.symkey, priv.nonce);
    const sha = createHash('sha256');
    let written = 0;
    await pipeline(
      createReadStream('', { fd, autoClose: false, start: 0 }),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          const plain = decipher.update(chunk);
          sha.update(plain);
          written += plain.length;
          yield plain;
        }
      },
      output,
      { end: false },
    );
    const digest = `sha256:${sha.digest('hex')}`;
    if (digest !== priv.digest) throw decoderError('DECODER_ERR_INTEGRITY', `Cannot decrypt the layer: the plain layer's digest ${digest} is not ${priv.digest} (the private options)`);
    return { bytes: written };
  } finally {
    if (fd !== undefined) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}
