/**
 * The DCAP verification shared by SGX and TDX (reference/attestation.md section 7; Intel QVL order where it
 * matters): PCK chain to a trust anchor, QE report signature by the PCK key, QE report binding of the
 * attestation key, quote signature, collateral signatures, time validity of every input, FMSPC / PCE-ID /
 * TEE of the TCB Info, QE Identity, revocation (PCK CRL, Root CA CRL), TCB levels and status convergence.
 * A pure function of (quote, collateral, trust anchors, time).
 */
import { createHash } from 'node:crypto';
import { bytesEqual, isAllZero, toHex } from './bytes.ts';
import { INTEL_ERROR_CODES, intelError } from './codes.ts';
import type { IntelCollateral } from './collateral.ts';
import { verifyCollateral, type NamedWindow, type VerifiedCollateral } from './collateral-verify.ts';
import { verifyPckChain, type VerifiedPckChain } from './pck.ts';
import type { IntelQuote } from './quote.ts';
import { evaluateTcb, matchPlatformTcbLevel, type TcbEvaluation } from './tcb-evaluation.ts';
import { attestationKeyOf } from './attestation-key.ts';
import { normalizeTrustAnchors, verifyRawEcdsa, type TrustAnchors, type Window } from './x509.ts';
import { INTEL_SGX_ROOT_CA_PEM } from '../roots/intel.ts';
import { teeTcbSvnBytes } from '../tdx/parse.ts';

/** Options of every Intel quote verifier. */
export interface IntelVerifyOptions {
  /** Collateral for the quote's FMSPC (see loadIntelCollateral / fetchIntelCollateral). */
  collateral: IntelCollateral;
  /** Root certificates (PEM text or DER); default: the built-in Intel SGX Root CA. */
  trustAnchors?: readonly (string | Uint8Array)[];
  /** The verification time; every input must be valid at this instant. */
  at: Date;
}

/** Everything a successful verification established, for the per-TEE claims builders. */
export interface IntelVerification {
  quote: IntelQuote;
  pck: VerifiedPckChain;
  collateral: VerifiedCollateral;
  tcb: TcbEvaluation;
  /** Intersection of the validity of every input. */
  window: Window;
}

/** Offset of REPORTDATA in an SGX report body (sgx_report_body_t). */
const QE_REPORT_DATA_OFFSET = 320;

const DEFAULT_ANCHORS: readonly string[] = Object.freeze([INTEL_SGX_ROOT_CA_PEM]);

function anchorsOf(options: IntelVerifyOptions): TrustAnchors {
  return normalizeTrustAnchors(options.trustAnchors ?? DEFAULT_ANCHORS);
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : ms > 0 ? '+infinity' : '-infinity';
}

function checkTime(at: number, windows: NamedWindow[]): void {
  for (const w of windows) {
    if (at < w.from || at > w.until) {
      throw intelError(
        INTEL_ERROR_CODES.COLLATERAL_EXPIRED,
        `Cannot verify quote: ${w.item} is not valid at ${iso(at)} (valid ${iso(w.from)} to ${iso(w.until)})`,
        { details: { item: w.item, at: iso(at), validFrom: iso(w.from), validUntil: iso(w.until) } },
      );
    }
  }
}

/** Verifies the quote's own signatures and its PCK chain (no collateral needed). */
function verifyQuoteSignatures(quote: IntelQuote, anchors: TrustAnchors): VerifiedPckChain {
  const sig = quote.signature;
  const cd = sig.certificationData;
  if (cd.type !== 5 || !cd.certificates) {
    throw intelError(
      INTEL_ERROR_CODES.UNSUPPORTED_VERSION,
      `Cannot verify quote: certification data type ${cd.type} does not carry the PCK chain (type 5 is required)`,
    );
  }
  const pck = verifyPckChain(cd.certificates, anchors);
  // QE report signed by the PCK key (Quote Library API: "QE Report Signature ... ECDSA with the PCK key").
  if (!verifyRawEcdsa(sig.qeReport.raw, sig.qeReportSignature, pck.pckKey)) {
    throw intelError(INTEL_ERROR_CODES.QE_REPORT_SIGNATURE, 'Cannot verify quote: QE report signature does not verify with the PCK key');
  }
  // The QE vouches for the attestation key: QE report_data = SHA-256(attestation key || QE auth data) || 0^32.
  const digest = createHash('sha256').update(sig.attestationKey).update(sig.qeAuthData).digest();
  const rd = sig.qeReport.raw.subarray(QE_REPORT_DATA_OFFSET, QE_REPORT_DATA_OFFSET + 64);
  if (!bytesEqual(rd.subarray(0, 32), digest) || !isAllZero(rd.subarray(32))) {
    throw intelError(
      INTEL_ERROR_CODES.QE_REPORT_BINDING,
      'Cannot verify quote: QE report data is not the hash of the attestation key and QE auth data',
    );
  }
  const attKey = attestationKeyOf(sig.attestationKey);
  if (!attKey || !verifyRawEcdsa(quote.signedBytes, sig.quoteSignature, attKey)) {
    throw intelError(INTEL_ERROR_CODES.QUOTE_SIGNATURE, 'Cannot verify quote: quote signature does not verify with the attestation key');
  }
  return pck;
}

/**
 * Verifies a parsed Intel quote against collateral at a time. Throws an InclavareError (ATTEST_ERR_*) on any
 * failure, including missing collateral (after checking everything the present collateral allows; the
 * error's details then carry the platform TCB status if it could be computed).
 */
export function verifyParsedIntelQuote(quote: IntelQuote, options: IntelVerifyOptions): IntelVerification {
  const at = options?.at instanceof Date ? options.at.getTime() : NaN;
  if (Number.isNaN(at)) {
    throw intelError(INTEL_ERROR_CODES.MALFORMED, 'Cannot verify quote: options.at must be a valid Date (the verification time)');
  }
  const anchors = anchorsOf(options);
  const pck = verifyQuoteSignatures(quote, anchors);
  const vc = verifyCollateral(options.collateral, anchors);

  const windows: NamedWindow[] = [
    ...[pck.pck, pck.intermediate, pck.root].map((c) => ({ item: `PCK chain certificate "${c.subject}"`, ...c.window })),
    ...vc.windows,
  ];
  checkTime(at, windows);

  const ext = pck.extensions;
  const tcbInfo = vc.tcbInfo?.info;
  if (tcbInfo) {
    if (tcbInfo.fmspc !== ext.fmspc) {
      throw intelError(
        INTEL_ERROR_CODES.FMSPC_MISMATCH,
        `Cannot verify quote: the TCB Info is for FMSPC ${tcbInfo.fmspc} but the PCK certificate has FMSPC ${ext.fmspc}`,
      );
    }
    if (tcbInfo.pceId !== ext.pceId) {
      throw intelError(INTEL_ERROR_CODES.TCB_INFO_MISMATCH, `Cannot verify quote: the TCB Info is for PCE-ID ${tcbInfo.pceId}, the PCK certificate has ${ext.pceId}`);
    }
    const wanted = quote.tee === 'tdx' ? 'TDX' : 'SGX';
    if (tcbInfo.id !== wanted || (quote.tee === 'tdx' && tcbInfo.version < 3)) {
      throw intelError(INTEL_ERROR_CODES.TCB_INFO_MISMATCH, `Cannot verify quote: a ${wanted} quote needs ${wanted} TCB Info, got ${tcbInfo.id} v${tcbInfo.version}`);
    }
  }

  // Revocation: the PCK certificate by the PCK CRL of its CA, the PCK CA by the Root CA CRL.
  const pckCrl = vc.pckCrl;
  if (pckCrl) {
    if (pckCrl.crl.issuerKey !== pck.intermediate.subjectKey || !bytesEqual(pckCrl.issuer.spki, pck.intermediate.spki)) {
      throw intelError(
        INTEL_ERROR_CODES.CRL,
        `Cannot verify quote: the PCK CRL is issued by "${pckCrl.crl.issuer}", but the PCK certificate by "${pck.intermediate.subject}" (ca=${pck.ca})`,
      );
    }
    if (pckCrl.crl.revoked.has(pck.pck.serial)) {
      throw intelError(INTEL_ERROR_CODES.REVOKED, `Cannot verify quote: the PCK certificate (serial ${pck.pck.serial}) is revoked by the PCK CRL`);
    }
  }
  const rootCrl = vc.rootCaCrl;
  if (rootCrl) {
    if (!bytesEqual(rootCrl.root.der, pck.root.der)) {
      throw intelError(INTEL_ERROR_CODES.CRL, 'Cannot verify quote: the Root CA CRL is not issued by the root of the PCK chain');
    }
    if (rootCrl.crl.revoked.has(pck.intermediate.serial)) {
      throw intelError(INTEL_ERROR_CODES.REVOKED, `Cannot verify quote: "${pck.intermediate.subject}" is revoked by the Root CA CRL`);
    }
  }

  const td =
    quote.body.kind === 'sgx'
      ? undefined
      : {
          teeTcbSvn: teeTcbSvnBytes(quote.body.report),
          mrSignerSeam: quote.body.report.mrSignerSeam,
          seamAttributes: quote.body.report.seamAttributes,
        };
  if (vc.missing.length > 0 || !tcbInfo || !vc.qeIdentity) {
    // What did verify, so that a report can say exactly how far the quote got (e.g. an archived quote whose
    // platform's TCB Info is not public): everything before this point, given the collateral present.
    const checked = ['quote signature', 'QE report signature', 'QE report binds the attestation key', 'PCK certificate chain to the trusted root'];
    if (vc.windows.length > 0) checked.push('present collateral signed and valid at the verification time');
    if (vc.pckCrl) checked.push('PCK certificate not revoked');
    if (vc.rootCaCrl) checked.push('PCK CA not revoked');
    const details: Record<string, unknown> = { missing: vc.missing, checked, fmspc: ext.fmspc };
    if (tcbInfo) {
      const level = matchPlatformTcbLevel(tcbInfo, { sgxComponents: ext.tcbComponents, pceSvn: ext.pceSvn, ...(td ? { teeTcbSvn: td.teeTcbSvn } : {}) });
      details.platformTcbStatus = level?.tcbStatus ?? null;
      details.platformAdvisoryIds = level ? [...level.advisoryIds].sort() : [];
    }
    throw intelError(
      INTEL_ERROR_CODES.COLLATERAL_MISSING,
      `Cannot verify quote: collateral is incomplete (missing ${vc.missing.join(', ')}); the quote signatures and PCK chain are valid`,
      { details },
    );
  }

  const tcb = evaluateTcb({
    tcbInfo,
    pck: ext,
    ...(td ? { td } : {}),
    qe: { identity: vc.qeIdentity.identity, report: quote.signature.qeReport, expectedId: quote.tee === 'tdx' ? 'TD_QE' : 'QE' },
  });
  if (tcb.status === 'Revoked') {
    throw intelError(INTEL_ERROR_CODES.REVOKED, 'Cannot verify quote: the TCB status of the platform, TDX module or QE is Revoked', {
      details: { platformStatus: tcb.platformStatus, qeStatus: tcb.qeStatus ?? null },
    });
  }
  let from = -Infinity;
  let until = Infinity;
  for (const w of windows) {
    from = Math.max(from, w.from);
    until = Math.min(until, w.until);
  }
  return { quote, pck, collateral: vc, tcb, window: { from, until } };
}

/** ISO-8601 of an epoch-milliseconds instant. */
export function isoTime(ms: number): string {
  return iso(ms);
}

/** Hex of a byte array (re-exported for the claims builders). */
export { toHex };
