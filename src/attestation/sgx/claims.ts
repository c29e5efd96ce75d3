/**
 * SGX claims (MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN, DEBUG = ATTRIBUTES.FLAGS bit 1) from a successful Intel
 * verification of a quote with an SGX body, plus what every Intel quote claims (intel/claims.ts).
 */
import type { Claims } from '../claims.ts';
import { intelCommonExtra, intelVerdictClaims } from '../intel/claims.ts';
import type { IntelVerification } from '../intel/verify-quote.ts';
import { sgxIsDebug } from './parse.ts';

/** Builds SGX claims from a successful verification of a quote with an SGX body. */
export function sgxClaims(v: IntelVerification): Claims {
  const { quote } = v;
  if (quote.body.kind !== 'sgx') throw new TypeError('sgxClaims() needs a quote with an SGX body');
  const r = quote.body.report;
  // By assignment, not spread: see tdx/claims.ts.
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
