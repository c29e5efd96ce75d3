/**
 * What containerd hands a stream processor on fd 3 (docs/encrypted-images.md, "containerd"): a protobuf
 * `google.protobuf.Any` (type_url = 1, value = 2), marshaled by containerd's diff package. For imgcrypt's
 * decoders (`io.containerd.ocicrypt.decoder.v1.tar[.gzip]`) containerd's CRI plugin with
 * `image_decryption.key_model = "node"` sets the Any of imgcrypt's `Payload`, registered with typeurl under
 * {@link PAYLOAD_TYPE_URL}; Payload is no protobuf message, so typeurl marshals it as JSON:
 * `{"DecryptConfig":{"Parameters":{...}},"Descriptor":{"mediaType","digest","size","annotations"}}`.
 *
 * Untrusted bytes (whatever is on fd 3): every read is bounded, errors name the problem.
 */
import { decoderError } from './codes.ts';

/** imgcrypt's typeurl name of its Payload. */
export const PAYLOAD_TYPE_URL = 'io.containerd.ocicrypt.v1.Payload';
/** The largest payload read (a descriptor with a few JWE annotations is a few KiB). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;

/** The layer descriptor of the payload. */
export interface LayerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

function bad(message: string): Error {
  return decoderError('DECODER_ERR_PAYLOAD', `Cannot read the processor payload on fd 3: ${message}`);
}

function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (at + i >= bytes.length) throw bad('a varint runs past the end');
    const b = bytes[at + i]!;
    value += (b & 0x7f) * scale;
    if (value > Number.MAX_SAFE_INTEGER) throw bad('a varint is too large');
    scale *= 128;
    if ((b & 0x80) === 0) return [value, at + i + 1];
  }
  throw bad('a varint is longer than 10 bytes');
}

/** Splits a protobuf `Any` into its type URL and value; unknown fields are skipped, wire types checked. */
export function decodeAny(bytes: Uint8Array): { typeUrl: string; value: Buffer } {
  if (bytes.length > MAX_PAYLOAD_BYTES) throw bad(`it is ${bytes.length} bytes, more than ${MAX_PAYLOAD_BYTES}`);
  let typeUrl = '';
  let value = Buffer.alloc(0);
  let at = 0;
  while (at < bytes.length) {
    const [tag, next] = readVarint(bytes, at);
    at = next;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw bad('field number 0');
    if (wire === 0) {
      at = readVarint(bytes, at)[1];
    } else if (wire === 2) {
      const [length, start] = readVarint(bytes, at);
      if (start + length > bytes.length) throw bad(`field ${field} runs past the end`);
      const chunk = Buffer.from(bytes.subarray(start, start + length));
      if (field === 1) typeUrl = chunk.toString('utf8');
      else if (field === 2) value = chunk;
      at = start + length;
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
      if (at > bytes.length) throw bad(`field ${field} runs past the end`);
    } else {
      throw bad(`wire type ${wire} is not one a google.protobuf.Any has`);
    }
  }
  return { typeUrl, value };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The layer descriptor of imgcrypt's Payload in `bytes` (fd 3's content). */
export function parsePayload(bytes: Uint8Array): LayerDescriptor {
  if (bytes.length === 0) {
    throw bad('it is empty: containerd passes the layer descriptor only with the CRI plugin\'s image_decryption key_model = "node" (or ctr\'s imgcrypt unpack); see docs/encrypted-images.md');
  }
  const { typeUrl, value } = decodeAny(bytes);
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  if (name !== PAYLOAD_TYPE_URL) throw bad(`its type is ${JSON.stringify(typeUrl.slice(0, 200))}, not imgcrypt's ${PAYLOAD_TYPE_URL}`);
  let payload: unknown;
  try {
    payload = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw bad(`the ${PAYLOAD_TYPE_URL} value is not JSON (${(err as Error).message})`);
  }
  if (!isObject(payload) || !isObject(payload.Descriptor)) throw bad(`the ${PAYLOAD_TYPE_URL} value has no "Descriptor" object`);
  const d = payload.Descriptor;
  if (typeof d.mediaType !== 'string' || typeof d.digest !== 'string') throw bad('the descriptor lacks "mediaType" or "digest"');
  const annotations: Record<string, string> = {};
  if (d.annotations !== undefined && d.annotations !== null) {
    if (!isObject(d.annotations)) throw bad('the descriptor\'s "annotations" is not an object');
    for (const [k, v] of Object.entries(d.annotations)) {
      if (typeof v !== 'string') throw bad(`annotation ${JSON.stringify(k.slice(0, 100))} is not a string`);
      annotations[k] = v;
    }
  }
  return { mediaType: d.mediaType, digest: d.digest, size: typeof d.size === 'number' ? d.size : -1, annotations };
}

/** Encodes an Any (for tests and the benchmark: what containerd writes on fd 3). */
export function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return out;
  };
  const url = Buffer.from(typeUrl);
  return Buffer.concat([Buffer.from([0x0a, ...varint(url.length)]), url, Buffer.from([0x12, ...varint(value.length)]), Buffer.from(value)]);
}
