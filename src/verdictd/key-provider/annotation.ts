/**
 * The wrapped-key annotation of a layer (`org.opencontainers.image.enc.keys.provider.<name>`), in the two
 * formats found in the wild (reference: the original Verdictd's EAA format and CoCo's):
 *
 *   EAA:  {"kid":"<uuid>","wrapped_data":"<b64>","iv":"<b64>","algorithm":"AES","key_length":256}
 *   CoCo: {"kid":"kbs:///repo/type/tag","wrapped_data":"<b64>","iv":"<b64>","wrap_type":"A256GCM"}
 *
 * Both are AES-256-GCM of the layer's private options (optsdata) under the kid's key, a 12-byte IV and the
 * 16-byte tag appended to the ciphertext: exactly an EAA `Decrypt` blob, which is how the attested side asks
 * verdictd to unwrap one. verdictd writes the EAA format; both are read.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { verdictdError } from '../codes.ts';
import { decodeStrictBase64 } from './protocol.ts';

/** A parsed annotation. */
export interface WrappedKey {
  format: 'eaa' | 'coco';
  kid: string;
  /** Ciphertext ‖ 16-byte GCM tag. */
  wrappedData: Buffer;
  iv: Buffer;
}

/** An EAA `Decrypt` blob (docs/verdictd.md, "Commands and answers"). */
export interface DecryptBlob {
  kid: string;
  encrypted_data: string;
  iv: string;
  algorithm: 'AES' | 'A256GCM';
  key_length: 256;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_ANNOTATION_BYTES = 16 * 1024;

function bad(message: string): Error {
  return verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `Cannot read the wrapped-key annotation: ${message}`);
}

/** Parses an annotation of either format; a bad one is VERDICTD_ERR_MALFORMED_REQUEST saying what is wrong. */
export function parseAnnotation(bytes: Uint8Array): WrappedKey {
  if (bytes.length > MAX_ANNOTATION_BYTES) throw bad(`it is larger than ${MAX_ANNOTATION_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw bad(`it is not JSON (${(err as Error).message}); was the image encrypted by another key provider?`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('it is not a JSON object');
  const a = value as Record<string, unknown>;
  if (typeof a.kid !== 'string' || a.kid === '' || a.kid.length > 512) throw bad('"kid" is missing or not a string');
  let format: WrappedKey['format'];
  if (a.wrap_type !== undefined) {
    if (a.wrap_type !== 'A256GCM') throw bad(`wrap_type ${JSON.stringify(a.wrap_type)} is not supported (A256GCM)`);
    format = 'coco';
  } else {
    if ((a.algorithm ?? 'AES') !== 'AES' || (a.key_length ?? 256) !== 256) {
      throw bad(`algorithm ${JSON.stringify(a.algorithm)} with key_length ${JSON.stringify(a.key_length)} is not supported (AES with 256: AES-256-GCM)`);
    }
    format = 'eaa';
  }
  const wrappedData = decodeStrictBase64(a.wrapped_data, '"wrapped_data"', bad);
  const iv = decodeStrictBase64(a.iv, '"iv"', bad);
  if (iv.length !== IV_BYTES) throw bad(`the iv is ${iv.length} bytes, AES-256-GCM takes ${IV_BYTES}`);
  if (wrappedData.length < TAG_BYTES) throw bad(`wrapped_data is ${wrappedData.length} bytes, shorter than the ${TAG_BYTES}-byte tag`);
  return { format, kid: a.kid, wrappedData, iv };
}

/** The EAA `Decrypt` blob that unwraps `key`. */
export function decryptBlobOf(key: WrappedKey): DecryptBlob {
  return {
    kid: key.kid,
    encrypted_data: key.wrappedData.toString('base64'),
    iv: key.iv.toString('base64'),
    algorithm: key.format === 'coco' ? 'A256GCM' : 'AES',
    key_length: 256,
  };
}

/** Wraps `optsdata` under `key` (32 bytes) as an annotation naming `kid`, in the EAA format (a UUID kid) or CoCo's (a resource). */
export function wrapOptsData(kid: string, key: Uint8Array, optsdata: Uint8Array, format: WrappedKey['format'] = 'eaa'): Buffer {
  if (key.length !== 32) throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot wrap with key ${kid}: it is ${key.length} bytes, AES-256-GCM takes 32`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([cipher.update(optsdata), cipher.final(), cipher.getAuthTag()]);
  const [wrapped_data, ivText] = [sealed.toString('base64'), iv.toString('base64')];
  return Buffer.from(
    JSON.stringify(
      format === 'eaa'
        ? { kid, wrapped_data, iv: ivText, algorithm: 'AES', key_length: 256 }
        : { kid: kid.startsWith('kbs:///') ? kid : `kbs:///${kid}`, wrapped_data, iv: ivText, wrap_type: 'A256GCM' },
    ),
  );
}
