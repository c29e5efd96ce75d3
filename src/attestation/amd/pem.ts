/**
 * Certificate input decoding: callers hand in DER bytes, PEM bytes or PEM text (one certificate or a bundle).
 * Only the PEM armor (RFC 7468) is handled here; the DER inside is decoded by the X.509 library.
 */
import { InclavareError } from '../../errors/errors.ts';
import { AMD_ERROR_CODES } from './codes.ts';

/** Certificate material as callers pass it: DER bytes, PEM bytes, or PEM text. */
export type CertificateInput = Uint8Array | string;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;
/** AMD bundles are a few KiB; refusing megabytes keeps PEM scanning cheap on hostile input. */
const MAX_INPUT_BYTES = 1 << 20;

function malformed(message: string): InclavareError {
  return new InclavareError(AMD_ERROR_CODES.MALFORMED, 'invalid-argument', message);
}

/** True when the bytes start like PEM text (optional whitespace, then "-----BEGIN"). */
function looksLikePem(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return Buffer.from(bytes.subarray(i, i + 10)).toString('latin1') === '-----BEGIN';
}

/**
 * The DER encodings of every certificate in `input`: PEM text (any number of CERTIFICATE blocks; text between
 * blocks is ignored, as RFC 7468 allows) or a single DER certificate. `what` names the input in messages.
 */
export function decodeCertificates(input: CertificateInput, what: string): Uint8Array[] {
  let text: string | undefined;
  if ((typeof input === 'string' || input instanceof Uint8Array) && input.length > MAX_INPUT_BYTES) {
    throw malformed(`Cannot read ${what}: it is larger than ${MAX_INPUT_BYTES} bytes`);
  }
  if (typeof input === 'string') text = input;
  else if (input instanceof Uint8Array) {
    if (!looksLikePem(input)) return input.length === 0 ? [] : [Uint8Array.from(input)];
    text = Buffer.from(input).toString('latin1');
  } else {
    throw malformed(`Cannot read ${what}: expected DER or PEM bytes or PEM text`);
  }
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (m[1] !== 'CERTIFICATE') continue;
    const body = m[2] ?? '';
    if (!BASE64_BODY.test(body)) throw malformed(`Cannot read ${what}: a PEM block is not base64`);
    const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
    if (der.length === 0) throw malformed(`Cannot read ${what}: a PEM block is empty`);
    out.push(new Uint8Array(der.buffer, der.byteOffset, der.byteLength));
  }
  if (out.length === 0 && text.trim().length > 0) {
    throw malformed(`Cannot read ${what}: no PEM CERTIFICATE block found`);
  }
  return out;
}
