/**
 * The evidence registry: recognizes which TEE produced a blob of evidence and dispatches it to that TEE's
 * verifier. Adding a TEE is one folder (parse.ts, verify.ts) plus one line in {@link TEE_REGISTRY}.
 *
 * Like every verifier it is a pure function of (evidence, collateral, trust anchors, time) and fails closed:
 * unknown evidence, a TEE other than the one the caller asked for, and missing collateral are all errors.
 */
import type { Claims, TeeType } from './claims.ts';
import { InclavareError } from '../errors/errors.ts';
import type { CertificateInput } from './amd/chain.ts';
import type { IntelCollateral } from './intel/collateral.ts';
import { ATT_KEY_TYPE_ECDSA_P256, QUOTE_HEADER_SIZE, TEE_TYPE_SGX, TEE_TYPE_TDX } from './intel/quote.ts';
import { verifySgxQuote } from './sgx/verify.ts';
import { SIM_MAGIC } from './sim/parse.ts';
import { verifySimEvidence, type SimVerifyOptions } from './sim/verify.ts';
import { SNP_REPORT_SIZE, SNP_REPORT_VERSIONS } from './snp/parse.ts';
import { verifySnpReport } from './snp/verify.ts';
import { verifyTdxQuote } from './tdx/verify.ts';

/** Codes the registry itself throws (the per-TEE verifiers add their own). */
export const EVIDENCE_ERROR_CODES = Object.freeze({
  /** The bytes are not evidence of any TEE the registry knows. */
  UNKNOWN_TEE: 'ATTEST_ERR_UNKNOWN_TEE',
  /** The caller asked for one TEE and the evidence is another's. */
  TEE_MISMATCH: 'ATTEST_ERR_TEE_MISMATCH',
  /** Bad options (no valid `at`, an unknown `tee`). */
  MALFORMED: 'ATTEST_ERR_MALFORMED',
  /** The verifier needs an input the caller did not give (e.g. the VCEK of an SNP report). */
  COLLATERAL_MISSING: 'ATTEST_ERR_COLLATERAL_MISSING',
  /** Only with `rejectDebug: true`: the evidence comes from a debug enclave / TD / guest. */
  DEBUG: 'ATTEST_ERR_DEBUG',
} as const);

/** What verifyEvidence() may be told about the TEE: one of them, or 'auto' (detect from the bytes). */
export type TeeSelector = TeeType | 'auto';

/** Inputs of verifyEvidence(); each TEE reads only its own. */
export interface VerifyEvidenceOptions {
  /** Which TEE the evidence must be from; default 'auto' (see detectTee()). */
  tee?: TeeSelector;
  /** The verification time: every input must be valid at this instant. Never read from the clock. */
  at: Date;
  /** sgx/tdx: collateral for the quote's FMSPC (loadIntelCollateral / fetchIntelCollateral). */
  intelCollateral?: IntelCollateral;
  /** snp: the VCEK or VLEK that signed the report (DER or PEM). */
  vcek?: CertificateInput;
  /** snp: ASK/ASVK and ARK (PEM bundle); optional, the AMD trust anchors carry them. */
  certChain?: CertificateInput;
  /** sgx/tdx: Intel root certificates; snp: AMD ARK/ASK bundles. Replaces the built-in anchors of that TEE. */
  trustAnchors?: readonly CertificateInput[];
  /** sim: the platform public keys to trust (there is no built-in one: sim is never trusted by default). */
  simPlatformKeys?: SimVerifyOptions['trustedPlatformKeys'];
  /** Reject evidence whose claims say debug (ATTEST_ERR_DEBUG). Default false: the appraisal policy decides. */
  rejectDebug?: boolean;
}

/** One registered TEE: how to recognize its evidence and how to verify it. */
export interface TeeVerifier {
  /** True when `bytes` look like this TEE's evidence (header check only; nothing is verified). */
  detect(bytes: Uint8Array): boolean;
  verify(bytes: Uint8Array, options: VerifyEvidenceOptions): Claims;
}

function readU16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function readU32(b: Uint8Array, o: number): number {
  return (readU16(b, o) | (readU16(b, o + 2) << 16)) >>> 0;
}

/** Intel DCAP quote header (Quote Library API, "Quote Header"): version 3-5, ECDSA P-256, TEE type. */
function intelTeeType(bytes: Uint8Array): number | undefined {
  if (bytes.length < QUOTE_HEADER_SIZE) return undefined;
  const version = readU16(bytes, 0);
  if (version < 3 || version > 5 || readU16(bytes, 2) !== ATT_KEY_TYPE_ECDSA_P256) return undefined;
  const tee = readU32(bytes, 4);
  if (tee === TEE_TYPE_TDX && version === 3) return undefined;
  return tee;
}

function intelCollateralOf(options: VerifyEvidenceOptions): { collateral: IntelCollateral; at: Date; trustAnchors?: readonly CertificateInput[] } {
  // No collateral is not a shortcut: the verifier checks what it can and then fails with COLLATERAL_MISSING.
  const o: { collateral: IntelCollateral; at: Date; trustAnchors?: readonly CertificateInput[] } = {
    collateral: options.intelCollateral ?? {},
    at: options.at,
  };
  if (options.trustAnchors !== undefined) o.trustAnchors = options.trustAnchors;
  return o;
}

/**
 * The registry: one line per TEE. Detection is tried in this order; the formats are disjoint (an Intel
 * header's u16 version 3-5 followed by key type 2 never reads as an SNP u32 version 2-5, and the sim magic
 * is ASCII).
 */
export const TEE_REGISTRY: Readonly<Record<TeeType, TeeVerifier>> = Object.freeze({
  sgx: { detect: (b) => intelTeeType(b) === TEE_TYPE_SGX, verify: (b, o) => verifySgxQuote(b, intelCollateralOf(o)) },
  tdx: { detect: (b) => intelTeeType(b) === TEE_TYPE_TDX, verify: (b, o) => verifyTdxQuote(b, intelCollateralOf(o)) },
  snp: {
    detect: (b) => b.length === SNP_REPORT_SIZE && SNP_REPORT_VERSIONS.includes(readU32(b, 0)),
    verify: (b, o) => {
      if (o.vcek === undefined) {
        throw new InclavareError(EVIDENCE_ERROR_CODES.COLLATERAL_MISSING, 'verification-failed', 'Cannot verify SNP report: no VCEK/VLEK was given');
      }
      return verifySnpReport(b, {
        vcek: o.vcek,
        at: o.at,
        ...(o.certChain !== undefined ? { certChain: o.certChain } : {}),
        ...(o.trustAnchors !== undefined ? { trustAnchors: o.trustAnchors } : {}),
      });
    },
  },
  sim: {
    detect: (b) => b.length >= SIM_MAGIC.length && SIM_MAGIC.every((x, i) => b[i] === x),
    verify: (b, o) => verifySimEvidence(b, { trustedPlatformKeys: o.simPlatformKeys ?? [], at: o.at }),
  },
});

/** Every TEE the registry knows, in detection order. */
export const TEE_TYPES: readonly TeeType[] = Object.freeze(Object.keys(TEE_REGISTRY) as TeeType[]);

/**
 * Names the TEE whose evidence `bytes` is, from its header alone (Intel quote header → sgx or tdx by TEE type;
 * a 1184-byte report with a known SNP version → snp; the sim magic → sim), or null. Verifies nothing.
 */
export function detectTee(bytes: Uint8Array): TeeType | null {
  if (!(bytes instanceof Uint8Array)) return null;
  for (const tee of TEE_TYPES) if (TEE_REGISTRY[tee].detect(bytes)) return tee;
  return null;
}

/**
 * Verifies evidence of any registered TEE and returns its claims. With `tee` other than 'auto' the evidence
 * must be of that TEE (ATTEST_ERR_TEE_MISMATCH otherwise); unrecognized bytes give ATTEST_ERR_UNKNOWN_TEE.
 * Every other failure is the per-TEE verifier's InclavareError (docs/attestation.md lists them).
 */
export function verifyEvidence(bytes: Uint8Array, options: VerifyEvidenceOptions): Claims {
  if (!(options?.at instanceof Date) || Number.isNaN(options.at.getTime())) {
    throw new InclavareError(EVIDENCE_ERROR_CODES.MALFORMED, 'invalid-argument', 'Cannot verify evidence: `at` is not a valid Date');
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new InclavareError(EVIDENCE_ERROR_CODES.MALFORMED, 'invalid-argument', 'Cannot verify evidence: expected the evidence as bytes');
  }
  const wanted = options.tee ?? 'auto';
  if (wanted !== 'auto' && !Object.hasOwn(TEE_REGISTRY, wanted)) {
    throw new InclavareError(
      EVIDENCE_ERROR_CODES.MALFORMED,
      'invalid-argument',
      `Cannot verify evidence: unknown TEE "${String(wanted)}" (known: ${TEE_TYPES.join(', ')}, auto)`,
    );
  }
  const detected = detectTee(bytes);
  let tee: TeeType;
  if (wanted === 'auto') {
    if (detected === null) {
      throw new InclavareError(
        EVIDENCE_ERROR_CODES.UNKNOWN_TEE,
        'invalid-argument',
        `Cannot verify evidence: ${bytes.length} bytes that are no known evidence format (${TEE_TYPES.join(', ')})`,
      );
    }
    tee = detected;
  } else {
    // A recognizably different format is a mismatch; unrecognizable bytes go to the asked-for verifier, whose
    // parser says precisely what is wrong with them.
    if (detected !== null && detected !== wanted) {
      throw new InclavareError(
        EVIDENCE_ERROR_CODES.TEE_MISMATCH,
        'invalid-argument',
        `Cannot verify ${wanted} evidence: these bytes are ${detected} evidence`,
        { details: { expected: wanted, detected } },
      );
    }
    tee = wanted;
  }
  const claims = TEE_REGISTRY[tee].verify(bytes, options);
  if (options.rejectDebug === true && claims.debug) {
    throw new InclavareError(EVIDENCE_ERROR_CODES.DEBUG, 'verification-failed', `Cannot accept ${tee} evidence: it comes from a debug-mode TEE`);
  }
  return claims;
}
