/**
 * The DCAP verification shared by SGX and TDX (Intel DCAP Quote Verification Library order where it
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
import { intersectWindows, normalizeTrustAnchors, verifyRawEcdsa, type TrustAnchors, type Window } from './x509.ts';
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

/**
 * The inputs an Intel scheme (sgx, tdx) takes from verifyEvidence() (`options.sgx`, `options.tdx`). Without
 * collateral the verifier checks what it can and then fails with ATTEST_ERR_COLLATERAL_MISSING: never a shortcut.
 */
export interface IntelEvidenceOptions {
  /** Collateral for the quote's FMSPC (loadIntelCollateral / fetchIntelCollateral). */
  collateral?: IntelCollateral;
  /** Root certificates (PEM text or DER); replaces the built-in Intel SGX Root CA. */
  trustAnchors?: readonly (string | Uint8Array)[];
}

/** The verifier's options from a scheme's. */
export function intelVerifyOptions(o: IntelEvidenceOptions & { at: Date }): IntelVerifyOptions {
  const out: IntelVerifyOptions = { collateral: o.collateral ?? {}, at: o.at };
  if (o.trustAnchors !== undefined) out.trustAnchors = o.trustAnchors;
  return out;
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

/**
 * What one verified PCK chain and one verified collateral set establish together, whatever the quote: the
 * validity windows of every certificate, CRL and document (and their intersection), whether FMSPC, PCE-ID and
 * revocation checked out, and the TCB evaluations already made against them. Both objects come from caches
 * keyed by their exact bytes and the trust anchors, so a binding is found again exactly when the same chain
 * meets the same collateral under the same anchors; the quote's signatures and the time are checked on every
 * call all the same.
 */
interface Binding {
  windows: NamedWindow[];
  window: Window;
  /** FMSPC, PCE-ID, CRL issuers and revocation passed for this pair. */
  checked: boolean;
  /** Successful TCB evaluations by their remaining inputs (TEE, TD and QE report fields). */
  tcb: Map<string, TcbEvaluation>;
}

const bindings = new WeakMap<VerifiedPckChain, WeakMap<VerifiedCollateral, Binding>>();
const TCB_CACHE_MAX = 64;

function bindingOf(pck: VerifiedPckChain, vc: VerifiedCollateral): Binding {
  let byCollateral = bindings.get(pck);
  if (!byCollateral) {
    byCollateral = new WeakMap();
    bindings.set(pck, byCollateral);
  }
  let b = byCollateral.get(vc);
  if (!b) {
    const windows: NamedWindow[] = [
      ...[pck.pck, pck.intermediate, pck.root].map((c) => ({ item: `PCK chain certificate "${c.subject}"`, ...c.window })),
      ...vc.windows,
    ];
    b = { windows, window: Object.freeze(intersectWindows(windows)), checked: false, tcb: new Map() };
    byCollateral.set(vc, b);
  }
  return b;
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
  const b = bindingOf(pck, vc);

  // Inside the intersection of every input's validity means inside each; outside it, the named check
  // reports the first input that is not valid at `at`.
  if (at < b.window.from || at > b.window.until) checkTime(at, b.windows);

  const ext = pck.extensions;
  const tcbInfo = vc.tcbInfo?.info;
  if (tcbInfo) {
    if (!b.checked) {
      if (tcbInfo.fmspc !== ext.fmspc) {
        throw intelError(
          INTEL_ERROR_CODES.FMSPC_MISMATCH,
          `Cannot verify quote: the TCB Info is for FMSPC ${tcbInfo.fmspc} but the PCK certificate has FMSPC ${ext.fmspc}`,
        );
      }
      if (tcbInfo.pceId !== ext.pceId) {
        throw intelError(INTEL_ERROR_CODES.TCB_INFO_MISMATCH, `Cannot verify quote: the TCB Info is for PCE-ID ${tcbInfo.pceId}, the PCK certificate has ${ext.pceId}`);
      }
    }
    const wanted = quote.tee === 'tdx' ? 'TDX' : 'SGX';
    if (tcbInfo.id !== wanted || (quote.tee === 'tdx' && tcbInfo.version < 3)) {
      throw intelError(INTEL_ERROR_CODES.TCB_INFO_MISMATCH, `Cannot verify quote: a ${wanted} quote needs ${wanted} TCB Info, got ${tcbInfo.id} v${tcbInfo.version}`);
    }
  }
  if (!b.checked) {
    checkRevocation(pck, vc);
    // FMSPC, PCE-ID and revocation are functions of (PCK chain, collateral) alone: from now on this binding
    // has passed them. The time, the TEE of the TCB Info and everything below are checked on every call.
    b.checked = true;
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

  const qeReport = quote.signature.qeReport;
  const expectedId = quote.tee === 'tdx' ? 'TD_QE' : 'QE';
  // The key is every input of evaluateTcb() besides the binding's TCB Info, QE Identity and PCK extensions.
  const tcbKey =
    `${expectedId}|${td ? `${td.teeTcbSvn.join('.')}|${td.mrSignerSeam}|${td.seamAttributes}` : ''}|` +
    `${qeReport.mrSigner}|${qeReport.isvProdId}|${qeReport.miscSelect}|${qeReport.attributes}|${qeReport.isvSvn}`;
  let tcb = b.tcb.get(tcbKey);
  if (!tcb) {
    tcb = evaluateTcb({ tcbInfo, pck: ext, ...(td ? { td } : {}), qe: { identity: vc.qeIdentity.identity, report: qeReport, expectedId } });
    if (b.tcb.size >= TCB_CACHE_MAX) b.tcb.delete(b.tcb.keys().next().value!);
    b.tcb.set(tcbKey, tcb);
  }
  if (tcb.status === 'Revoked') {
    throw intelError(INTEL_ERROR_CODES.REVOKED, 'Cannot verify quote: the TCB status of the platform, TDX module or QE is Revoked', {
      details: { platformStatus: tcb.platformStatus, qeStatus: tcb.qeStatus ?? null },
    });
  }
  if (quote.trailingNonZeroAt !== undefined) {
    throw intelError(
      INTEL_ERROR_CODES.MALFORMED,
      `Cannot verify quote: byte ${quote.trailingNonZeroAt} after the signature data is not zero (a quote may be zero-padded; no signature covers anything else)`,
    );
  }
  return { quote, pck, collateral: vc, tcb, window: b.window };
}

/** The PCK CRL is the one of the PCK certificate's CA and does not list it; the Root CA CRL does not list the CA. */
function checkRevocation(pck: VerifiedPckChain, vc: VerifiedCollateral): void {
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
}

/** ISO-8601 of an epoch-milliseconds instant. */
export function isoTime(ms: number): string {
  // Every claims record states its window's ends; the same few instants recur, so their text is kept.
  let text = isoTexts.get(ms);
  if (text === undefined) {
    text = iso(ms);
    if (isoTexts.size >= 1024) isoTexts.clear();
    isoTexts.set(ms, text);
  }
  return text;
}

const isoTexts = new Map<number, string>();

/** Hex of a byte array (re-exported for the claims builders). */
export { toHex };
