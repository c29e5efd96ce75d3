/**
 * `verdict key create|get|list|delete|import`: keys by kid (a UUID). A key's value is printed only by
 * `key get`, and only to stdout (or the file --out names, mode 0600).
 */
import { writeFile } from 'node:fs/promises';
import type { KeyInfoMessage } from '../verdictd/management/messages.ts';
import { json, ok, readInput, usage, withClient, type CommandResult, type ConnectionOptions } from './connection.ts';

/** How a key's bytes are written or read. */
export type KeyFormat = 'hex' | 'base64' | 'raw';
/** The formats --format takes. */
export const KEY_FORMATS: readonly KeyFormat[] = ['hex', 'base64', 'raw'];

function keyJson(k: KeyInfoMessage): Record<string, unknown> {
  return { uuid: k.uuid, length: k.length, origin: k.origin, createdAt: k.createdAt };
}

/** `key create`: a random 32-byte key under a fresh UUIDv4; prints the kid. */
export function keyCreate(options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const r = await c.call('KeyManagerService/CreateKey', {});
    return ok(options.json ? json({ status: r.status, ...(r.info ? keyJson(r.info) : { uuid: r.uuid }) }) : `${r.uuid}\n`);
  });
}

function encodeKey(key: Uint8Array, format: KeyFormat): string | Uint8Array {
  if (format === 'raw') return key;
  return `${Buffer.from(key).toString(format)}\n`;
}

/** `key get KID`: the key's value (hex by default) on stdout or into --out. */
export function keyGet(kid: string, options: ConnectionOptions & { format?: string; out?: string; json?: boolean }): Promise<CommandResult> {
  const format = (options.format ?? 'hex') as KeyFormat;
  if (!KEY_FORMATS.includes(format)) usage(`Invalid --format ${JSON.stringify(options.format)}: expected ${KEY_FORMATS.join(', ')}`);
  return withClient(options, async (c) => {
    const { key } = await c.call('KeyManagerService/GetKey', { uuid: kid });
    if (options.out !== undefined) {
      await writeFile(options.out, encodeKey(key, format), { mode: 0o600 });
      return ok('');
    }
    return ok(options.json ? json({ uuid: kid.toLowerCase(), length: key.length, key: Buffer.from(key).toString('hex') }) : encodeKey(key, format));
  });
}

/** `key list`: every key's kid, length, origin and creation time (never values). */
export function keyList(options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const { keys } = await c.call('KeyManagerService/ListKeys', {});
    if (options.json) return ok(json(keys.map(keyJson)));
    return ok(keys.map((k) => `${k.uuid}\t${k.length}\t${k.origin}\t${k.createdAt}\n`).join(''));
  });
}

/** `key delete KID`. */
export function keyDelete(kid: string, options: ConnectionOptions): Promise<CommandResult> {
  return withClient(options, async (c) => {
    await c.call('KeyManagerService/DeleteKey', { uuid: kid });
    return ok('');
  });
}

/** `key import FILE|-`: a key of 16 to 64 bytes from a file or stdin (never from the command line, which `ps` shows). */
export async function keyImport(file: string, options: ConnectionOptions & { kid?: string; format?: string; json?: boolean }): Promise<CommandResult> {
  const format = (options.format ?? 'raw') as KeyFormat;
  if (!KEY_FORMATS.includes(format)) usage(`Invalid --format ${JSON.stringify(options.format)}: expected ${KEY_FORMATS.join(', ')}`);
  const input = await readInput(file, 'the key file');
  let key: Buffer;
  if (format === 'raw') {
    key = input;
  } else {
    const text = input.toString('utf8').trim();
    const valid = format === 'hex' ? /^(?:[0-9a-fA-F]{2})*$/.test(text) : /^[A-Za-z0-9+/]*={0,2}$/.test(text);
    if (!valid) usage(`Cannot import the key from ${file}: it is not ${format}`);
    key = Buffer.from(text, format);
  }
  return withClient(options, async (c) => {
    const r = await c.call('KeyManagerService/ImportKey', { key, uuid: options.kid ?? '' });
    return ok(options.json ? json({ status: r.status, ...(r.info ? keyJson(r.info) : { uuid: r.uuid }) }) : `${r.uuid}\n`);
  });
}

/** `key public KID`: the PEM public key of the key's image key (P-256), for `skopeo --encryption-key jwe:<file>`. */
export function keyPublic(kid: string, options: ConnectionOptions & { out?: string }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const { pem } = await c.call('KeyManagerService/GetImagePublicKey', { uuid: kid });
    if (options.out !== undefined) {
      await writeFile(options.out, pem);
      return ok('');
    }
    return ok(pem);
  });
}
