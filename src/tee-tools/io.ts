/**
 * What every tee-tools subcommand shares: its result shape, the exit statuses of the CLI contract (from the
 * error table: usage and I/O errors exit 2, as opposed to "rejected", exit 1), file reading and the
 * rendering of parsed values as JSON (bytes as lowercase hex).
 */
import { looksLikePem } from '../x509/pem.ts';
import { readFile } from 'node:fs/promises';
import { describeError, exitStatusOf, type InclavareError } from '../errors/errors.ts';
import { TEE_TOOLS_ERROR_CODES, teeToolsError } from './codes.ts';

/** Exit statuses of the tee-tools contract. */
export const EXIT = Object.freeze({ ok: 0, rejected: 1, usage: 2 } as const);

/** What a subcommand produced: the exit status and the text for stdout and stderr. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** An invalid flag value (exit 2). */
export function usageError(message: string, cause?: unknown): InclavareError {
  return teeToolsError(TEE_TOOLS_ERROR_CODES.USAGE, message, cause === undefined ? {} : { cause });
}

/** Exit status for an error, from the error table: 2 for usage and I/O, 1 for everything else (the evidence was rejected). */
export function exitCodeOf(err: unknown): number {
  return exitStatusOf(err);
}

/** The one-line form users see: `tee-tools: <message and causes>`. */
export function errorLine(err: unknown): string {
  return `tee-tools: ${describeError(err)}\n`;
}

/** Reads a file named on the command line; failures are I/O errors (exit 2). */
export async function readInputFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw teeToolsError(TEE_TOOLS_ERROR_CODES.IO, `Cannot read ${what} ${path}`, { cause: err });
  }
}

/** True when the bytes are PEM text (they are then passed on as a string, DER as bytes). */
export function isPem(bytes: Uint8Array): boolean {
  return looksLikePem(bytes);
}

/** Parses --at (ISO-8601); absent means now. */
export function parseTime(value: string | undefined, now: () => Date = () => new Date()): Date {
  if (value === undefined) return now();
  // Date.parse accepts more than ISO-8601 (e.g. "March 7"); insist on the ISO shape so a typo is not a date.
  const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
  const at = new Date(value);
  if (!iso.test(value) || Number.isNaN(at.getTime())) {
    throw usageError(`Invalid --at "${value}": expected an ISO-8601 time such as 2025-07-04T10:28:44Z`);
  }
  return at;
}

/** Renders a parsed structure as JSON-safe data: bytes as lowercase hex, bigints as 0x-hex, dates as ISO. */
export function toJsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (typeof value === 'bigint') return `0x${value.toString(16)}`;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value instanceof Set) return [...value].map(toJsonValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJsonValue(v);
    return out;
  }
  return value;
}
