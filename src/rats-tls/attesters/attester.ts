/**
 * The Attester seam: whatever can produce evidence over 64 bytes of report data. One implementation per
 * source of evidence (docs/rats-tls.md, "Attesters"); tests hand in the in-process sim attester.
 */

/** The TEE an attester's evidence comes from; 'null' produces no evidence at all. */
export type AttesterTee = 'sim' | 'sgx' | 'tdx' | 'snp' | 'null';

/** Produces evidence binding `reportData`. */
export interface Attester {
  readonly tee: AttesterTee;
  /** Evidence whose report_data is `reportData` (64 bytes). The null attester returns an empty array. */
  getEvidence(reportData: Uint8Array): Promise<Uint8Array>;
}
