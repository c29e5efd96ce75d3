/**
 * What every `verdict` command shares: finding verdictd's management API and its admin token, reading the
 * files and stdin a command names, and the shape of a command's result.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verdictdError } from '../verdictd/codes.ts';
import { DEFAULT_MANAGEMENT_ADDRESS } from '../verdictd/management/address.ts';
import { ManagementClient } from '../verdictd/management/client.ts';
import { ADMIN_TOKEN_FILE, readAdminToken } from '../verdictd/management/token.ts';

/** verdictd's data directory when neither --data-dir, --token-file nor VERDICTD_DATA_DIR says otherwise. */
export const DEFAULT_DATA_DIR = '/var/lib/verdictd';

/** The connection flags of every command. */
export interface ConnectionOptions {
  /** `-c/--client-api`: the management API's address (the original's `-c`). */
  clientApi?: string;
  /** `--data-dir`: verdictd's data directory, whose `admin-token` is read. */
  dataDir?: string;
  /** `--token-file`: the admin token file itself. */
  tokenFile?: string;
  /** `--timeout`: seconds per call. */
  timeout?: string;
}

/** What a command produced: bytes or text for stdout, and the exit status. */
export interface CommandResult {
  stdout: string | Uint8Array;
  exitCode: number;
}

/** A successful result printing `text`. */
export function ok(text: string | Uint8Array): CommandResult {
  return { stdout: text, exitCode: 0 };
}

/** A usage error (exit 2). */
export function usage(message: string, cause?: unknown): never {
  throw verdictdError('VERDICTD_ERR_USAGE', message, cause === undefined ? {} : { cause });
}

/** The token file the flags name: --token-file, else <--data-dir or $VERDICTD_DATA_DIR or /var/lib/verdictd>/admin-token. */
export function tokenFileOf(options: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): string {
  return options.tokenFile ?? join(options.dataDir ?? env.VERDICTD_DATA_DIR ?? DEFAULT_DATA_DIR, ADMIN_TOKEN_FILE);
}

/** Runs `fn` with a client of the management API the flags name; closes it afterwards. */
export async function withClient<T>(options: ConnectionOptions, fn: (client: ManagementClient) => Promise<T>): Promise<T> {
  const token = readAdminToken(tokenFileOf(options));
  let timeoutMs: number | undefined;
  if (options.timeout !== undefined) {
    timeoutMs = Number(options.timeout) * 1000;
    if (!(timeoutMs > 0)) usage(`Invalid --timeout ${JSON.stringify(options.timeout)}: expected a number of seconds`);
  }
  const client = new ManagementClient(options.clientApi ?? process.env.VERDICT_CLIENT_API ?? DEFAULT_MANAGEMENT_ADDRESS, { token, ...(timeoutMs ? { timeoutMs } : {}) });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Reads a file named on the command line, or stdin for `-`; a failure is a usage error (exit 2). */
export async function readInput(path: string, what: string): Promise<Buffer> {
  try {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }
    return await readFile(path);
  } catch (err) {
    return usage(`Cannot read ${what} ${path}: ${(err as Error).message}`, err);
  }
}

/** One JSON document and a newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
