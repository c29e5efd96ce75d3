/**
 * Package entry point `inclavare/attestation`: parse and verify evidence of every supported TEE (Intel SGX and
 * TDX DCAP quotes, AMD SEV-SNP reports, sim evidence), Intel collateral loading and fetching, the built-in
 * trust anchors and the one claims shape. docs/attestation.md describes every check and error code.
 */
export type { Claims, Measurements, PlatformIds, TcbStatus, TeeType } from './claims.ts';
export { appraiseClaims, type ClaimExpectations, type FailedExpectation } from './appraise.ts';
export { InclavareError, isInclavareError, describeError } from '../errors/errors.ts';

// The registry: any evidence. One scheme per TEE (scheme.ts), listed once in registry.ts.
export {
  detectTee,
  verifyEvidence,
  EVIDENCE_ERROR_CODES,
  TEE_REGISTRY,
  TEE_TYPES,
  type LegacyEvidenceOptions,
  type PerTeeOptions,
  type TeeRegistryEntry,
  type TeeSelector,
  type TeeVerifier,
  type VerifyEvidenceOptions,
} from './verify-evidence.ts';
export { TEE_SCHEMES } from './registry.ts';
export type { EvidenceFields, SchemeOptions, TeeScheme } from './scheme.ts';
export type { IntelEvidenceOptions } from './intel/verify-quote.ts';
export type { SnpEvidenceOptions } from './snp/scheme.ts';
export type { SimEvidenceOptions } from './sim/scheme.ts';

// Intel DCAP (SGX and TDX).
export { parseIntelQuote, type IntelQuote, type IntelQuoteHeader, type IntelQuoteBody, type IntelQuoteSignatureData, type CertificationData } from './intel/quote.ts';
export { verifyIntelQuote, type IntelVerifyOptions } from './intel/verify.ts';
export { verifySgxQuote } from './sgx/verify.ts';
export { verifyTdxQuote } from './tdx/verify.ts';
export type { SgxReportBody } from './sgx/parse.ts';
export type { TdReportBody } from './tdx/parse.ts';
export { COLLATERAL_FILES, type IntelCollateral } from './intel/collateral.ts';
// Collateral sources (I/O, outside the pure src/attestation/): a directory, a PCS/PCCS with an on-disk cache.
export { loadIntelCollateral } from '../collateral/intel-dir.ts';
export { fetchIntelCollateral, fetchIntelCollateralForQuote, type FetchIntelCollateralOptions } from '../collateral/intel-pcs.ts';
export { INTEL_ERROR_CODES, type IntelErrorCode } from './intel/codes.ts';
export { INTEL_SGX_ROOT_CA_PEM, INTEL_SGX_ROOT_CA_SHA256 } from './roots/intel.ts';

// AMD SEV-SNP.
export { parseSnpReport, type SnpReport, type SnpGuestPolicy, type SnpPlatformInfo, type SnpFirmwareVersion, type SnpSigningKey, type SnpTcb, type TcbLayout } from './snp/parse.ts';
export { verifySnpReport, type SnpVerifyOptions } from './snp/verify.ts';
export type { CertificateInput } from './amd/chain.ts';
export { AMD_ERROR_CODES, type AmdErrorCode } from './amd/codes.ts';
export {
  AMD_TRUST_ANCHORS,
  AMD_MILAN_ASK_ARK_PEM,
  AMD_MILAN_ASVK_ARK_PEM,
  AMD_GENOA_ASK_ARK_PEM,
  AMD_GENOA_ASVK_ARK_PEM,
  AMD_TURIN_ASK_ARK_PEM,
  AMD_TURIN_ASVK_ARK_PEM,
} from './roots/amd.ts';

// sim (software enclaves; docs/evidence-sim.md).
export { createSimEvidence, type CreateSimEvidenceOptions } from './sim/create.ts';
export { parseSimEvidence, type SimEvidence } from './sim/parse.ts';
export { verifySimEvidence, type SimVerifyOptions } from './sim/verify.ts';
export { SIM_ERROR_CODES, type SimErrorCode } from './sim/codes.ts';
