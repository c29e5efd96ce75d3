/**
 * The management API's bearer token (docs/verdictd.md, "Authentication"): 32 random bytes as 64 hex digits in
 * `<data-dir>/admin-token`, mode 0600, created at the first start and kept afterwards. Whoever can read the
 * file (verdictd's user, root) may manage verdictd; clients send it as gRPC metadata
 * `authorization: Bearer <token>`. It is compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileExclusive } from '../../sys/fs.ts';
import { verdictdError } from '../codes.ts';

/** The token file's name in the data directory. */
export const ADMIN_TOKEN_FILE = 'admin-token';
/** The metadata key clients put the token in (`authorization: Bearer <token>`). */
export const AUTHORIZATION_METADATA = 'authorization';

const TOKEN = /^[0-9a-f]{64}$/;

/** The token file of a data directory. */
export function adminTokenPath(dataDir: string): string {
  return join(dataDir, ADMIN_TOKEN_FILE);
}

/**
 * The data directory's admin token, created (exclusively, durably, mode 0600) when the file does not exist yet.
 * An existing file is read and checked as {@link readAdminToken} does: it is never replaced.
 */
export function ensureAdminToken(dataDir: string): string {
  const path = adminTokenPath(dataDir);
  try {
    writeFileExclusive(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  } catch (err) {
    throw verdictdError('VERDICTD_ERR_ADMIN_TOKEN', `Cannot create the admin token file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return readAdminToken(path, { checkMode: true });
}

/**
 * Reads a token file: 64 lowercase hex digits (a trailing newline is fine). With `checkMode` (the daemon), a
 * file readable by group or others is refused: anyone who read it could manage verdictd.
 */
export function readAdminToken(path: string, options: { checkMode?: boolean } = {}): string {
  let text: string;
  let mode: number;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (verdictd writes it into its data directory at its first start: pass --data-dir or --token-file)' : '';
    throw verdictdError('VERDICTD_ERR_ADMIN_TOKEN', `Cannot read the admin token file ${path}${hint}: ${(err as Error).message}`, { cause: err });
  }
  if (options.checkMode === true && (mode & 0o077) !== 0) {
    throw verdictdError(
      'VERDICTD_ERR_ADMIN_TOKEN',
      `Cannot use the admin token file ${path}: it is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${path}, and consider the token exposed (delete the file and restart verdictd for a new one)`,
    );
  }
  const token = text.trim();
  if (!TOKEN.test(token)) throw verdictdError('VERDICTD_ERR_ADMIN_TOKEN', `Cannot use the admin token file ${path}: it does not hold a token (64 lowercase hex digits)`);
  return token;
}

/**
 * True when the `authorization` metadata value is `Bearer <token>`. Constant time in the presented value: both
 * sides are hashed first, so neither the comparison nor its length check reveals a prefix of the token.
 */
export function bearerMatches(presented: string | undefined, token: string): boolean {
  const expected = createHash('sha256').update(`Bearer ${token}`).digest();
  const actual = createHash('sha256').update(presented ?? '').digest();
  return timingSafeEqual(expected, actual) && presented !== undefined;
}
