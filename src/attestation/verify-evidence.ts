/**
 * verifyEvidence(): recognizes which TEE produced a blob of evidence (through the registry, registry.ts) and
 * hands it to that TEE's scheme with that TEE's options (`options.sgx`, `options.tdx`, `options.snp`,
 * `options.sim`). Adding a TEE is one folder plus one line in the registry; nothing here changes.
 *
 * Like every verifier it is a pure function of (evidence, collateral, trust anchors, time) and fails closed:
 * unknown evidence, a TEE other than the one the caller asked for, and missing collateral are all errors.
 */
import type { Claims } from './claims.ts';
import { attestError, type AttestErrorCode } from './codes.ts';
import type { CertificateInput } from './amd/chain.ts';
import type { IntelCollateral } from './intel/collateral.ts';
import { detectTee, TEE_SCHEMES, TEE_TYPES, type TeeType } from './registry.ts';
import type { SchemeOptions, TeeScheme } from './scheme.ts';
import type { SimEvidenceOptions } from './sim/scheme.ts';

export { detectTee, TEE_TYPES } from './registry.ts';

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
} as const satisfies Record<string, AttestErrorCode>);

/** What verifyEvidence() may be told about the TEE: one of them, or 'auto' (detect from the bytes). */
export type TeeSelector = TeeType | 'auto';

/** Per-TEE inputs, one key per registered TEE (`{ sgx?, tdx?, snp?, sim? }`); each TEE reads only its own. */
export type PerTeeOptions = { [T in TeeType]?: SchemeOptions<(typeof TEE_SCHEMES)[T]> };

/**
 * The flat options of the first releases, still accepted (a per-TEE key wins over them field by field):
 * `intelCollateral` → `sgx.collateral` and `tdx.collateral`; `vcek`, `certChain` → `snp`; `trustAnchors` →
 * `sgx`, `tdx` and `snp` `.trustAnchors`; `simPlatformKeys` → `sim.platformKeys`.
 */
export interface LegacyEvidenceOptions {
  /** @deprecated use `sgx.collateral` / `tdx.collateral`. */
  intelCollateral?: IntelCollateral;
  /** @deprecated use `snp.vcek`. */
  vcek?: CertificateInput;
  /** @deprecated use `snp.certChain`. */
  certChain?: CertificateInput;
  /** @deprecated use `sgx.trustAnchors`, `tdx.trustAnchors`, `snp.trustAnchors`. */
  trustAnchors?: readonly CertificateInput[];
  /** @deprecated use `sim.platformKeys`. */
  simPlatformKeys?: SimEvidenceOptions['platformKeys'];
}

/** Inputs of verifyEvidence(): the time, the TEE, and each TEE's own options under its name. */
export interface VerifyEvidenceOptions extends PerTeeOptions, LegacyEvidenceOptions {
  /** Which TEE the evidence must be from; default 'auto' (see detectTee()). */
  tee?: TeeSelector;
  /** The verification time: every input must be valid at this instant. Never read from the clock. */
  at: Date;
  /** Reject evidence whose claims say debug (ATTEST_ERR_DEBUG). Default false: the appraisal policy decides. */
  rejectDebug?: boolean;
}

/** Copies the defined fields of `from` onto `to` (by assignment: spreading costs more than a verification step here). */
function assignDefined(to: Record<string, unknown>, from: object | undefined): Record<string, unknown> {
  if (from !== undefined && from !== null) {
    for (const [k, v] of Object.entries(from)) if (v !== undefined) to[k] = v;
  }
  return to;
}

/** What the flat options of the first releases mean for each of the four original TEEs. */
const LEGACY: Readonly<Partial<Record<TeeType, (o: LegacyEvidenceOptions, to: Record<string, unknown>) => void>>> = Object.freeze({
  sgx: intelLegacy,
  tdx: intelLegacy,
  snp: (o: LegacyEvidenceOptions, to: Record<string, unknown>) => {
    if (o.vcek !== undefined) to.vcek = o.vcek;
    if (o.certChain !== undefined) to.certChain = o.certChain;
    if (o.trustAnchors !== undefined) to.trustAnchors = o.trustAnchors;
  },
  sim: (o: LegacyEvidenceOptions, to: Record<string, unknown>) => {
    if (o.simPlatformKeys !== undefined) to.platformKeys = o.simPlatformKeys;
  },
});

function intelLegacy(o: LegacyEvidenceOptions, to: Record<string, unknown>): void {
  if (o.intelCollateral !== undefined) to.collateral = o.intelCollateral;
  if (o.trustAnchors !== undefined) to.trustAnchors = o.trustAnchors;
}

/**
 * The options `tee`'s scheme gets from verifyEvidence() options (or the `evidence` options of RATS-TLS): its
 * own key, over what the flat options of the first releases say for it. A fresh object.
 */
export function teeOptionsOf<T extends TeeType>(tee: T, options: (PerTeeOptions & LegacyEvidenceOptions) | undefined): SchemeOptions<(typeof TEE_SCHEMES)[T]> {
  const out: Record<string, unknown> = {};
  if (options !== undefined && options !== null) {
    LEGACY[tee]?.(options, out);
    assignDefined(out, options[tee]);
  }
  return out as SchemeOptions<(typeof TEE_SCHEMES)[T]>;
}

/** The input of `tee`'s scheme.verify(): its options and the time. */
function schemeInput(tee: TeeType, options: VerifyEvidenceOptions): object & { at: Date } {
  const input = teeOptionsOf(tee, options) as Record<string, unknown>;
  input.at = options.at;
  return input as object & { at: Date };
}

/** One registered TEE as the first releases exported it: how to recognize its evidence and how to verify it. */
export interface TeeVerifier {
  /** True when `bytes` look like this TEE's evidence (header check only; nothing is verified). */
  detect(bytes: Uint8Array): boolean;
  verify(bytes: Uint8Array, options: VerifyEvidenceOptions): Claims;
}

/** A registered TEE: its scheme, with `verify` taking verifyEvidence() options (kept for compatibility). */
export type TeeRegistryEntry = Omit<TeeScheme, 'verify'> & TeeVerifier;

/** The registry with verifyEvidence()-shaped `verify` functions (TEE_SCHEMES holds the schemes themselves). */
export const TEE_REGISTRY: Readonly<Record<TeeType, TeeRegistryEntry>> = Object.freeze(
  Object.fromEntries(
    TEE_TYPES.map((tee) => {
      const scheme = TEE_SCHEMES[tee] as TeeScheme;
      const entry: TeeRegistryEntry = {
        detect: scheme.detect,
        reportData: scheme.reportData,
        cborTag: scheme.cborTag,
        dump: scheme.dump,
        verify: (bytes, options) => scheme.verify(bytes, schemeInput(tee, options)),
      };
      return [tee, Object.freeze(entry)];
    }),
  ) as Record<TeeType, TeeRegistryEntry>,
);

/**
 * Verifies evidence of any registered TEE and returns its claims. With `tee` other than 'auto' the evidence
 * must be of that TEE (ATTEST_ERR_TEE_MISMATCH otherwise); unrecognized bytes give ATTEST_ERR_UNKNOWN_TEE.
 * Every other failure is the per-TEE verifier's InclavareError (docs/attestation.md lists them).
 */
export function verifyEvidence(bytes: Uint8Array, options: VerifyEvidenceOptions): Claims {
  if (!(options?.at instanceof Date) || Number.isNaN(options.at.getTime())) {
    throw attestError(EVIDENCE_ERROR_CODES.MALFORMED, 'Cannot verify evidence: `at` is not a valid Date');
  }
  if (!(bytes instanceof Uint8Array)) {
    throw attestError(EVIDENCE_ERROR_CODES.MALFORMED, 'Cannot verify evidence: expected the evidence as bytes');
  }
  const wanted = options.tee ?? 'auto';
  if (wanted !== 'auto' && !Object.hasOwn(TEE_SCHEMES, wanted)) {
    throw attestError(
      EVIDENCE_ERROR_CODES.MALFORMED,
      `Cannot verify evidence: unknown TEE "${String(wanted)}" (known: ${TEE_TYPES.join(', ')}, auto)`,
    );
  }
  const detected = detectTee(bytes);
  let tee: TeeType;
  if (wanted === 'auto') {
    if (detected === null) {
      throw attestError(
        EVIDENCE_ERROR_CODES.UNKNOWN_TEE,
        `Cannot verify evidence: ${bytes.length} bytes that are no known evidence format (${TEE_TYPES.join(', ')})`,
      );
    }
    tee = detected;
  } else {
    // A recognizably different format is a mismatch; unrecognizable bytes go to the asked-for verifier, whose
    // parser says precisely what is wrong with them.
    if (detected !== null && detected !== wanted) {
      throw attestError(
        EVIDENCE_ERROR_CODES.TEE_MISMATCH,
        `Cannot verify ${wanted} evidence: these bytes are ${detected} evidence`,
        { details: { expected: wanted, detected } },
      );
    }
    tee = wanted;
  }
  const claims = (TEE_SCHEMES[tee] as TeeScheme).verify(bytes, schemeInput(tee, options));
  if (options.rejectDebug === true && claims.debug) {
    throw attestError(EVIDENCE_ERROR_CODES.DEBUG, `Cannot accept ${tee} evidence: it comes from a debug-mode TEE`);
  }
  return claims;
}
