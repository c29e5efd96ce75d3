/**
 * Parser for the AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI spec, pub. 56860, "ATTESTATION_REPORT
 * Structure", the response to MSG_REPORT_REQ). Pure: bytes in, a typed record out, InclavareError otherwise.
 *
 * Versions: 2 (ABI 1.51+), 3 (adds CPUID_FAM_ID/MOD_ID/STEP at 0x188, ABI 1.56), 4 (seen from Milan firmware
 * 1.55.31 on public clouds; AMD has not published it, its public fields are those of v3) and 5 (adds
 * LAUNCH_MIT_VECTOR/CURRENT_MIT_VECTOR at 0x1F8/0x200, ABI 1.58). Every version is 1184 (0x4A0) bytes.
 */
import type { InclavareError } from '../../errors/errors.ts';
import { AMD_ERROR_CODES, amdError } from '../amd/codes.ts';
import { productFromCpuid, type AmdProduct } from '../amd/product.ts';
import { decodeTcb, tcbLayoutFor, type SnpTcb } from '../amd/tcb.ts';

export type { SnpTcb, TcbLayout } from '../amd/tcb.ts';

/** Size of every ATTESTATION_REPORT version this parser knows. */
export const SNP_REPORT_SIZE = 0x4a0;
/** The signature covers bytes 0x000-0x29F. */
export const SNP_SIGNED_LENGTH = 0x2a0;
/** Report versions this parser accepts. */
export const SNP_REPORT_VERSIONS: readonly number[] = Object.freeze([2, 3, 4, 5]);
/** SIGNATURE_ALGO 1: ECDSA P-384 with SHA-384 (ABI spec, "Signature Algorithm Encodings"). */
export const SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1;

/** The guest policy the guest owner set at launch (ABI spec, "Guest Policy Structure"). */
export interface SnpGuestPolicy {
  /** The 64-bit POLICY field. */
  raw: bigint;
  /** `raw` as 0x-prefixed lowercase hex without padding, e.g. "0x30000". */
  hex: string;
  abiMinor: number;
  abiMajor: number;
  /** Bit 16: SMT allowed. */
  smt: boolean;
  /** Bit 18: a migration agent may be associated. */
  migrateMa: boolean;
  /** Bit 19: debugging is allowed, so the hypervisor can decrypt guest memory. */
  debug: boolean;
  /** Bit 20: the guest may only run on one socket. */
  singleSocket: boolean;
  /** Bit 21: CXL may be populated with guest memory. */
  cxlAllow: boolean;
  /** Bit 22: AES-256-XTS required for memory encryption. */
  memAes256Xts: boolean;
  /** Bit 23: running average power limit must be disabled. */
  raplDis: boolean;
  /** Bit 24: ciphertext hiding must be enabled. */
  ciphertextHiding: boolean;
  /** Bit 25: guest pages may not be swapped (page-swap commands disabled). */
  pageSwapDisable: boolean;
}

/** The platform state when the report was made (ABI spec, "PLATFORM_INFO Field"). */
export interface SnpPlatformInfo {
  raw: bigint;
  /** `raw` as 0x-prefixed lowercase hex without padding, e.g. "0x25". */
  hex: string;
  smtEnabled: boolean;
  tsmeEnabled: boolean;
  eccEnabled: boolean;
  raplDisabled: boolean;
  ciphertextHidingEnabled: boolean;
  aliasCheckComplete: boolean;
}

/** A SEV firmware version (major.minor.build). */
export interface SnpFirmwareVersion {
  major: number;
  minor: number;
  build: number;
}

/** Which key signed the report (bits 4:2 of the flags at 0x48): 0 VCEK, 1 VLEK, 7 none, others reserved. */
export type SnpSigningKey = 'vcek' | 'vlek' | 'none' | 'reserved';

/** A parsed ATTESTATION_REPORT. Byte fields are copies; nothing here has been verified yet. */
export interface SnpReport {
  /** The 1184 report bytes (a copy of the input). */
  raw: Uint8Array;
  /** Bytes 0x000-0x29F, which the signature covers. */
  signedBytes: Uint8Array;
  version: number;
  guestSvn: number;
  policy: SnpGuestPolicy;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: SnpTcb;
  platformInfo: SnpPlatformInfo;
  /** Flags at 0x48, bit 0: AUTHOR_KEY_DIGEST is present. */
  authorKeyEn: boolean;
  /** Flags at 0x48, bit 1: the chip key is masked (the signature is all zeros). */
  maskChipKey: boolean;
  /** Flags at 0x48, bits 4:2 as a number. */
  signingKeySelect: number;
  signingKey: SnpSigningKey;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: SnpTcb;
  /** CPUID family/model/stepping (v3+); null in v2, where these bytes are reserved. */
  cpuidFamId: number | null;
  cpuidModId: number | null;
  cpuidStep: number | null;
  /** The generation the CPUID names; null in v2 or for an unknown family/model. */
  product: AmdProduct | null;
  chipId: Uint8Array;
  committedTcb: SnpTcb;
  currentVersion: SnpFirmwareVersion;
  committedVersion: SnpFirmwareVersion;
  launchTcb: SnpTcb;
  /** v5 only (null before). */
  launchMitVector: bigint | null;
  currentMitVector: bigint | null;
  /** The ECDSA signature components, converted from the stored little-endian to big-endian (72 bytes each). */
  signature: { r: Uint8Array; s: Uint8Array };
}

function malformed(message: string, details?: Record<string, unknown>): InclavareError {
  return amdError(AMD_ERROR_CODES.MALFORMED, message, { details });
}

function u64le(bytes: Uint8Array, offset: number): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i] ?? 0);
  return v;
}

function bit(value: bigint, n: number): boolean {
  return ((value >> BigInt(n)) & 1n) === 1n;
}

function decodePolicy(raw: bigint): SnpGuestPolicy {
  return {
    raw,
    hex: '0x' + raw.toString(16),
    abiMinor: Number(raw & 0xffn),
    abiMajor: Number((raw >> 8n) & 0xffn),
    smt: bit(raw, 16),
    migrateMa: bit(raw, 18),
    debug: bit(raw, 19),
    singleSocket: bit(raw, 20),
    cxlAllow: bit(raw, 21),
    memAes256Xts: bit(raw, 22),
    raplDis: bit(raw, 23),
    ciphertextHiding: bit(raw, 24),
    pageSwapDisable: bit(raw, 25),
  };
}

function decodePlatformInfo(raw: bigint): SnpPlatformInfo {
  return {
    raw,
    hex: '0x' + raw.toString(16),
    smtEnabled: bit(raw, 0),
    tsmeEnabled: bit(raw, 1),
    eccEnabled: bit(raw, 2),
    raplDisabled: bit(raw, 3),
    ciphertextHidingEnabled: bit(raw, 4),
    aliasCheckComplete: bit(raw, 5),
  };
}

function signingKeyName(select: number): SnpSigningKey {
  if (select === 0) return 'vcek';
  if (select === 1) return 'vlek';
  if (select === 7) return 'none';
  return 'reserved';
}

/** The 72-byte little-endian r or s field as 72 big-endian bytes. */
function leToBe(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes).reverse();
}

/**
 * Parses an SEV-SNP ATTESTATION_REPORT (exactly 1184 bytes, version 2, 3, 4 or 5) into typed fields.
 * Throws ATTEST_ERR_MALFORMED for anything that is not 1184 bytes and ATTEST_ERR_UNSUPPORTED_VERSION for an
 * unknown VERSION. The TCB fields are decoded in the layout the CPUID names (Turin for family 1Ah); v2 has no
 * CPUID, so its TCBs use the Milan/Genoa layout here and verifySnpReport() re-decodes them for the VCEK's
 * generation.
 */
export function parseSnpReport(bytes: Uint8Array): SnpReport {
  if (!(bytes instanceof Uint8Array)) throw malformed('Cannot parse SNP report: input is not a byte array');
  if (bytes.length !== SNP_REPORT_SIZE) {
    throw malformed(`Cannot parse SNP report: it is ${bytes.length} bytes, an ATTESTATION_REPORT is ${SNP_REPORT_SIZE}`, {
      length: bytes.length,
    });
  }
  const raw = Uint8Array.from(bytes);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const copy = (offset: number, length: number): Uint8Array => raw.slice(offset, offset + length);

  const version = view.getUint32(0x000, true);
  if (!SNP_REPORT_VERSIONS.includes(version)) {
    throw amdError(
      AMD_ERROR_CODES.UNSUPPORTED_VERSION,
      `Cannot parse SNP report: version ${version} is not supported (supported: ${SNP_REPORT_VERSIONS.join(', ')})`,
      { details: { version } },
    );
  }
  const hasCpuid = version >= 3;
  const cpuidFamId = hasCpuid ? view.getUint8(0x188) : null;
  const cpuidModId = hasCpuid ? view.getUint8(0x189) : null;
  const cpuidStep = hasCpuid ? view.getUint8(0x18a) : null;
  const product = cpuidFamId !== null && cpuidModId !== null ? productFromCpuid(cpuidFamId, cpuidModId) : null;
  const layout = tcbLayoutFor(product, cpuidFamId);
  const tcb = (offset: number): SnpTcb => decodeTcb(raw.subarray(offset, offset + 8), layout);
  const fw = (offset: number): SnpFirmwareVersion => ({
    build: view.getUint8(offset),
    minor: view.getUint8(offset + 1),
    major: view.getUint8(offset + 2),
  });
  const flags = view.getUint32(0x048, true);
  const signingKeySelect = (flags >>> 2) & 0x7;
  const hasMitVectors = version >= 5;

  return {
    raw,
    signedBytes: copy(0, SNP_SIGNED_LENGTH),
    version,
    guestSvn: view.getUint32(0x004, true),
    policy: decodePolicy(u64le(raw, 0x008)),
    familyId: copy(0x010, 16),
    imageId: copy(0x020, 16),
    vmpl: view.getUint32(0x030, true),
    signatureAlgo: view.getUint32(0x034, true),
    currentTcb: tcb(0x038),
    platformInfo: decodePlatformInfo(u64le(raw, 0x040)),
    authorKeyEn: (flags & 0x1) !== 0,
    maskChipKey: (flags & 0x2) !== 0,
    signingKeySelect,
    signingKey: signingKeyName(signingKeySelect),
    reportData: copy(0x050, 64),
    measurement: copy(0x090, 48),
    hostData: copy(0x0c0, 32),
    idKeyDigest: copy(0x0e0, 48),
    authorKeyDigest: copy(0x110, 48),
    reportId: copy(0x140, 32),
    reportIdMa: copy(0x160, 32),
    reportedTcb: tcb(0x180),
    cpuidFamId,
    cpuidModId,
    cpuidStep,
    product,
    chipId: copy(0x1a0, 64),
    committedTcb: tcb(0x1e0),
    currentVersion: fw(0x1e8),
    committedVersion: fw(0x1ec),
    launchTcb: tcb(0x1f0),
    launchMitVector: hasMitVectors ? u64le(raw, 0x1f8) : null,
    currentMitVector: hasMitVectors ? u64le(raw, 0x200) : null,
    signature: { r: leToBe(raw.subarray(0x2a0, 0x2e8)), s: leToBe(raw.subarray(0x2e8, 0x330)) },
  };
}
