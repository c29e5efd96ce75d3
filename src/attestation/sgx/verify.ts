/**
 * SGX DCAP quote verification (quote v3, or v4/v5 with an SGX body): the shared Intel verification plus the
 * SGX claims (MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN, DEBUG = ATTRIBUTES.FLAGS bit 1).
 */
import type { Claims } from '../claims.ts';
import { INTEL_ERROR_CODES, intelError } from '../intel/codes.ts';
import { parseIntelQuote } from '../intel/quote.ts';
import { isoTime, verifyParsedIntelQuote, type IntelVerification, type IntelVerifyOptions } from '../intel/verify-quote.ts';
import { sgxIsDebug } from './parse.ts';

export type { IntelVerifyOptions } from '../intel/verify-quote.ts';

/** The claims every Intel quote gets alike from its verification (TCB verdict, platform, validity). */
export function intelVerdictClaims(v: IntelVerification): Pick<Claims, 'tcbStatus' | 'advisoryIds' | 'platform' | 'validFrom' | 'validUntil'> {
  return {
    tcbStatus: v.tcb.status,
    advisoryIds: [...v.tcb.advisoryIds],
    platform: { fmspc: v.pck.extensions.fmspc, pceId: v.pck.extensions.pceId },
    validFrom: isoTime(v.window.from),
    validUntil: isoTime(v.window.until),
  };
}

/** `extra` claims common to SGX and TDX verdicts: QE and PCK facts. */
export function intelCommonExtra(v: IntelVerification): Claims['extra'] {
  const { quote, pck, tcb, collateral } = v;
  const extra: Claims['extra'] = {
    attestationKeyType: quote.header.attestationKeyType,
    qeVendorId: quote.header.qeVendorId,
    userData: quote.header.userData,
    platformTcbStatus: tcb.platformStatus,
    qeSvn: quote.signature.qeReport.isvSvn,
    qeMrSigner: quote.signature.qeReport.mrSigner,
    qeMrEnclave: quote.signature.qeReport.mrEnclave,
    qeTcbStatus: tcb.qeStatus ?? 'UpToDate',
    pceSvn: pck.extensions.pceSvn,
    pckCpuSvn: pck.extensions.cpuSvn,
    pckCa: pck.ca,
    pckSerial: pck.pck.serial,
    sgxType: pck.extensions.sgxType,
  };
  if (tcb.platformLevel.tcbDate) extra.tcbDate = tcb.platformLevel.tcbDate;
  const info = collateral.tcbInfo?.info;
  if (info?.tcbEvaluationDataNumber !== undefined) extra.tcbEvaluationDataNumber = info.tcbEvaluationDataNumber;
  if (pck.extensions.platformInstanceId) extra.platformInstanceId = pck.extensions.platformInstanceId;
  if (quote.trailingBytes > 0) extra.trailingBytes = quote.trailingBytes;
  return extra;
}

/** Builds SGX claims from a successful verification of a quote with an SGX body. */
export function sgxClaims(v: IntelVerification): Claims {
  const { quote } = v;
  if (quote.body.kind !== 'sgx') throw new TypeError('sgxClaims() needs a quote with an SGX body');
  const r = quote.body.report;
  // By assignment, not spread: see tdxClaims().
  const extra = intelCommonExtra(v);
  extra.cpuSvn = r.cpuSvn;
  extra.miscSelect = r.miscSelect;
  extra.attributes = r.attributes;
  extra.configId = r.configId;
  extra.configSvn = r.configSvn;
  extra.isvExtProdId = r.isvExtProdId;
  extra.isvFamilyId = r.isvFamilyId;
  const verdict = intelVerdictClaims(v);
  return {
    tee: 'sgx',
    evidenceVersion: quote.version,
    measurements: { mrenclave: r.mrEnclave, mrsigner: r.mrSigner },
    productId: r.isvProdId,
    svn: r.isvSvn,
    debug: sgxIsDebug(r),
    reportData: r.reportData,
    tcbStatus: verdict.tcbStatus,
    advisoryIds: verdict.advisoryIds,
    platform: verdict.platform,
    validFrom: verdict.validFrom,
    validUntil: verdict.validUntil,
    extra,
  };
}

/**
 * Verifies an SGX DCAP quote against collateral at `options.at` and returns its claims; throws an
 * InclavareError (ATTEST_ERR_*) when anything does not check out.
 */
export function verifySgxQuote(quote: Uint8Array, options: IntelVerifyOptions): Claims {
  const parsed = parseIntelQuote(quote);
  if (parsed.tee !== 'sgx') {
    throw intelError(INTEL_ERROR_CODES.TEE_MISMATCH, 'Cannot verify SGX quote: this is a TDX quote (TEE type 0x81); use verifyTdxQuote()');
  }
  return sgxClaims(verifyParsedIntelQuote(parsed, options));
}
