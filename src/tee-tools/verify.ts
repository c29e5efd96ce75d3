/**
 * `tee-tools verify EVIDENCE`: reads evidence and its inputs from files, verifies it through the evidence
 * registry at --at (default now), and reports the verdict as one JSON object (--json) or a short text.
 * Exit 0 verified, 1 rejected, 2 usage or I/O error (the contract in docs/attestation.md).
 */
import type { Claims, TeeType } from '../attestation/claims.ts';
import { loadIntelCollateral } from '../collateral/intel-dir.ts';
import { type IntelCollateral } from '../attestation/intel/collateral.ts';
import type { IntelEvidenceOptions } from '../attestation/intel/verify-quote.ts';
import type { SnpEvidenceOptions } from '../attestation/snp/scheme.ts';
import { detectTee, TEE_TYPES, verifyEvidence, type TeeSelector, type VerifyEvidenceOptions } from '../attestation/verify-evidence.ts';
import { describeError, isInclavareError } from '../errors/errors.ts';
import { pemSplit } from '../x509/pem.ts';
import { errorLine, EXIT, exitCodeOf, isPem, parseTime, readInputFile, usageError, type CommandResult } from './io.ts';
import { TEE_TOOLS_ERROR_CODES, teeToolsError } from './codes.ts';

/** The flags of `tee-tools verify`. */
export interface VerifyCommandOptions {
  evidence: string;
  tee?: string;
  collateral?: string;
  vcek?: string;
  certChain?: string;
  trustAnchors?: string[];
  at?: string;
  json?: boolean;
  /** The clock for a missing --at (tests inject one). */
  now?: () => Date;
}

/** The JSON object of `verify --json` (the contract other tools parse). */
export interface VerifyReport {
  verified: boolean;
  tee: TeeType | null;
  tcbStatus: string | null;
  advisoryIds: string[];
  claims: Claims | null;
  /** `details`: what the verifier knows beyond the message (Intel, missing collateral: `missing`, `checked`, `fmspc`). */
  error: { code: string; message: string; details?: Record<string, unknown> } | null;
}

/** --tee values: every registered TEE, or auto. */
export const TEE_CHOICES: readonly TeeSelector[] = [...TEE_TYPES, 'auto'];

async function readText(path: string, what: string): Promise<string | Uint8Array> {
  const bytes = await readInputFile(path, what);
  return isPem(bytes) ? Buffer.from(bytes).toString('latin1') : bytes;
}

async function readCollateral(dir: string): Promise<IntelCollateral> {
  try {
    return await loadIntelCollateral(dir);
  } catch (err) {
    throw teeToolsError(TEE_TOOLS_ERROR_CODES.IO, `Cannot read collateral directory ${dir}`, { cause: err });
  }
}

/**
 * Reads every file the flags name (only those the evidence's TEE uses are needed, but all must be readable) into
 * per-TEE options: --collateral for sgx and tdx, --vcek/--cert-chain for snp, --trust-anchor as the roots of
 * sgx, tdx and snp and as the platform keys of sim.
 */
export async function buildOptions(o: Omit<VerifyCommandOptions, 'evidence'>, tee: TeeSelector, at: Date): Promise<VerifyEvidenceOptions> {
  const options: VerifyEvidenceOptions = { tee, at };
  const intel: IntelEvidenceOptions = {};
  const snp: SnpEvidenceOptions = {};
  if (o.collateral !== undefined) intel.collateral = await readCollateral(o.collateral);
  let chain = o.certChain === undefined ? undefined : await readText(o.certChain, 'certificate chain');
  if (o.vcek !== undefined) {
    const vcek = await readText(o.vcek, 'VCEK/VLEK');
    // A KDS-style bundle (VCEK, then ASK and ARK) is accepted: the first certificate is the leaf.
    const blocks = typeof vcek === 'string' ? pemSplit(vcek, 'CERTIFICATE') : [];
    if (blocks.length > 1) {
      snp.vcek = blocks[0]!;
      const rest = blocks.slice(1).join('');
      chain = chain === undefined ? rest : typeof chain === 'string' ? `${chain}\n${rest}` : chain;
    } else {
      snp.vcek = vcek;
    }
  }
  if (chain !== undefined) snp.certChain = chain;
  if (o.trustAnchors !== undefined && o.trustAnchors.length > 0) {
    const anchors = await Promise.all(o.trustAnchors.map((f) => readText(f, 'trust anchor')));
    intel.trustAnchors = anchors;
    snp.trustAnchors = anchors;
    options.sim = { platformKeys: anchors };
  }
  options.sgx = intel;
  options.tdx = intel;
  options.snp = snp;
  return options;
}

/** The report of a verification that returned claims. */
export function verifiedReport(claims: Claims): VerifyReport {
  return { verified: true, tee: claims.tee, tcbStatus: claims.tcbStatus, advisoryIds: claims.advisoryIds, claims, error: null };
}

/** The report of a rejection (or of an input that could not be read). */
export function rejectedReport(tee: TeeType | null, err: unknown): VerifyReport {
  const code = isInclavareError(err) ? err.code : 'ATTEST_ERR_INTERNAL';
  const details = isInclavareError(err) ? err.details : undefined;
  // A partial Intel verification still knows the platform's TCB status; report it rather than hide it.
  const tcbStatus = typeof details?.platformTcbStatus === 'string' ? details.platformTcbStatus : null;
  const advisoryIds = Array.isArray(details?.platformAdvisoryIds) ? (details.platformAdvisoryIds as string[]) : [];
  const withDetails = code === 'ATTEST_ERR_COLLATERAL_MISSING' && details !== undefined ? { details: { ...details } } : {};
  return { verified: false, tee, tcbStatus, advisoryIds, claims: null, error: { code, message: describeError(err), ...withDetails } };
}

/** The short human-readable verdict. */
export function formatVerdict(report: VerifyReport): string {
  const lines: string[] = [];
  const tee = report.tee ?? 'unknown';
  if (!report.verified || !report.claims) {
    lines.push(`rejected: ${tee} evidence: ${report.error?.code ?? 'unknown error'}`);
    lines.push(`  ${report.error?.message ?? ''}`);
    if (report.tcbStatus) lines.push(`  platform TCB status: ${report.tcbStatus}${report.advisoryIds.length ? ` (${report.advisoryIds.join(', ')})` : ''}`);
    return `${lines.join('\n')}\n`;
  }
  const c = report.claims;
  const status = c.tcbStatus ? `, TCB status ${c.tcbStatus}${c.advisoryIds.length ? ` (${c.advisoryIds.join(', ')})` : ''}` : '';
  lines.push(`verified: ${tee} evidence v${c.evidenceVersion}${status}`);
  const m = c.measurements;
  const keys = ['mrenclave', 'mrsigner', 'mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'measurement', 'hostData'] as const;
  for (const k of keys) if (m[k] !== undefined) lines.push(`  ${k}: ${m[k]}`);
  lines.push(`  reportData: ${c.reportData}`);
  if (c.platform.fmspc) lines.push(`  fmspc: ${c.platform.fmspc}`);
  if (c.platform.productName) lines.push(`  product: ${c.platform.productName}`);
  lines.push(`  debug: ${c.debug}`);
  if (c.tee === 'sim') lines.push('  WARNING: sim evidence isolates nothing (software enclave)');
  lines.push(`  valid: ${c.validFrom} .. ${c.validUntil}`);
  return `${lines.join('\n')}\n`;
}

function render(report: VerifyReport, json: boolean): string {
  return json ? `${JSON.stringify(report)}\n` : formatVerdict(report);
}

/** Runs `tee-tools verify`; never throws for a rejection (that is exit 1 with a report). */
export async function verify(o: VerifyCommandOptions): Promise<CommandResult> {
  const json = o.json === true;
  let tee: TeeType | null = null;
  try {
    const wanted = (o.tee ?? 'auto') as TeeSelector;
    if (!TEE_CHOICES.includes(wanted)) throw usageError(`Invalid --tee "${o.tee}": expected one of ${TEE_CHOICES.join(', ')}`);
    const at = parseTime(o.at, o.now);
    const evidence = await readInputFile(o.evidence, 'evidence');
    tee = wanted === 'auto' ? detectTee(evidence) : wanted;
    const options = await buildOptions(o, wanted, at);
    const report = verifiedReport(verifyEvidence(evidence, options));
    return { exitCode: EXIT.ok, stdout: render(report, json), stderr: '' };
  } catch (err) {
    const exitCode = exitCodeOf(err);
    const report = rejectedReport(tee, err);
    // Usage and I/O errors also go to stderr as one line; rejections are the command's normal output.
    if (exitCode === EXIT.usage) return { exitCode, stdout: json ? render(report, true) : '', stderr: errorLine(err) };
    return { exitCode, stdout: render(report, json), stderr: '' };
  }
}
