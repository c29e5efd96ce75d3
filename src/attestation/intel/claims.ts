/**
 * The claims every Intel quote gets alike, SGX or TDX: the TCB verdict, the platform identifiers, the validity
 * window and the QE / PCK facts (`extra`). The per-TEE builders (sgx/claims.ts, tdx/claims.ts) add the body.
 */
import type { Claims } from '../claims.ts';
import { isoTime, type IntelVerification } from './verify-quote.ts';

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
