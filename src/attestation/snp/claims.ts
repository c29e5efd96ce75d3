/**
 * SNP claims from a verified ATTESTATION_REPORT: measurement, host data, key digests, family/image ids, guest
 * SVN, DEBUG = guest policy bit 19, the chip id and product, and every policy, platform-info and TCB field in
 * `extra` (TCBs decoded in the generation's layout). SNP has no TCB status (null).
 */
import type { Claims } from '../claims.ts';
import type { AmdChain } from '../amd/chain.ts';
import type { AmdProduct } from '../amd/product.ts';
import { decodeTcb, type SnpTcb, type TcbLayout } from '../amd/tcb.ts';
import type { AmdKeyExtensions } from '../amd/vcek-extensions.ts';
import type { SnpReport } from './parse.ts';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function allZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

function version(v: { major: number; minor: number; build: number }): string {
  return `${v.major}.${v.minor}.${v.build}`;
}

function tcbExtra(prefix: string, tcb: SnpTcb): Record<string, string | number> {
  const out: Record<string, string | number> = {
    [prefix]: tcb.hex,
    [`${prefix}Bootloader`]: tcb.bootloader,
    [`${prefix}Tee`]: tcb.tee,
    [`${prefix}Snp`]: tcb.snp,
    [`${prefix}Microcode`]: tcb.microcode,
  };
  if (tcb.fmc !== null) out[`${prefix}Fmc`] = tcb.fmc;
  return out;
}

/** Builds SNP claims from a report whose signature, chain, TCB and chip id checked out. */
export function snpClaims(
  report: SnpReport,
  chain: AmdChain,
  ext: AmdKeyExtensions,
  product: AmdProduct | null,
  layout: TcbLayout,
  chipIdMasked: boolean,
): Claims {
  const tcbAt = (offset: number): SnpTcb => decodeTcb(report.raw.subarray(offset, offset + 8), layout);
  const p = report.policy;
  const extra: Claims['extra'] = {
    vmpl: report.vmpl,
    policy: p.hex,
    policyAbiMajor: p.abiMajor,
    policyAbiMinor: p.abiMinor,
    policySmt: p.smt,
    policyMigrateMa: p.migrateMa,
    policySingleSocket: p.singleSocket,
    policyCxlAllow: p.cxlAllow,
    policyMemAes256Xts: p.memAes256Xts,
    policyRaplDis: p.raplDis,
    policyCiphertextHiding: p.ciphertextHiding,
    policyPageSwapDisable: p.pageSwapDisable,
    platformInfo: report.platformInfo.hex,
    signingKey: chain.leafKind,
    authorKeyEn: report.authorKeyEn,
    chipIdMasked,
    tcbLayout: layout,
    ...tcbExtra('reportedTcb', tcbAt(0x180)),
    currentTcb: tcbAt(0x038).hex,
    committedTcb: tcbAt(0x1e0).hex,
    launchTcb: tcbAt(0x1f0).hex,
    currentVersion: version(report.currentVersion),
    committedVersion: version(report.committedVersion),
    reportId: hex(report.reportId),
    reportIdMa: hex(report.reportIdMa),
  };
  if (report.cpuidFamId !== null) extra.cpuidFamId = report.cpuidFamId;
  if (report.cpuidModId !== null) extra.cpuidModId = report.cpuidModId;
  if (report.cpuidStep !== null) extra.cpuidStep = report.cpuidStep;
  if (report.launchMitVector !== null) extra.launchMitVector = '0x' + report.launchMitVector.toString(16);
  if (report.currentMitVector !== null) extra.currentMitVector = '0x' + report.currentMitVector.toString(16);
  if (ext.productName !== null) extra.vcekProductName = ext.productName;
  if (ext.cspId !== null) extra.vlekCspId = ext.cspId;

  const platform: Claims['platform'] = {};
  if (!allZero(report.chipId)) platform.chipId = hex(report.chipId);
  if (product !== null) platform.productName = product;

  return {
    tee: 'snp',
    evidenceVersion: report.version,
    measurements: {
      measurement: hex(report.measurement),
      hostData: hex(report.hostData),
      idKeyDigest: hex(report.idKeyDigest),
      authorKeyDigest: hex(report.authorKeyDigest),
      familyId: hex(report.familyId),
      imageId: hex(report.imageId),
    },
    svn: report.guestSvn,
    debug: report.policy.debug,
    reportData: hex(report.reportData),
    tcbStatus: null,
    advisoryIds: [],
    platform,
    validFrom: chain.validFrom.toISOString(),
    validUntil: chain.validUntil.toISOString(),
    extra,
  };
}
