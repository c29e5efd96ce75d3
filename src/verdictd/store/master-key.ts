/**
 * The master key file of the embedded store: 32 random bytes that seal every key and resource
 * (seal.ts). It is created once, at the first start with `init`; afterwards its absence or corruption is a
 * startup error that names the file and what to do. It is never re-created silently: a new key would make
 * every stored secret unreadable. Format (one line of JSON, mode 0600):
 *
 *   {"format":"verdictd-master-key","version":1,"key":"<base64 of 32 bytes>","check":"<hex>"}
 *
 * `check` (an HMAC of the key) detects a corrupted or hand-edited file before any record is touched.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { writeFileExclusive } from '../../sys/fs.ts';
import { verdictdError } from '../codes.ts';

const FORMAT = 'verdictd-master-key';
/** Bytes of the master key (AES-256). */
export const MASTER_KEY_BYTES = 32;

function checkOf(key: Uint8Array): string {
  return createHmac('sha256', key).update('inclavare verdictd master key check v1').digest('hex').slice(0, 16);
}

/** The file text for `key`. */
export function masterKeyFileText(key: Uint8Array): string {
  return `${JSON.stringify({ format: FORMAT, version: 1, key: Buffer.from(key).toString('base64'), check: checkOf(key) })}\n`;
}

/** Creates the master key file with a fresh random key (exclusively: an existing file is never replaced). */
export function createMasterKeyFile(path: string): Buffer {
  const key = randomBytes(MASTER_KEY_BYTES);
  let created: boolean;
  try {
    created = writeFileExclusive(path, masterKeyFileText(key), { mode: 0o600 });
  } catch (err) {
    throw verdictdError('VERDICTD_ERR_STORE_IO', `Cannot create the master key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!created) return readMasterKeyFile(path);
  return key;
}

/**
 * Reads and checks the master key file: it must exist (VERDICTD_ERR_MASTER_KEY_MISSING), be readable by its
 * owner only, and hold a well-formed key whose check matches (VERDICTD_ERR_MASTER_KEY_INVALID).
 */
export function readMasterKeyFile(path: string): Buffer {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw verdictdError(
        'VERDICTD_ERR_MASTER_KEY_MISSING',
        `Cannot open the verdictd store: its master key file ${path} is missing. Restore it from your backup of the master key; it is not re-created, because every stored key and resource is encrypted with it`,
        { cause: err },
      );
    }
    throw verdictdError('VERDICTD_ERR_MASTER_KEY_INVALID', `Cannot read the master key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw verdictdError(
      'VERDICTD_ERR_MASTER_KEY_INVALID',
      `Cannot use the master key file ${path}: it is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${path} (and consider it exposed)`,
    );
  }
  const bad = (why: string): never => {
    throw verdictdError(
      'VERDICTD_ERR_MASTER_KEY_INVALID',
      `Cannot use the master key file ${path}: ${why}. Restore the file from your backup of the master key; it is not re-created`,
    );
  };
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return bad('it is not a verdictd master key file (not JSON; truncated or corrupted)');
  }
  if (obj === null || typeof obj !== 'object' || obj.format !== FORMAT || obj.version !== 1) return bad('it is not a verdictd master key file (format/version)');
  if (typeof obj.key !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(obj.key)) return bad('its key is not base64');
  const key = Buffer.from(obj.key, 'base64');
  if (key.length !== MASTER_KEY_BYTES) return bad(`its key has ${key.length} bytes, not ${MASTER_KEY_BYTES}`);
  if (obj.check !== checkOf(key)) return bad('its check value does not match its key (corrupted)');
  return key;
}
