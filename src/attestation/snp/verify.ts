/**
 * Verification of an AMD SEV-SNP attestation report against its VCEK/VLEK and the AMD key hierarchy
 * (AMD SEV-SNP ABI spec 56860, VCEK spec 57230). Pure: the report, the certificates and the verification time are inputs.
 *
 * Order of checks (the first failure decides the error code):
 *   1. the report parses (ATTEST_ERR_MALFORMED / ATTEST_ERR_UNSUPPORTED_VERSION);
 *   2. it claims a signature this verifier can check: SIGNATURE_ALGO 1 and a VCEK or VLEK signing key
 *      (ATTEST_ERR_REPORT_SIGNATURE);
 *   3. ARK -> ASK/ASVK -> VCEK/VLEK signatures and trust (ATTEST_ERR_CERT_CHAIN / _UNTRUSTED_ROOT /
 *      _COLLATERAL_MISSING), and the leaf kind matches the report's SIGNING_KEY;
 *   4. the report signature, ECDSA P-384/SHA-384 over 0x000-0x29F (ATTEST_ERR_REPORT_SIGNATURE);
 *   5. REPORTED_TCB equals the VCEK's TCB SPLs (ATTEST_ERR_TCB_MISMATCH) and CHIP_ID its hwID
 *      (ATTEST_ERR_CHIP_ID_MISMATCH);
 *   6. optional debug rejection (ATTEST_ERR_DEBUG);
 *   7. every certificate is valid at `at` (ATTEST_ERR_COLLATERAL_EXPIRED). Dates come last so that a
 *      forged or mismatched report is reported as such whatever the time.
 *
 * Debug: by default a report whose guest policy allows debugging (POLICY bit 19) verifies, with
 * `claims.debug = true`; the verdict belongs to the appraisal policy (docs/attestation.md: debug is rejected unless a
 * policy allows it), which also sees the rest of the claims. `rejectDebug: true` is for callers without one.
 */
import { verify as verifySignature } from 'node:crypto';
import type { Claims } from '../claims.ts';
import type { InclavareError } from '../../errors/errors.ts';
import { checkChainValidity, verifyAmdChain, type AmdChain, type CertificateInput } from '../amd/chain.ts';
import { AMD_ERROR_CODES, amdError, type AmdErrorCode } from '../amd/codes.ts';
import { productFromName, type AmdProduct } from '../amd/product.ts';
import { decodeTcb, tcbLayoutFor, type SnpTcb } from '../amd/tcb.ts';
import { parseAmdKeyExtensions, type AmdKeyExtensions } from '../amd/vcek-extensions.ts';
import { snpClaims } from './claims.ts';
import { parseSnpReport, SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384, type SnpReport } from './parse.ts';

/** Inputs of verifySnpReport() besides the report. */
export interface SnpVerifyOptions {
  /** The VCEK or VLEK that signed the report: one certificate, DER or PEM (bytes or text). */
  vcek: CertificateInput;
  /** ASK/ASVK and ARK (PEM bundle); optional, the trust anchors carry AMD's. */
  certChain?: CertificateInput;
  /** Replaces the built-in AMD_TRUST_ANCHORS (PEM bundles or DER certificates). */
  trustAnchors?: readonly CertificateInput[];
  /** The verification time; certificates must be valid at it. Never read from the clock. */
  at: Date;
  /** Reject reports whose guest policy allows debugging (ATTEST_ERR_DEBUG). Default false: see above. */
  rejectDebug?: boolean;
}

function fail(code: AmdErrorCode, message: string, details?: Record<string, unknown>): InclavareError {
  return amdError(code, message, { details });
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function allZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

/** Checks SIGNATURE_ALGO and SIGNING_KEY before any certificate work: an unsigned report can never verify. */
function checkSignatureKind(report: SnpReport): void {
  if (report.signatureAlgo !== SNP_SIGNATURE_ALGO_ECDSA_P384_SHA384) {
    throw fail(
      AMD_ERROR_CODES.REPORT_SIGNATURE,
      `Cannot verify SNP report: signature algorithm ${report.signatureAlgo} is not ECDSA P-384 with SHA-384 (1)`,
      { signatureAlgo: report.signatureAlgo },
    );
  }
  if (report.signingKey === 'none' || report.signingKey === 'reserved') {
    throw fail(
      AMD_ERROR_CODES.REPORT_SIGNATURE,
      `Cannot verify SNP report: it is not signed (SIGNING_KEY ${report.signingKeySelect} is ${report.signingKey})`,
      { signingKey: report.signingKeySelect },
    );
  }
  if (report.maskChipKey) {
    // MASK_CHIP_KEY: the firmware wrote zeros instead of a signature (ABI spec, SNP_GUEST_REQUEST MSG_REPORT_REQ).
    throw fail(AMD_ERROR_CODES.REPORT_SIGNATURE, 'Cannot verify SNP report: the chip key is masked, the report carries no signature');
  }
}

/** ECDSA P-384/SHA-384 over 0x000-0x29F; r and s are 72-byte little-endian fields (ABI spec, "ECDSA P-384 with SHA-384 Signature"). */
function checkReportSignature(report: SnpReport, chain: AmdChain): void {
  // The signature field's bytes after r and s (0x330-0x49F) are reserved, must be zero, and are not signed:
  // accepting other bytes there would let anyone change a report's bytes (and any hash of them) unnoticed.
  if (!allZero(report.raw.subarray(0x330, 0x4a0))) {
    throw fail(AMD_ERROR_CODES.REPORT_SIGNATURE, 'Cannot verify SNP report: the reserved bytes after its signature are not zero');
  }
  const { r, s } = report.signature;
  // A P-384 component is 48 bytes; the upper 24 bytes of each 72-byte field are zero in a valid signature.
  let ok = false;
  if (allZero(r.subarray(0, 24)) && allZero(s.subarray(0, 24))) {
    const p1363 = Buffer.concat([r.subarray(24), s.subarray(24)]);
    try {
      ok = verifySignature('sha384', report.signedBytes, { key: chain.leaf.publicKey, dsaEncoding: 'ieee-p1363' }, p1363);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw fail(
      AMD_ERROR_CODES.REPORT_SIGNATURE,
      `Cannot verify SNP report: its signature does not verify with the ${chain.leafKind.toUpperCase()}`,
    );
  }
}

/** The generation of the VCEK, cross-checked against the chain and the report's CPUID. */
function productOf(report: SnpReport, chain: AmdChain, ext: AmdKeyExtensions): AmdProduct | null {
  const fromExtension = ext.productName === null ? null : productFromName(ext.productName);
  if (fromExtension !== null && chain.product !== null && fromExtension !== chain.product) {
    throw fail(
      AMD_ERROR_CODES.CERT_CHAIN,
      `Cannot verify SNP report: the ${chain.leafKind.toUpperCase()} is for ${fromExtension} but chains to ARK-${chain.product}`,
    );
  }
  const product = fromExtension ?? chain.product;
  if (report.product !== null && product !== null && report.product !== product) {
    throw fail(
      AMD_ERROR_CODES.CHIP_ID_MISMATCH,
      `Cannot verify SNP report: its CPUID names ${report.product} but the ${chain.leafKind.toUpperCase()} is for ${product}`,
      { reportProduct: report.product, certificateProduct: product },
    );
  }
  return product;
}

/** REPORTED_TCB (decoded in the generation's layout) must equal the SPL extensions (AMD VCEK spec). */
function checkTcb(reported: SnpTcb, ext: AmdKeyExtensions, kind: string): void {
  const pairs: [string, number | null, number | null][] = [
    ['blSPL', reported.bootloader, ext.blSPL],
    ['teeSPL', reported.tee, ext.teeSPL],
    ['snpSPL', reported.snp, ext.snpSPL],
    ['ucodeSPL', reported.microcode, ext.ucodeSPL],
  ];
  if (reported.layout === 'turin') pairs.unshift(['fmcSPL', reported.fmc, ext.fmcSPL]);
  for (const [name, inReport, inCert] of pairs) {
    if (inCert === null) {
      throw fail(AMD_ERROR_CODES.TCB_MISMATCH, `Cannot verify SNP report: the ${kind} has no ${name} extension`, { spl: name });
    }
    if (inReport !== inCert) {
      throw fail(
        AMD_ERROR_CODES.TCB_MISMATCH,
        `Cannot verify SNP report: reported TCB does not match the ${kind} (${name}: report ${inReport}, certificate ${inCert})`,
        { spl: name, report: inReport, certificate: inCert },
      );
    }
  }
}

/**
 * CHIP_ID must equal the VCEK's hwID: 64 bytes on Milan/Genoa; on Turin the hwID is 8 bytes and CHIP_ID is
 * those 8 bytes followed by zeros. A VLEK is not chip-specific (no hwID), and an all-zero CHIP_ID means the
 * host masked it (SNP_INIT_EX MASK_CHIP_ID); the VCEK signature still binds the chip in both cases.
 * Returns whether the chip id was masked.
 */
function checkChipId(report: SnpReport, chain: AmdChain, ext: AmdKeyExtensions): boolean {
  if (chain.leafKind === 'vlek') return false;
  if (allZero(report.chipId)) return true;
  if (ext.hwId === null) {
    throw fail(AMD_ERROR_CODES.CHIP_ID_MISMATCH, 'Cannot verify SNP report: the VCEK has no hwID extension');
  }
  const expected = new Uint8Array(64);
  const fits = ext.hwId.length > 0 && ext.hwId.length <= 64;
  if (fits) expected.set(ext.hwId);
  if (!fits || !Buffer.from(expected).equals(Buffer.from(report.chipId))) {
    throw fail(AMD_ERROR_CODES.CHIP_ID_MISMATCH, 'Cannot verify SNP report: its chip id does not match the VCEK hwID', {
      chipId: hex(report.chipId),
      hwId: hex(ext.hwId),
    });
  }
  return false;
}

/**
 * Verifies an SEV-SNP attestation report (bytes or the result of parseSnpReport()) with its VCEK/VLEK and
 * the AMD chain at time `at`, and returns its claims. Throws InclavareError with a code of AMD_ERROR_CODES.
 */
export function verifySnpReport(report: Uint8Array | SnpReport, options: SnpVerifyOptions): Claims {
  if (!(options?.at instanceof Date) || Number.isNaN(options.at.getTime())) {
    throw amdError(AMD_ERROR_CODES.MALFORMED, 'Cannot verify SNP report: `at` is not a valid Date');
  }
  // Always re-parse from the bytes: the signature covers bytes, and a caller-built record could disagree.
  const parsed = parseSnpReport(report instanceof Uint8Array ? report : report?.raw);
  checkSignatureKind(parsed);

  const chain = verifyAmdChain(options.vcek, { certChain: options.certChain, trustAnchors: options.trustAnchors });
  if (chain.leafKind !== parsed.signingKey) {
    throw fail(
      AMD_ERROR_CODES.CERT_CHAIN,
      `Cannot verify SNP report: it is signed by the ${parsed.signingKey.toUpperCase()} but a ${chain.leafKind.toUpperCase()} was given`,
    );
  }
  checkReportSignature(parsed, chain);

  const ext = parseAmdKeyExtensions(chain.leaf);
  const product = productOf(parsed, chain, ext);
  const layout = tcbLayoutFor(product, parsed.cpuidFamId);
  const kind = chain.leafKind.toUpperCase();
  checkTcb(decodeTcb(parsed.raw.subarray(0x180, 0x188), layout), ext, kind);
  const chipIdMasked = checkChipId(parsed, chain, ext);

  if (options.rejectDebug === true && parsed.policy.debug) {
    throw fail(AMD_ERROR_CODES.DEBUG, 'Cannot accept SNP report: its guest policy allows debugging (POLICY bit 19)');
  }
  checkChainValidity(chain, options.at);
  return snpClaims(parsed, chain, ext, product, layout, chipIdMasked);
}
