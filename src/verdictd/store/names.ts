/**
 * The names the store accepts: kids (UUIDs, lowercase) and resource paths `repo/type/tag` (KBS). Checked
 * before any file name is built from them, so no name reaches outside its directory.
 */
import { randomUUID } from 'node:crypto';
import { verdictdError } from '../codes.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A fresh UUIDv4 kid. */
export function newKid(): string {
  return randomUUID();
}

/** The kid in its canonical (lowercase) form; VERDICTD_ERR_INVALID_ARGUMENT unless it is a UUID. */
export function checkKid(kid: unknown): string {
  const lower = typeof kid === 'string' ? kid.toLowerCase() : '';
  if (!UUID.test(lower)) throw verdictdError('VERDICTD_ERR_INVALID_ARGUMENT', `Cannot use the kid ${JSON.stringify(kid)}: a kid is a UUID (8-4-4-4-12 hex digits)`);
  return lower;
}

/** The resource path as given when it is `repo/type/tag` (each part a letter or digit, then [A-Za-z0-9._-], at most 128). */
export function checkResourcePath(path: unknown): string {
  const parts = typeof path === 'string' ? path.split('/') : [];
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) {
    throw verdictdError(
      'VERDICTD_ERR_INVALID_ARGUMENT',
      `Cannot use the resource path ${JSON.stringify(path)}: a resource path is repo/type/tag, each part a letter or digit followed by letters, digits, '.', '_' or '-'`,
    );
  }
  return path as string;
}

/** The file name of a resource path (`repo%2Ftype%2Ftag`: the parts cannot contain '%', so it is reversible). */
export function resourceFileName(path: string): string {
  return encodeURIComponent(path);
}

/** The resource path of a file name, or null for a file that is no resource. */
export function resourcePathOfFile(file: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(file);
  } catch {
    return null;
  }
  try {
    return resourceFileName(checkResourcePath(path)) === file ? path : null;
  } catch {
    return null;
  }
}

/** True for a kid-shaped file name. */
export function isKidFile(file: string): boolean {
  return UUID.test(file);
}
