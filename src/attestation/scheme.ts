/**
 * The contract every TEE implements, one folder each (Trustee's one-folder-per-verifier, Veraison's
 * `scheme/<name>/`): `parse.ts` (bytes → typed record), `verify.ts` (checks → claims or an InclavareError),
 * `claims.ts` (the normalized record from what verified), `dump.ts` (every parsed field, verifying nothing) and
 * `scheme.ts`, the entry the registry (`registry.ts`) lists: one line per TEE. Everything outside the folder
 * that needs a TEE-specific answer (which TEE these bytes are, their report_data, the RATS-TLS CBOR tag, a
 * dump, a verdict) asks the registry instead of switching on the TEE.
 */
import type { Claims } from './claims.ts';

/** Every parsed field of a piece of evidence (JSON-safe after `toJsonValue`); nothing in it is verified. */
export interface EvidenceFields {
  /** The name of the format, e.g. `intel-dcap-quote`. */
  format: string;
  fields: Record<string, unknown>;
}

/** One TEE's evidence scheme. `Options` are the inputs only this TEE reads (collateral, keys, anchors). */
export interface TeeScheme<Options extends object = object> {
  /** True when `bytes` look like this TEE's evidence (header check only; nothing is verified). */
  detect(bytes: Uint8Array): boolean;
  /** The 64 bytes of report_data, read without verifying; throws the parser's InclavareError on bad bytes. */
  reportData(bytes: Uint8Array): Uint8Array;
  /** The CBOR tag this TEE's evidence is written under in a DICE evidence extension (docs/rats-tls.md). */
  readonly cborTag: number;
  /** Verifies evidence with this TEE's options at `options.at`; claims, or an InclavareError (ATTEST_ERR_*). */
  verify(bytes: Uint8Array, options: Options & { at: Date }): Claims;
  /** Every parsed field (for `tee-tools dump`); throws the parser's InclavareError on bad bytes. */
  dump(bytes: Uint8Array): EvidenceFields;
}

/** The per-TEE options type of a scheme. */
export type SchemeOptions<S> = S extends TeeScheme<infer O> ? O : never;
