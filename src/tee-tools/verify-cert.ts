/**
 * `tee-tools verify-cert CERT`: verifies a RATS-TLS certificate (DICE or legacy) - its evidence through the
 * evidence registry and the evidence's binding to the certificate's key - and reports
 * `{"verified","binding","format","evidence","error"}` where `evidence` is the object `tee-tools verify` prints.
 * Exit 0 verified, 1 rejected, 2 usage or I/O error (docs/rats-tls.md).
 */
import { describeError } from '../errors/errors.ts';
import { verifyAttestedCertificate, type AttestedCertificateVerification, type Binding } from '../rats-tls/verify.ts';
import { errorLine, EXIT, exitCodeOf, parseTime, readInputFile, usageError, type CommandResult } from './io.ts';
import { buildOptions, formatVerdict, rejectedReport, verifiedReport, type VerifyCommandOptions, type VerifyReport } from './verify.ts';

/** The flags of `tee-tools verify-cert`: the evidence flags of `tee-tools verify`, and the certificate's own. */
export interface VerifyCertCommandOptions extends Omit<VerifyCommandOptions, 'evidence' | 'tee'> {
  cert: string;
  /** Hex nonce the certificate's claims must carry. */
  nonce?: string;
  /** Do not require --at inside the certificate's validity period (audits of archived certificates). */
  ignoreValidityPeriod?: boolean;
  /** Which evidence extension to read when both exist; default dice. */
  extension?: string;
}

/** The JSON object of `verify-cert --json`. */
export interface VerifyCertReport {
  verified: boolean;
  binding: Binding;
  format: 'dice' | 'legacy' | 'none';
  /** The evidence verdict as `tee-tools verify` reports it; null when the certificate carries no evidence. */
  evidence: VerifyReport | null;
  /** Why `verified` is false (the first failed check), else null. */
  error: { code: string; message: string } | null;
  /**
   * The endorsements extension (Intel collateral in the certificate), null when absent: the collateral items
   * taken from it (the verifier's --collateral items take precedence), or why it could not be used.
   */
  endorsements: { used: string[]; error: { code: string; message: string } | null } | null;
}

function reportOf(v: AttestedCertificateVerification): VerifyCertReport {
  let evidence: VerifyReport | null = null;
  if (v.format !== 'none') {
    if (v.evidenceClaims !== undefined) evidence = verifiedReport(v.evidenceClaims);
    else evidence = rejectedReport(v.tee, v.evidenceError ?? v.error);
  }
  const error = v.error === undefined ? null : { code: v.error.code, message: describeError(v.error) };
  const endorsements =
    v.certificate?.endorsements === undefined || v.certificate.endorsements.length === 0
      ? null
      : { used: v.endorsementsUsed ?? [], error: v.endorsementsError ? { code: v.endorsementsError.code, message: describeError(v.endorsementsError) } : null };
  return { verified: v.verified, binding: v.binding, format: v.format, evidence, error, endorsements };
}

function formatText(r: VerifyCertReport): string {
  const endorsed = r.endorsements === null ? '' : r.endorsements.error ? ', endorsements unusable' : `, ${r.endorsements.used.length} collateral items from its endorsements`;
  const head = `${r.verified ? 'verified' : 'rejected'}: ${r.format} certificate, binding ${r.binding}${endorsed}\n`;
  const why = r.error && !r.verified ? `  ${r.error.code}: ${r.error.message}\n` : '';
  const evidence = r.evidence ? formatVerdict(r.evidence).replace(/^/gm, '  ') : '';
  return head + why + evidence;
}

function parseNonce(hex: string | undefined): Uint8Array | undefined {
  if (hex === undefined) return undefined;
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw usageError(`Invalid --nonce "${hex}": expected an even number of hex digits`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Runs `tee-tools verify-cert`; a rejection is exit 1 with a report, never a throw. */
export async function verifyCert(o: VerifyCertCommandOptions): Promise<CommandResult> {
  const json = o.json === true;
  try {
    const at = parseTime(o.at, o.now);
    const prefer = o.extension ?? 'dice';
    if (prefer !== 'dice' && prefer !== 'legacy') throw usageError(`Invalid --extension "${prefer}": expected dice or legacy`);
    const expectedNonce = parseNonce(o.nonce);
    const cert = await readInputFile(o.cert, 'certificate');
    const { tee: _tee, at: _at, ...evidence } = await buildOptions(o, 'auto', at);
    const verdict = verifyAttestedCertificate(cert, {
      at,
      evidence,
      prefer,
      checkValidityPeriod: o.ignoreValidityPeriod !== true,
      ...(expectedNonce !== undefined ? { expectedNonce } : {}),
    });
    const report = reportOf(verdict);
    const stdout = json ? `${JSON.stringify(report)}\n` : formatText(report);
    return { exitCode: report.verified ? EXIT.ok : EXIT.rejected, stdout, stderr: '' };
  } catch (err) {
    // Only usage and I/O errors get here (the verifier reports rejections in its verdict).
    return { exitCode: exitCodeOf(err) === EXIT.usage ? EXIT.usage : EXIT.rejected, stdout: '', stderr: errorLine(err) };
  }
}
