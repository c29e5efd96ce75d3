/**
 * TCB evaluation with Intel QVL's rules (pure functions of the parsed quote, PCK extensions and collateral):
 * platform TCB level selection, TDX module identity, QE Identity match, and status convergence.
 * References: Intel PCS API v4 "TCB Info" (tcbLevels are sorted from newest to oldest; the first level the
 * platform meets applies), Intel QVL QuoteVerifier (convergeTcbStatusWithQeTcbStatus,
 * convergeTcbStatusWithTdxModuleStatus), docs/attestation.md "Intel SGX and TDX (DCAP)".
 */
import type { TcbStatus } from '../claims.ts';
import { INTEL_ERROR_CODES, intelError } from './codes.ts';
import type { IsvSvnTcbLevel, QeIdentity, TcbInfo, TcbLevel } from './collateral.ts';
import type { PckExtensions } from './pck.ts';
import type { SgxReportBody } from '../sgx/parse.ts';

const KNOWN_STATUSES: ReadonlySet<string> = new Set<TcbStatus>([
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
]);

/** The status string of a TCB level as a TcbStatus; an unknown status cannot be evaluated safely. */
export function asTcbStatus(status: string, where: string): TcbStatus {
  if (!KNOWN_STATUSES.has(status)) {
    throw intelError(INTEL_ERROR_CODES.NO_TCB_LEVEL, `Cannot verify quote: ${where} has the unknown TCB status "${status}"`);
  }
  return status as TcbStatus;
}

/** Platform TCB inputs for level matching. */
export interface PlatformTcb {
  sgxComponents: readonly number[];
  pceSvn: number;
  /** TDX only: the 16 bytes of TEE_TCB_SVN. */
  teeTcbSvn?: readonly number[];
}

/**
 * The first TCB level whose 16 SGX component SVNs and PCESVN are all <= the platform's; for TDX also every
 * TDX component <= TEE_TCB_SVN, where bytes 0-1 (TDX module minor SVN and major version) are skipped when
 * TEE_TCB_SVN[1] > 0 because the module is then evaluated through tdxModuleIdentities instead.
 */
export function matchPlatformTcbLevel(info: TcbInfo, platform: PlatformTcb): TcbLevel | undefined {
  const tee = platform.teeTcbSvn;
  const tdxStart = tee && (tee[1] ?? 0) > 0 ? 2 : 0;
  for (const level of info.tcbLevels) {
    if (level.pceSvn > platform.pceSvn) continue;
    if (level.sgxComponents.some((svn, i) => svn > (platform.sgxComponents[i] ?? 0))) continue;
    if (tee) {
      const tdx = level.tdxComponents;
      if (!tdx) continue;
      let ok = true;
      for (let i = tdxStart; i < 16; i++) if (tdx[i]! > (tee[i] ?? 0)) ok = false;
      if (!ok) continue;
    }
    return level;
  }
  return undefined;
}

function maskedEqual(aHex: string, bHex: string, maskHex: string): boolean {
  const a = Buffer.from(aHex, 'hex');
  const b = Buffer.from(bHex, 'hex');
  const m = Buffer.from(maskHex, 'hex');
  if (a.length !== m.length || b.length !== m.length) return false;
  for (let i = 0; i < m.length; i++) if ((a[i]! & m[i]!) !== (b[i]! & m[i]!)) return false;
  return true;
}

/** The TDX module part of a TDX TCB evaluation. */
export interface TdxModuleResult {
  /** `TDX_<major version as %02X>`, or undefined when TEE_TCB_SVN[1] == 0 (the `tdxModule` entry applies). */
  id?: string;
  isvSvn: number;
  level?: IsvSvnTcbLevel;
}

/**
 * Checks the TDX module against the TCB Info: MRSIGNERSEAM and masked SEAM attributes against `tdxModule`
 * (TEE_TCB_SVN[1] == 0) or against the `tdxModuleIdentities` entry `TDX_<TEE_TCB_SVN[1]>`, whose TCB level is
 * the first one with ISVSVN <= TEE_TCB_SVN[0].
 */
export function evaluateTdxModule(
  info: TcbInfo,
  td: { teeTcbSvn: readonly number[]; mrSignerSeam: string; seamAttributes: string },
): TdxModuleResult {
  const minor = td.teeTcbSvn[0] ?? 0;
  const major = td.teeTcbSvn[1] ?? 0;
  const fail = (why: string): never => {
    throw intelError(INTEL_ERROR_CODES.TDX_MODULE, `Cannot verify quote: the TDX module ${why}`);
  };
  if (major === 0 || !info.tdxModuleIdentities) {
    const m = info.tdxModule;
    if (!m) fail('cannot be checked: the TDX TCB Info has no tdxModule entry');
    if (m!.mrSigner !== td.mrSignerSeam) fail(`signer MRSIGNERSEAM ${td.mrSignerSeam} is not ${m!.mrSigner}`);
    if (!maskedEqual(td.seamAttributes, m!.attributes, m!.attributesMask)) fail(`SEAM attributes ${td.seamAttributes} do not match the TCB Info`);
    return { isvSvn: minor };
  }
  const id = `TDX_${major.toString(16).toUpperCase().padStart(2, '0')}`;
  const identity = info.tdxModuleIdentities.find((x) => x.id.toUpperCase() === id);
  if (!identity) fail(`identity ${id} is not listed in the TCB Info`);
  if (identity!.mrSigner !== td.mrSignerSeam) fail(`${id} signer MRSIGNERSEAM ${td.mrSignerSeam} is not ${identity!.mrSigner}`);
  if (!maskedEqual(td.seamAttributes, identity!.attributes, identity!.attributesMask)) fail(`${id} SEAM attributes do not match the TCB Info`);
  const level = identity!.tcbLevels.find((l) => l.isvSvn <= minor);
  if (!level) {
    throw intelError(INTEL_ERROR_CODES.NO_TCB_LEVEL, `Cannot verify quote: no TCB level of TDX module ${id} is met by ISVSVN ${minor}`);
  }
  return { id, isvSvn: minor, level };
}

/**
 * Matches the QE report against the QE Identity (MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES under their
 * masks) and returns the first TCB level with ISVSVN <= the QE's; undefined when the QE is older than every
 * level (treated as Revoked, as Intel QVL does).
 */
export function matchQeIdentity(identity: QeIdentity, qe: SgxReportBody, expectedId: 'QE' | 'TD_QE'): IsvSvnTcbLevel | undefined {
  const fail = (why: string): never => {
    throw intelError(INTEL_ERROR_CODES.QE_IDENTITY_MISMATCH, `Cannot verify quote: the quoting enclave ${why}`);
  };
  if (identity.id !== expectedId) fail(`identity is "${identity.id}", expected "${expectedId}" for this quote`);
  if (qe.mrSigner !== identity.mrSigner) fail(`MRSIGNER ${qe.mrSigner} is not ${identity.mrSigner}`);
  if (qe.isvProdId !== identity.isvProdId) fail(`ISVPRODID ${qe.isvProdId} is not ${identity.isvProdId}`);
  if (((qe.miscSelect & identity.miscSelectMask) >>> 0) !== ((identity.miscSelect & identity.miscSelectMask) >>> 0)) {
    fail('MISCSELECT does not match under the QE Identity mask');
  }
  if (!maskedEqual(qe.attributes, identity.attributes, identity.attributesMask)) fail('ATTRIBUTES do not match under the QE Identity mask');
  return identity.tcbLevels.find((l) => l.isvSvn <= qe.isvSvn);
}

/**
 * Converges the platform status with a component status (QE or TDX module), as Intel QVL does: a component
 * OutOfDate turns UpToDate / SWHardeningNeeded into OutOfDate and ConfigurationNeeded /
 * ConfigurationAndSWHardeningNeeded into OutOfDateConfigurationNeeded; a Revoked component revokes.
 */
export function convergeTcbStatus(platform: TcbStatus, component: TcbStatus): TcbStatus {
  if (component === 'Revoked' || platform === 'Revoked') return 'Revoked';
  if (component !== 'OutOfDate' && component !== 'OutOfDateConfigurationNeeded') return platform;
  switch (platform) {
    case 'UpToDate':
    case 'SWHardeningNeeded':
      return 'OutOfDate';
    case 'ConfigurationNeeded':
    case 'ConfigurationAndSWHardeningNeeded':
      return 'OutOfDateConfigurationNeeded';
    default:
      return platform;
  }
}

/** The outcome of a full TCB evaluation. */
export interface TcbEvaluation {
  status: TcbStatus;
  /** Union of the advisory IDs of every level that applied, sorted. */
  advisoryIds: string[];
  platformLevel: TcbLevel;
  platformStatus: TcbStatus;
  tdxModule?: TdxModuleResult;
  qeLevel?: IsvSvnTcbLevel;
  /** 'Revoked' when the QE is older than every QE Identity level. */
  qeStatus?: TcbStatus;
}

/** Inputs of {@link evaluateTcb}. */
export interface TcbEvaluationInput {
  tcbInfo: TcbInfo;
  pck: Pick<PckExtensions, 'tcbComponents' | 'pceSvn'>;
  td?: { teeTcbSvn: readonly number[]; mrSignerSeam: string; seamAttributes: string };
  qe?: { identity: QeIdentity; report: SgxReportBody; expectedId: 'QE' | 'TD_QE' };
}

/** Evaluates platform, TDX module and QE TCB levels and converges them into one status. */
export function evaluateTcb(input: TcbEvaluationInput): TcbEvaluation {
  const { tcbInfo, pck, td, qe } = input;
  const platform: PlatformTcb = { sgxComponents: pck.tcbComponents, pceSvn: pck.pceSvn };
  if (td) platform.teeTcbSvn = td.teeTcbSvn;
  const level = matchPlatformTcbLevel(tcbInfo, platform);
  if (!level) {
    throw intelError(
      INTEL_ERROR_CODES.NO_TCB_LEVEL,
      `Cannot verify quote: no TCB level of the TCB Info (FMSPC ${tcbInfo.fmspc}) is met by the platform's SVNs`,
      { details: { sgxComponents: [...pck.tcbComponents], pceSvn: pck.pceSvn, teeTcbSvn: td ? [...td.teeTcbSvn] : undefined } },
    );
  }
  const platformStatus = asTcbStatus(level.tcbStatus, 'the platform TCB level');
  let status = platformStatus;
  const advisories = new Set(level.advisoryIds);
  const result: Omit<TcbEvaluation, 'status' | 'advisoryIds'> = { platformLevel: level, platformStatus };
  if (td) {
    const mod = evaluateTdxModule(tcbInfo, td);
    result.tdxModule = mod;
    if (mod.level) {
      status = convergeTcbStatus(status, asTcbStatus(mod.level.tcbStatus, `TDX module ${mod.id ?? ''} TCB level`));
      for (const a of mod.level.advisoryIds) advisories.add(a);
    }
  }
  if (qe) {
    const qeLevel = matchQeIdentity(qe.identity, qe.report, qe.expectedId);
    const qeStatus = qeLevel ? asTcbStatus(qeLevel.tcbStatus, 'the QE Identity TCB level') : 'Revoked';
    if (qeLevel) {
      result.qeLevel = qeLevel;
      for (const a of qeLevel.advisoryIds) advisories.add(a);
    }
    result.qeStatus = qeStatus;
    status = convergeTcbStatus(status, qeStatus);
  }
  return { ...result, status, advisoryIds: [...advisories].sort() };
}
