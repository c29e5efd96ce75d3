/**
 * TDX claims (MRTD, RTMR0-3, MRSEAM, ..., the TDX module identity, DEBUG = TD_ATTRIBUTES bit 0) from a
 * successful Intel verification of a quote with a TD report body, plus what every Intel quote claims
 * (intel/claims.ts).
 */
import type { Claims } from '../claims.ts';
import { intelCommonExtra, intelVerdictClaims } from '../intel/claims.ts';
import type { IntelVerification } from '../intel/verify-quote.ts';
import { tdxIsDebug } from './parse.ts';

/** Builds TDX claims from a successful verification of a quote with a TD report body. */
export function tdxClaims(v: IntelVerification): Claims {
  const { quote, tcb } = v;
  if (quote.body.kind === 'sgx') throw new TypeError('tdxClaims() needs a quote with a TD report body');
  const r = quote.body.report;
  // Built by assignment, not by spreading the shared parts: V8 clones a spread object slowly (this function took
  // longer than a SHA-256 of the quote when it spread them).
  const extra = intelCommonExtra(v);
  extra.tdxVersion = r.kind === 'tdx15' ? '1.5' : '1.0';
  extra.teeTcbSvn = r.teeTcbSvn;
  extra.seamAttributes = r.seamAttributes;
  if (r.teeTcbSvn2 !== undefined) extra.teeTcbSvn2 = r.teeTcbSvn2;
  if (r.mrServiceTd !== undefined) extra.mrServiceTd = r.mrServiceTd;
  const mod = tcb.tdxModule;
  if (mod) {
    extra.tdxModuleIsvSvn = mod.isvSvn;
    if (mod.id) extra.tdxModuleId = mod.id;
    if (mod.level) extra.tdxModuleTcbStatus = mod.level.tcbStatus;
  }
  const verdict = intelVerdictClaims(v);
  return {
    tee: 'tdx',
    evidenceVersion: quote.version,
    measurements: {
      mrtd: r.mrTd,
      rtmr0: r.rtmr0,
      rtmr1: r.rtmr1,
      rtmr2: r.rtmr2,
      rtmr3: r.rtmr3,
      mrseam: r.mrSeam,
      mrsignerseam: r.mrSignerSeam,
      mrconfigid: r.mrConfigId,
      mrowner: r.mrOwner,
      mrownerconfig: r.mrOwnerConfig,
      tdAttributes: r.tdAttributes,
      xfam: r.xfam,
    },
    debug: tdxIsDebug(r),
    reportData: r.reportData,
    tcbStatus: verdict.tcbStatus,
    advisoryIds: verdict.advisoryIds,
    platform: verdict.platform,
    validFrom: verdict.validFrom,
    validUntil: verdict.validUntil,
    extra,
  };
}
