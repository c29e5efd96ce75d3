/**
 * PEM (RFC 7468) encoding and decoding of DER structures: certificates, keys, CSRs.
 */

/** Wraps DER bytes as PEM text with the given label (`CERTIFICATE`, `PRIVATE KEY`, ...), 64 columns. */
export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

/**
 * The DER bytes of the first PEM block with `label` in `text` (text around blocks is ignored, as OpenSSL does),
 * or undefined when there is none or its body is not base64.
 */
export function pemDecode(text: string, label: string): Uint8Array | undefined {
  const begin = `-----BEGIN ${label}-----`;
  const start = text.indexOf(begin);
  if (start < 0) return undefined;
  const end = text.indexOf(`-----END ${label}-----`, start + begin.length);
  if (end < 0) return undefined;
  const body = text.slice(start + begin.length, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) return undefined;
  return new Uint8Array(Buffer.from(body, 'base64'));
}

/** True when the bytes start (after whitespace) with a PEM armour line. */
export function looksLikePem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 256)).toString('latin1').trimStart().startsWith('-----BEGIN');
}
