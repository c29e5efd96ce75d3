/**
 * The one normalized claims record every verifier (sgx, tdx, snp, sim) produces. Byte values are lowercase
 * hex strings so claims compare, serialize and print the same everywhere (policies, JSON output, logs).
 */
import type { TeeType } from './registry.ts';

/** The TEE kinds Inclavare verifies: the names of the registry (registry.ts). */
export type { TeeType };

/** Intel's TCB status names (Intel PCS API v4, TCB Info `tcbLevels[].tcbStatus`); SNP and sim have no TCB status (null). */
export type TcbStatus =
  | 'UpToDate'
  | 'SWHardeningNeeded'
  | 'ConfigurationNeeded'
  | 'ConfigurationAndSWHardeningNeeded'
  | 'OutOfDate'
  | 'OutOfDateConfigurationNeeded'
  | 'Revoked';

/** Measurements of what runs; only the fields of the claimed TEE are present. All lowercase hex. */
export interface Measurements {
  // SGX
  mrenclave?: string;
  mrsigner?: string;
  // TDX
  mrtd?: string;
  rtmr0?: string;
  rtmr1?: string;
  rtmr2?: string;
  rtmr3?: string;
  mrseam?: string;
  mrsignerseam?: string;
  mrconfigid?: string;
  mrowner?: string;
  mrownerconfig?: string;
  tdAttributes?: string;
  xfam?: string;
  // SNP
  measurement?: string;
  hostData?: string;
  idKeyDigest?: string;
  authorKeyDigest?: string;
  familyId?: string;
  imageId?: string;
  // sim / wasm: the software enclave's measurement goes in `measurement` as well.
  /** A TEE added later names its own measurements (lowercase hex) without touching this file. */
  [name: string]: string | undefined;
}

/** Identifiers of the platform that produced the evidence. */
export interface PlatformIds {
  /** Intel FMSPC (6 bytes hex). */
  fmspc?: string;
  /** Intel PCE-ID (2 bytes hex). */
  pceId?: string;
  /** AMD chip id (64 bytes hex). */
  chipId?: string;
  /** AMD processor generation (Milan, Genoa, Turin). */
  productName?: string;
  /** sim: the platform key's SHA-256 fingerprint. */
  platformKeyId?: string;
}

/** The normalized result of verifying evidence of any TEE. */
export interface Claims {
  tee: TeeType;
  /** Evidence format version (quote version, SNP report version, sim format version). */
  evidenceVersion: number;
  measurements: Measurements;
  /** SGX ISVPRODID; SNP guest policy has none (undefined). */
  productId?: number;
  /** SGX ISVSVN, SNP guest_svn; TDX: none. */
  svn?: number;
  /** True when the TEE runs in a debug mode whose memory the host can read. */
  debug: boolean;
  /** 64 bytes of caller data bound into the evidence (hex). */
  reportData: string;
  tcbStatus: TcbStatus | null;
  advisoryIds: string[];
  platform: PlatformIds;
  /** The interval (ISO-8601, UTC) in which this verdict holds: the intersection of every input's validity. */
  validFrom: string;
  validUntil: string;
  /** TEE-specific extras (e.g. SNP vmpl, policy, reported TCB; TDX module identity), lowercase hex or numbers. */
  extra: Record<string, string | number | boolean>;
}
