/** Helpers of the inclavared unit tests: raw HTTP over unix sockets, temp dirs, and a fake configfs-tsm. */
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { TsmFs } from '../../../src/attestation-socket/tsm.ts';

/** A short temp dir (unix socket paths must stay under 108 bytes). */
export function tempDir(prefix = 'incl-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A raw answer. */
export interface HttpAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Sends one request with an arbitrary body over a unix socket. */
export function httpRequest(socketPath: string, method: string, path: string, body?: string | Uint8Array): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: 5000, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end(body === undefined ? undefined : Buffer.from(body));
  });
}

/** The `{"error":{"code","message"}}` of an error answer (asserts its shape). */
export function errorOf(answer: HttpAnswer): { code: string; message: string } {
  const value = JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } };
  if (typeof value.error?.code !== 'string' || typeof value.error.message !== 'string') throw new Error(`not an error body: ${answer.body}`);
  return { code: value.error.code, message: value.error.message };
}

function errnoError(code: string, path: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${path}`) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

/** The fake quote a {@link FakeConfigfs} returns: a marker followed by the 64-byte inblob. */
export const FAKE_QUOTE_MARKER = Buffer.from('FAKE-TSM-QUOTE:');

interface FakeReport {
  inblob?: Uint8Array;
  generation: number;
}

/**
 * configfs-tsm's report directory as the kernel behaves (Documentation/ABI/testing/configfs-tsm): mkdir
 * makes a report with attributes, every inblob write bumps `generation`, outblob is computed on read.
 */
export class FakeConfigfs implements TsmFs {
  readonly root: string;
  provider: string;
  /** How many outblob reads see another writer bump the generation first. */
  interfere = 0;
  readonly reports = new Map<string, FakeReport>();
  /** Every directory ever created. */
  readonly created: string[] = [];

  constructor(root: string, provider = 'tdx_guest') {
    this.root = root;
    this.provider = provider;
  }

  async mkdir(path: string): Promise<void> {
    if (dirname(path) !== this.root) throw errnoError('ENOENT', path);
    if (this.reports.has(basename(path))) throw errnoError('EEXIST', path);
    this.reports.set(basename(path), { generation: 0 });
    this.created.push(path);
  }

  async rmdir(path: string): Promise<void> {
    if (!this.reports.delete(basename(path))) throw errnoError('ENOENT', path);
  }

  #report(path: string): [FakeReport, string] {
    const report = dirname(path) === join(this.root, basename(dirname(path))) ? this.reports.get(basename(dirname(path))) : undefined;
    if (report === undefined) throw errnoError('ENOENT', path);
    return [report, basename(path)];
  }

  async write(path: string, data: Uint8Array): Promise<void> {
    const [report, attr] = this.#report(path);
    if (attr !== 'inblob') throw errnoError('EACCES', path);
    if (data.length > 64) throw errnoError('EINVAL', path);
    report.inblob = Uint8Array.from(data);
    report.generation++;
  }

  async read(path: string, maxBytes: number): Promise<Uint8Array> {
    const [report, attr] = this.#report(path);
    let out: Buffer;
    if (attr === 'provider') out = Buffer.from(`${this.provider}\n`);
    else if (attr === 'generation') out = Buffer.from(`${report.generation}\n`);
    else if (attr === 'outblob') {
      if (report.inblob === undefined) throw errnoError('EINVAL', path);
      if (this.interfere > 0) {
        this.interfere--;
        report.generation++; // someone else wrote inblob between our write and our read
      }
      out = Buffer.concat([FAKE_QUOTE_MARKER, report.inblob]);
    } else throw errnoError('ENOENT', path);
    if (out.length > maxBytes) throw new Error('too large');
    return new Uint8Array(out);
  }
}
