/**
 * `tee-tools dump EVIDENCE`: every parsed field of a piece of evidence (Intel quote, SNP report, sim
 * evidence), as JSON (--json; bytes as lowercase hex) or as `path: value` lines. Parsing only: nothing is
 * verified, and the output says so.
 */
import { createHash } from 'node:crypto';
import type { TeeType } from '../attestation/claims.ts';
import { decodeSgxExtensions, SGX_EXTENSIONS_OID } from '../attestation/intel/pck.ts';
import { parseIntelQuote, type IntelQuote } from '../attestation/intel/quote.ts';
import { findExtension, parseCertificate } from '../attestation/intel/x509.ts';
import { parseSimEvidence } from '../attestation/sim/parse.ts';
import { parseSnpReport } from '../attestation/snp/parse.ts';
import { detectTee, EVIDENCE_ERROR_CODES } from '../attestation/verify-evidence.ts';
import { describeError, InclavareError } from '../errors/errors.ts';
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

function omit<T extends object>(o: T, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The quote's PCK chain, certificate by certificate, and the SGX extensions of the PCK certificate. */
function intelCertificates(quote: IntelQuote): Record<string, unknown> {
  const ders = quote.signature.certificationData.certificates ?? [];
  const certificates: unknown[] = [];
  let pck: unknown = null;
  for (const der of ders) {
    try {
      const c = parseCertificate(der, 'ATTEST_ERR_PCK_CHAIN', 'quote: PCK chain');
      certificates.push({ subject: c.subject, issuer: c.issuer, serial: c.serial, notBefore: iso(c.window.from), notAfter: iso(c.window.until), sha256: createHash('sha256').update(der).digest('hex') });
      const ext = findExtension(c, SGX_EXTENSIONS_OID);
      if (ext && pck === null) pck = decodeSgxExtensions(ext);
    } catch (err) {
      certificates.push({ error: describeError(err) });
    }
  }
  return { certificates, pckExtensions: pck };
}

function dumpIntel(bytes: Uint8Array): Record<string, unknown> {
  const q = parseIntelQuote(bytes);
  const sig = q.signature;
  return {
    version: q.version,
    tee: q.tee,
    size: q.size,
    header: q.header,
    ...(q.bodyDescriptor ? { bodyDescriptor: q.bodyDescriptor } : {}),
    body: { kind: q.body.kind, ...omit(q.body.report, 'raw', 'kind') },
    signatureDataLength: q.signatureDataLength,
    signature: {
      quoteSignature: sig.quoteSignature,
      attestationKey: sig.attestationKey,
      qeReport: omit(sig.qeReport, 'raw'),
      qeReportSignature: sig.qeReportSignature,
      qeAuthData: sig.qeAuthData,
      ...(sig.outerCertificationType !== undefined ? { outerCertificationType: sig.outerCertificationType } : {}),
      certificationData: {
        type: sig.certificationData.type,
        size: sig.certificationData.data.length,
        ...(sig.certificationData.pemChain !== undefined ? { pemChain: sig.certificationData.pemChain } : { data: sig.certificationData.data }),
      },
    },
    pckChain: intelCertificates(q),
    trailingBytes: q.trailingBytes,
  };
}

function dumpSnp(bytes: Uint8Array): Record<string, unknown> {
  return omit(parseSnpReport(bytes), 'raw', 'signedBytes');
}

function dumpSim(bytes: Uint8Array): Record<string, unknown> {
  const e = parseSimEvidence(bytes);
  return { ...omit(e, 'raw', 'signedBytes'), platformKeyId: createHash('sha256').update(e.platformKey).digest('hex') };
}

const DUMPERS: Record<TeeType, { format: string; dump: (bytes: Uint8Array) => Record<string, unknown> }> = {
  sgx: { format: 'intel-dcap-quote', dump: dumpIntel },
  tdx: { format: 'intel-dcap-quote', dump: dumpIntel },
  snp: { format: 'sev-snp-attestation-report', dump: dumpSnp },
  sim: { format: 'inclavare-sim-evidence', dump: dumpSim },
};

/** Parses evidence of any known TEE into JSON-safe data; throws InclavareError (ATTEST_ERR_*) otherwise. */
export function dumpEvidence(bytes: Uint8Array): EvidenceDump {
  const tee = detectTee(bytes);
  if (tee === null) {
    throw new InclavareError(EVIDENCE_ERROR_CODES.UNKNOWN_TEE, 'invalid-argument', `Cannot dump evidence: ${bytes.length} bytes that are no known evidence format`);
  }
  const d = DUMPERS[tee];
  return { tee, format: d.format, verified: false, fields: toJsonValue(d.dump(bytes)) as Record<string, unknown> };
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
