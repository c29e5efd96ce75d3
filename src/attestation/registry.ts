/**
 * The TEE registry: one line per TEE, each naming the scheme its folder exports (scheme.ts describes the
 * contract). Adding a TEE is one folder and one line here (docs/attestation.md, "Adding a TEE"); the TEE's name,
 * its options key in verifyEvidence() and its place in detection follow from this line.
 *
 * Detection tries the schemes in this order. The formats are disjoint: an Intel header's u16 version 3-5
 * followed by key type 2 never reads as an SNP u32 version 2-5, and the sim magic is ASCII.
 */
import { SGX_SCHEME } from './sgx/scheme.ts';
import { SIM_SCHEME } from './sim/scheme.ts';
import { SNP_SCHEME } from './snp/scheme.ts';
import { TDX_SCHEME } from './tdx/scheme.ts';

/** Every TEE Inclavare verifies, by name. */
export const TEE_SCHEMES = Object.freeze({
  sgx: SGX_SCHEME,
  tdx: TDX_SCHEME,
  snp: SNP_SCHEME,
  sim: SIM_SCHEME,
});

/** The name of a registered TEE. */
export type TeeType = keyof typeof TEE_SCHEMES;

/** Every TEE the registry knows, in detection order. */
export const TEE_TYPES: readonly TeeType[] = Object.freeze(Object.keys(TEE_SCHEMES) as TeeType[]);

/** The TEE whose evidence `bytes` is, by the first scheme that recognizes its header, or null. Verifies nothing. */
export function detectTee(bytes: Uint8Array): TeeType | null {
  if (!(bytes instanceof Uint8Array)) return null;
  for (const tee of TEE_TYPES) if (TEE_SCHEMES[tee].detect(bytes)) return tee;
  return null;
}

/** The TEEs whose evidence is written under CBOR tag `tag` (empty when none is). */
export function teesOfCborTag(tag: number): TeeType[] {
  return TEE_TYPES.filter((tee) => TEE_SCHEMES[tee].cborTag === tag);
}
