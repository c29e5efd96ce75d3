/**
 * Hardware evidence through Linux configfs-tsm (Documentation/ABI/testing/configfs-tsm, Linux 6.7+): the
 * kernel's one interface for TDX quotes and SEV-SNP reports inside a confidential VM.
 *
 * One report = create a directory under the report root, write `inblob` (the 64-byte report data), read
 * `outblob` (the quote or report), `provider` and `generation`, remove the directory. `generation` counts
 * writes to the directory: if it is not exactly one more than before our write, someone else wrote in
 * between and the outblob may not be for our inblob, so we try again (the ABI document's advice).
 *
 * The file operations are the seam ({@link TsmFs}): configfs is kernel-backed and cannot be imitated
 * with a plain directory (its attributes appear on mkdir and outblob is computed on read), so tests hand
 * in a fake configfs and everything above the seam runs as in production.
 */
import { open, mkdir, rmdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { INCLAVARED_ERROR_CODES, inclavaredError } from './codes.ts';
import { isInclavareError } from '../errors/errors.ts';

/** The file operations configfs-tsm needs. */
export interface TsmFs {
  /** mkdir(2) of one directory (configfs creates the attributes in it). */
  mkdir(path: string): Promise<void>;
  /** rmdir(2). */
  rmdir(path: string): Promise<void>;
  /** Writes `data` in one write(2) (configfs takes an attribute's value in a single write). */
  write(path: string, data: Uint8Array): Promise<void>;
  /** Reads until EOF; fails when the content exceeds `maxBytes`. */
  read(path: string, maxBytes: number): Promise<Uint8Array>;
}

/** The real configfs, through node:fs. */
export const nodeTsmFs: TsmFs = {
  async mkdir(path) {
    await mkdir(path, { mode: 0o700 });
  },
  async rmdir(path) {
    await rmdir(path);
  },
  async write(path, data) {
    await writeFile(path, data);
  },
  async read(path, maxBytes) {
    // Not readFile(): configfs attributes report size 0 or a fixed size, not their content's length.
    const handle = await open(path, 'r');
    try {
      const chunks: Buffer[] = [];
      let total = 0;
      while (true) {
        const buf = Buffer.alloc(Math.min(65536, maxBytes + 1 - total));
        const { bytesRead } = await handle.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        chunks.push(buf.subarray(0, bytesRead));
        total += bytesRead;
        if (total > maxBytes) throw new Error(`${path} holds more than ${maxBytes} bytes`);
      }
      return new Uint8Array(Buffer.concat(chunks, total));
    } finally {
      await handle.close();
    }
  },
};

/** The `provider` names of the kernel's TSM drivers, per TEE. */
export const TSM_PROVIDERS: Readonly<Record<'tdx' | 'snp', string>> = { tdx: 'tdx_guest', snp: 'sev_guest' };

/** The largest outblob accepted: a TDX quote with its PCK chain is ~5-10 KiB. */
const MAX_OUTBLOB_BYTES = 1 << 20;
const MAX_ATTRIBUTE_BYTES = 4096;
const ATTEMPTS = 3;

/** One report from configfs-tsm. */
export interface TsmReport {
  /** The provider that produced it (`tdx_guest`, `sev_guest`). */
  provider: string;
  /** The quote (TDX) or attestation report (SNP). */
  outblob: Uint8Array;
}

/** Inputs of requestTsmReport(). */
export interface TsmReportOptions {
  /** The report root, normally /sys/kernel/config/tsm/report. */
  tsmPath: string;
  /** The TEE the node must be: the provider has to be its driver. */
  tee: 'tdx' | 'snp';
  /** The file operations; default the real configfs. */
  fs?: TsmFs;
}

function tsmError(message: string, cause?: unknown): Error {
  return inclavaredError(INCLAVARED_ERROR_CODES.TSM, message, { cause });
}

let sequence = 0;

/** A directory name no other request (of this or another process) uses. */
function uniqueName(): string {
  return `inclavared-${process.pid}-${++sequence}-${randomBytes(4).toString('hex')}`;
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8').trim();
}

function generationOf(bytes: Uint8Array, path: string): number {
  const value = text(bytes);
  if (!/^\d{1,15}$/.test(value)) throw tsmError(`Cannot use configfs-tsm: ${path} holds ${JSON.stringify(value.slice(0, 32))}, not a number`);
  return Number(value);
}

/**
 * Gets one report for `inblob` (64 bytes) from configfs-tsm. Throws INCLAVARED_ERR_TSM (unavailable) when
 * configfs-tsm fails or keeps being written to by others, INCLAVARED_ERR_TSM_PROVIDER (failed-precondition)
 * when the node's provider is not the TEE asked for.
 */
export async function requestTsmReport(inblob: Uint8Array, options: TsmReportOptions): Promise<TsmReport> {
  const fs = options.fs ?? nodeTsmFs;
  if (inblob.length !== 64) throw new TypeError('requestTsmReport() needs a 64-byte inblob');
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const dir = join(options.tsmPath, uniqueName());
    try {
      await fs.mkdir(dir);
    } catch (err) {
      throw tsmError(`Cannot get a ${options.tee} report: cannot create ${dir} (is this a ${options.tee} guest with configfs-tsm mounted?)`, err);
    }
    try {
      const provider = text(await fs.read(join(dir, 'provider'), MAX_ATTRIBUTE_BYTES));
      if (provider !== TSM_PROVIDERS[options.tee]) {
        throw inclavaredError(
          INCLAVARED_ERROR_CODES.TSM_PROVIDER,
          `Cannot get a ${options.tee} report: configfs-tsm's provider is ${JSON.stringify(provider)}, not ${TSM_PROVIDERS[options.tee]}`,
        );
      }
      const before = generationOf(await fs.read(join(dir, 'generation'), MAX_ATTRIBUTE_BYTES), join(dir, 'generation'));
      await fs.write(join(dir, 'inblob'), inblob);
      const outblob = await fs.read(join(dir, 'outblob'), MAX_OUTBLOB_BYTES);
      const after = generationOf(await fs.read(join(dir, 'generation'), MAX_ATTRIBUTE_BYTES), join(dir, 'generation'));
      if (after !== before + 1) continue; // another writer raced us: this outblob may not be ours
      if (outblob.length === 0) throw tsmError(`Cannot get a ${options.tee} report: ${join(dir, 'outblob')} is empty`);
      return { provider, outblob };
    } catch (err) {
      if (isInclavareError(err, INCLAVARED_ERROR_CODES.TSM) || isInclavareError(err, INCLAVARED_ERROR_CODES.TSM_PROVIDER)) throw err;
      throw tsmError(`Cannot get a ${options.tee} report through configfs-tsm at ${dir}`, err);
    } finally {
      await fs.rmdir(dir).catch(() => {
        // best effort: a leftover report directory costs nothing but a name
      });
    }
  }
  throw tsmError(`Cannot get a ${options.tee} report: configfs-tsm was written to by another process ${ATTEMPTS} times in a row`);
}
