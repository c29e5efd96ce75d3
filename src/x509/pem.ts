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

function escapeLabel(label: string): string {
  return label.replace(/[^A-Z0-9 ]/g, (c) => `\\${c}`);
}

/**
 * The DER bytes of every PEM block labelled `label` in `text`, in order. Lenient, as OpenSSL reading a bundle:
 * text between blocks is ignored (RFC 7468 §2), and so is a block whose body holds anything but base64 and
 * whitespace. Used for PEM bundles: trust anchors, issuer chains, CRLs.
 */
export function pemDecodeAll(text: string, label: string): Uint8Array[] {
  const l = escapeLabel(label);
  const block = new RegExp(`-----BEGIN ${l}-----([A-Za-z0-9+/=\\s]*?)-----END ${l}-----`, 'g');
  return [...text.matchAll(block)].map((m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
}

/**
 * The DER bytes of the PEM blocks labelled `label` that make up ALL of `text` (whitespace between them
 * allowed), or why they do not: text outside a block, another label, a body that is not canonical base64
 * (RFC 4648 §3.5: padding bits zero). For PEM inside signed-over-by-nothing containers (a quote's PCK chain),
 * where every byte must either matter or be rejected: `pemDecodeAll` would skip what it cannot read.
 */
export function pemDecodeExact(text: string, label: string): { ders: Uint8Array[] } | { error: string } {
  const l = escapeLabel(label);
  const block = new RegExp(`-----BEGIN ${l}-----([A-Za-z0-9+/=\\r\\n]*?)-----END ${l}-----`, 'y');
  const ders: Uint8Array[] = [];
  let p = 0;
  for (;;) {
    while (p < text.length && /[\r\n\t ]/.test(text[p]!)) p++;
    if (p === text.length) break;
    block.lastIndex = p;
    const m = block.exec(text);
    if (m === null) return { error: `byte ${p} is not the start of a ${label} PEM block` };
    const body = m[1]!.replace(/[\r\n]/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) return { error: `the ${label} PEM block at byte ${p} is not base64` };
    const der = Buffer.from(body, 'base64');
    if (der.toString('base64') !== body) return { error: `the ${label} PEM block at byte ${p} is not canonical base64` };
    ders.push(new Uint8Array(der));
    p = block.lastIndex;
  }
  if (ders.length === 0) return { error: `it holds no ${label} PEM block` };
  return { ders };
}

/** The text of every PEM block labelled `label` in `text` (armour lines included, one newline after each kept). */
export function pemSplit(text: string, label: string): string[] {
  const l = escapeLabel(label);
  return text.match(new RegExp(`-----BEGIN ${l}-----[\\s\\S]*?-----END ${l}-----\\n?`, 'g')) ?? [];
}

/** Certificate material as callers pass it: DER bytes, PEM bytes, or PEM text (one certificate or a bundle). */
export type CertificateInput = Uint8Array | string;

/** Bundles are a few KiB; refusing megabytes keeps PEM scanning cheap on hostile input. */
const MAX_CERTIFICATE_INPUT_BYTES = 1 << 20;
const ANY_PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/;

/**
 * The DER encodings of every certificate in `input`, strictly: PEM text (any number of CERTIFICATE blocks; other
 * blocks and text between blocks are ignored, RFC 7468) or a single DER certificate. A CERTIFICATE block that is
 * not base64 or is empty, text without any CERTIFICATE block, and input over 1 MiB are errors, made by `error`
 * (the caller's error code) from a message that begins "Cannot read `what`".
 */
export function decodeCertificates(input: CertificateInput, what: string, error: (message: string) => Error): Uint8Array[] {
  let text: string | undefined;
  if ((typeof input === 'string' || input instanceof Uint8Array) && input.length > MAX_CERTIFICATE_INPUT_BYTES) {
    throw error(`Cannot read ${what}: it is larger than ${MAX_CERTIFICATE_INPUT_BYTES} bytes`);
  }
  if (typeof input === 'string') text = input;
  else if (input instanceof Uint8Array) {
    if (!startsWithPemArmour(input)) return input.length === 0 ? [] : [Uint8Array.from(input)];
    text = Buffer.from(input).toString('latin1');
  } else {
    throw error(`Cannot read ${what}: expected DER or PEM bytes or PEM text`);
  }
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(ANY_PEM_BLOCK)) {
    if (m[1] !== 'CERTIFICATE') continue;
    const body = m[2] ?? '';
    if (!BASE64_BODY.test(body)) throw error(`Cannot read ${what}: a PEM block is not base64`);
    const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
    if (der.length === 0) throw error(`Cannot read ${what}: a PEM block is empty`);
    out.push(new Uint8Array(der.buffer, der.byteOffset, der.byteLength));
  }
  if (out.length === 0 && text.trim().length > 0) throw error(`Cannot read ${what}: no PEM CERTIFICATE block found`);
  return out;
}

/** True when the bytes start like PEM text: optional whitespace (space, tab, CR, LF), then "-----BEGIN". */
function startsWithPemArmour(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return Buffer.from(bytes.subarray(i, i + 10)).toString('latin1') === '-----BEGIN';
}
