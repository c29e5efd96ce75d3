/**
 * The SNP scheme, as the registry (../registry.ts) lists it: AMD SEV-SNP ATTESTATION_REPORTs (1184 bytes,
 * version 2-5), verified with the VCEK/VLEK that signed them and the AMD chain.
 */
import type { CertificateInput } from '../amd/chain.ts';
import { AMD_ERROR_CODES, amdError } from '../amd/codes.ts';
import type { TeeScheme } from '../scheme.ts';
import { dumpSnpReport } from './dump.ts';
import { parseSnpReport, SNP_REPORT_SIZE, SNP_REPORT_VERSIONS } from './parse.ts';
import { verifySnpReport } from './verify.ts';

/** RATS-TLS's private CBOR tag for an AMD SEV-SNP attestation report (the C RATS-TLS's, docs/rats-tls.md). */
export const SNP_CBOR_TAG = 0x1a7504;

/** The inputs the SNP scheme takes from verifyEvidence() (`options.snp`). */
export interface SnpEvidenceOptions {
  /** The VCEK or VLEK that signed the report (DER or PEM); without it: ATTEST_ERR_COLLATERAL_MISSING. */
  vcek?: CertificateInput;
  /** ASK/ASVK and ARK (PEM bundle); optional, the AMD trust anchors carry them. */
  certChain?: CertificateInput;
  /** AMD ARK/ASK bundles; replaces the built-in AMD_TRUST_ANCHORS. */
  trustAnchors?: readonly CertificateInput[];
}

function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** SNP: detect, report_data, CBOR tag, verify (options: `{ vcek, certChain?, trustAnchors? }`), dump. */
export const SNP_SCHEME: TeeScheme<SnpEvidenceOptions> = Object.freeze({
  detect: (bytes: Uint8Array) => bytes.length === SNP_REPORT_SIZE && SNP_REPORT_VERSIONS.includes(readU32(bytes, 0)),
  reportData: (bytes: Uint8Array) => Uint8Array.from(parseSnpReport(bytes).reportData),
  cborTag: SNP_CBOR_TAG,
  verify: (bytes: Uint8Array, o: SnpEvidenceOptions & { at: Date }) => {
    if (o.vcek === undefined) {
      throw amdError(AMD_ERROR_CODES.COLLATERAL_MISSING, 'Cannot verify SNP report: no VCEK/VLEK was given');
    }
    return verifySnpReport(bytes, {
      vcek: o.vcek,
      at: o.at,
      ...(o.certChain !== undefined ? { certChain: o.certChain } : {}),
      ...(o.trustAnchors !== undefined ? { trustAnchors: o.trustAnchors } : {}),
    });
  },
  dump: dumpSnpReport,
});
