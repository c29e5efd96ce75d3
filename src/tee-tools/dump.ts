/**
 * `tee-tools dump EVIDENCE`: every parsed field of a piece of evidence (each TEE's scheme dumps its own:
 * `<tee>/dump.ts`), as JSON (--json; bytes as lowercase hex) or as `path: value` lines. Parsing only: nothing
 * is verified, and the output says so.
 */
import type { TeeType } from '../attestation/claims.ts';
import { TEE_SCHEMES } from '../attestation/registry.ts';
import { detectTee, EVIDENCE_ERROR_CODES } from '../attestation/verify-evidence.ts';
import { attestError } from '../attestation/codes.ts';
import { errorLine, EXIT, exitCodeOf, readInputFile, toJsonValue, type CommandResult } from './io.ts';

/** The flags of `tee-tools dump`. */
export interface DumpCommandOptions {
  evidence: string;
  json?: boolean;
}

/** Parsed evidence as JSON-safe data: `tee`, `format`, then the format's fields. */
export interface EvidenceDump {
  tee: TeeType;
  format: string;
  verified: false;
  fields: Record<string, unknown>;
}

/** Parses evidence of any known TEE into JSON-safe data (its scheme's dump); throws InclavareError (ATTEST_ERR_*) otherwise. */
export function dumpEvidence(bytes: Uint8Array): EvidenceDump {
  const tee = detectTee(bytes);
  if (tee === null) {
    throw attestError(EVIDENCE_ERROR_CODES.UNKNOWN_TEE, `Cannot dump evidence: ${bytes.length} bytes that are no known evidence format`);
  }
  const d = TEE_SCHEMES[tee].dump(bytes);
  return { tee, format: d.format, verified: false, fields: toJsonValue(d.fields) as Record<string, unknown> };
}

/** `path: value` lines of a JSON-safe value; multi-line strings (the PEM chain) are indented below their key. */
export function formatFields(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) return [`${prefix}: ${value.join(', ')}`];
    return value.flatMap((v, i) => formatFields(v, `${prefix}[${i}]`));
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => formatFields(v, prefix ? `${prefix}.${k}` : k));
  }
  if (typeof value === 'string' && value.includes('\n')) {
    return [`${prefix}:`, ...value.trimEnd().split('\n').map((l) => `    ${l}`)];
  }
  return [`${prefix}: ${String(value)}`];
}

/** Runs `tee-tools dump`: exit 0 when the evidence parses, 1 when it does not, 2 when it cannot be read. */
export async function dump(o: DumpCommandOptions): Promise<CommandResult> {
  try {
    const d = dumpEvidence(await readInputFile(o.evidence, 'evidence'));
    if (o.json === true) return { exitCode: EXIT.ok, stdout: `${JSON.stringify(d)}\n`, stderr: '' };
    const head = `${d.tee} evidence (${d.format}), parsed only, NOT verified`;
    return { exitCode: EXIT.ok, stdout: `${[head, ...formatFields(d.fields).map((l) => `  ${l}`)].join('\n')}\n`, stderr: '' };
  } catch (err) {
    return { exitCode: exitCodeOf(err), stdout: '', stderr: errorLine(err) };
  }
}
