/**
 * Sealed records: the at-rest form of keys, resources and verdictd's identity key. AES-256-GCM under a key derived from the master key
 * (HKDF-SHA256), a fresh 96-bit IV per write, and as associated data the record's kind, its *name* and its
 * metadata, so a record copied or renamed to another name, a flipped byte anywhere, or another master key all
 * fail authentication. The file is JSON:
 *
 *   {"format":"verdictd-record","version":1,"kind":"key","name":"<kid>","meta":{...},"iv":"<b64>","data":"<b64 ciphertext‖tag>"}
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { canonicalJson } from '../canonical-json.ts';
import { verdictdError } from '../codes.ts';

/** What a sealed record holds: keys, resources, and verdictd's identity private key. */
export type RecordKind = 'key' | 'resource' | 'identity';

/** Metadata kept in clear beside the ciphertext (authenticated, not secret). */
export type RecordMeta = Record<string, string | number>;

const FORMAT = 'verdictd-record';
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The keys derived from one master key: one for records, one to identify the master key in store.json. */
export interface DerivedKeys {
  recordKey: Buffer;
  /** 128-bit identifier of the master key (HMAC, reveals nothing of the key): store.json records it. */
  masterKeyId: string;
}

/** Derives the record key and the master key's identifier from the 32-byte master key. */
export function deriveKeys(masterKey: Uint8Array): DerivedKeys {
  const recordKey = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'inclavare verdictd store records v1', 32));
  const masterKeyId = createHmac('sha256', masterKey).update('inclavare verdictd master key id v1').digest('hex').slice(0, 32);
  return { recordKey, masterKeyId };
}

function aad(kind: RecordKind, name: string, meta: RecordMeta): Buffer {
  return Buffer.from(canonicalJson({ format: FORMAT, version: VERSION, kind, name, meta }));
}

/** The sealed record text for `plaintext` stored as `kind` `name`. */
export function sealRecord(recordKey: Uint8Array, kind: RecordKind, name: string, meta: RecordMeta, plaintext: Uint8Array): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', recordKey, iv);
  cipher.setAAD(aad(kind, name, meta));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return `${JSON.stringify({ format: FORMAT, version: VERSION, kind, name, meta, iv: iv.toString('base64'), data: data.toString('base64') })}\n`;
}

/** The metadata of a sealed record, read without decrypting (authenticated only by openRecord()). */
export function recordMeta(text: string, kind: RecordKind, name: string, file: string): RecordMeta {
  return parseRecord(text, kind, name, file).meta;
}

interface ParsedRecord {
  meta: RecordMeta;
  iv: Buffer;
  data: Buffer;
}

function corrupt(file: string, why: string): never {
  throw verdictdError('VERDICTD_ERR_STORE_CORRUPT', `Cannot read ${file}: ${why}; restore it from a backup or delete it`);
}

function parseRecord(text: string, kind: RecordKind, name: string, file: string): ParsedRecord {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return corrupt(file, 'it is not a sealed record (not JSON: torn or overwritten)');
  }
  if (obj === null || typeof obj !== 'object' || obj.format !== FORMAT || obj.version !== VERSION) return corrupt(file, `it is not a ${FORMAT} v${VERSION} record`);
  if (obj.kind !== kind || obj.name !== name) return corrupt(file, `it holds the ${String(obj.kind)} "${String(obj.name)}", not the ${kind} "${name}" (moved or swapped)`);
  const meta = obj.meta;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return corrupt(file, 'its metadata is malformed');
  if (typeof obj.iv !== 'string' || typeof obj.data !== 'string') return corrupt(file, 'its iv or data is missing');
  const iv = Buffer.from(obj.iv, 'base64');
  const data = Buffer.from(obj.data, 'base64');
  if (iv.length !== IV_BYTES || data.length < TAG_BYTES) return corrupt(file, 'its iv or data has the wrong length');
  return { meta: meta as RecordMeta, iv, data };
}

/**
 * Decrypts a sealed record that must be `kind` `name`; VERDICTD_ERR_STORE_CORRUPT when it does not parse,
 * names another record, or fails authentication (tampered, swapped, or sealed under another master key).
 */
export function openRecord(recordKey: Uint8Array, text: string, kind: RecordKind, name: string, file: string): { meta: RecordMeta; plaintext: Buffer } {
  const { meta, iv, data } = parseRecord(text, kind, name, file);
  try {
    const decipher = createDecipheriv('aes-256-gcm', recordKey, iv);
    // The name used here is the one asked for, not the one in the file: a record swapped with another fails.
    decipher.setAAD(aad(kind, name, meta));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plaintext = Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]);
    return { meta, plaintext };
  } catch {
    return corrupt(file, 'it fails authentication (AES-256-GCM): tampered with, swapped with another record, or sealed under another master key');
  }
}
