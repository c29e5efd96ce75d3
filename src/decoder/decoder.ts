/**
 * inclavare-decoder's work (docs/encrypted-images.md, "containerd"): a containerd stream processor for
 * ocicrypt-encrypted layers, in place of imgcrypt's ctd-decoder. containerd runs it per layer with the
 * encrypted layer on stdin, the media type in STREAM_PROCESSOR_MEDIATYPE and imgcrypt's Payload (the layer
 * descriptor) on fd 3; it answers the plain layer on stdout. The layer key is never unwrapped here: the layer's
 * JWE (`org.opencontainers.image.enc.keys.jwe`, skopeo `jwe:` to a verdictd image key) or verdictd-wrapped
 * annotation (`…keys.provider.<name>`) goes to a short-lived attested `sim` enclave (src/keyprovider) that asks
 * verdictd; only the layer's private options come back.
 */
import type { Readable, Writable } from 'node:stream';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../errors/errors.ts';
import { unwrapInEnclave, type KeyProviderOptions } from '../keyprovider/provider.ts';
import { decryptBlobOf, parseAnnotation } from '../verdictd/key-provider/annotation.ts';
import { parseJwe } from '../verdictd/image-key.ts';
import { decoderError } from './codes.ts';
import { decryptLayer, JWE_ANNOTATION, parsePrivateOptions, parsePublicOptions, PROVIDER_ANNOTATION_PREFIX, type PrivateOptions } from './layer.ts';
import type { LayerDescriptor } from './payload.ts';

/** The media types this decoder takes (what containerd's stream_processors entries `accepts`). */
export const ENCRYPTED_MEDIA_TYPES = ['application/vnd.oci.image.layer.v1.tar+gzip+encrypted', 'application/vnd.oci.image.layer.v1.tar+encrypted'];

/** What unwraps the layer's key wrapping: the enclave (default) or, in tests of the format alone, a function. */
export type Unwrapper = (what: { jwe: object } | { blob: ReturnType<typeof decryptBlobOf> }) => Promise<Buffer>;

/** The enclave unwrapper over inclavare-keyprovider's options. */
export function enclaveUnwrapper(options: KeyProviderOptions): Unwrapper {
  return async (what) => {
    const [plain] = await unwrapInEnclave('jwe' in what ? { jwe: what.jwe } : [what.blob], options);
    return plain!;
  };
}

/** How the layer's key is wrapped, from its annotations (a JWE first, then a verdictd provider annotation). */
export function keyWrapOf(descriptor: LayerDescriptor): { jwe: object } | { blob: ReturnType<typeof decryptBlobOf> } {
  const jwe = descriptor.annotations[JWE_ANNOTATION];
  if (jwe !== undefined) {
    try {
      // ocicrypt 1.0 joins several JWEs with ","; one is for verdictd's image key (the enclave asks for the first that parses).
      const parsed = jwe.split(',').map((part) => parseJwe(part));
      return { jwe: parsed[0]!.jwe };
    } catch (err) {
      throw decoderError('DECODER_ERR_LAYER', `Cannot read the layer's ${JWE_ANNOTATION} annotation: ${describeError(err)}`, { cause: err });
    }
  }
  const provider = Object.keys(descriptor.annotations).find((k) => k.startsWith(PROVIDER_ANNOTATION_PREFIX));
  if (provider !== undefined) {
    try {
      return { blob: decryptBlobOf(parseAnnotation(Buffer.from(descriptor.annotations[provider]!, 'base64'))) };
    } catch (err) {
      throw decoderError('DECODER_ERR_LAYER', `Cannot read the layer's ${provider} annotation: ${describeError(err)}`, { cause: err });
    }
  }
  const keys = Object.keys(descriptor.annotations).filter((k) => k.startsWith('org.opencontainers.image.enc.keys.'));
  throw decoderError(
    'DECODER_ERR_LAYER',
    `Cannot decrypt layer ${descriptor.digest}: it has no ${JWE_ANNOTATION} or ${PROVIDER_ANNOTATION_PREFIX}<name> annotation${keys.length > 0 ? ` (it has ${keys.join(', ')}: another key wrapping)` : ''}`,
  );
}

/** Decrypts one layer: `input` → `output`. Throws an InclavareError naming the problem; nothing is written on a refusal. */
export async function decodeLayer(options: { mediaType: string | undefined; descriptor: LayerDescriptor; input: Readable; output: Writable; unwrap: Unwrapper; stateDir: string }): Promise<{ bytes: number }> {
  const { mediaType, descriptor } = options;
  if (mediaType === undefined || !ENCRYPTED_MEDIA_TYPES.includes(mediaType)) {
    throw decoderError('DECODER_ERR_LAYER', `Cannot decrypt a layer of media type ${JSON.stringify(mediaType ?? '(STREAM_PROCESSOR_MEDIATYPE unset)')}: this decoder takes ${ENCRYPTED_MEDIA_TYPES.join(', ')}`);
  }
  const pub = parsePublicOptions(descriptor.annotations);
  const wrap = keyWrapOf(descriptor);
  const privateOptions: Promise<PrivateOptions> = options.unwrap(wrap).then((plain) => parsePrivateOptions(plain));
  // Read the layer while the enclave unwraps; an unwrap failure wins over a later read error.
  privateOptions.catch(() => undefined);
  const tmp = join(options.stateDir, 'tmp');
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  try {
    return await decryptLayer(options.input, options.output, pub, privateOptions, tmp);
  } catch (err) {
    await privateOptions; // throws the unwrap's error if that failed
    throw err;
  }
}

