/**
 * The RATS-TLS certificate format's constants (docs/rats-tls.md; reference: TCG DICE "Interoperable RA-TLS").
 */
import type { TeeType } from '../attestation/claims.ts';
import { TEE_SCHEMES, TEE_TYPES, teesOfCborTag } from '../attestation/registry.ts';

/** TCG DICE tagged evidence extension (OID 2.23.133.5.4.9): CBOR tag(T)[bstr evidence, bstr claims]. */
export const OID_DICE_EVIDENCE = '2.23.133.5.4.9';
/** TCG DICE endorsements extension (OID 2.23.133.5.4.2), optional. */
export const OID_DICE_ENDORSEMENTS = '2.23.133.5.4.2';

/**
 * Legacy extensions carrying raw evidence, with report_data[0..32] = SHA-256(DER SubjectPublicKeyInfo).
 * Gramine encodes 1.2.840.113741.1337.6 wrongly: its OID value bytes are the whole TLV `06 09 2a 86 48 86 f8
 * 4d 8a 39 06`, which any parser reads as 0.6.9.42.840.113741.1337.6 - accepted as the same thing.
 */
export const LEGACY_EVIDENCE_OIDS: Readonly<Record<string, TeeType>> = Object.freeze({
  '1.2.840.113741.1337.6': 'sgx',
  '0.6.9.42.840.113741.1337.6': 'sgx',
  '1.2.840.113741.1337.8': 'tdx',
  '1.2.840.113741.1337.20': 'snp',
});

/** CBOR tag of DICE evidence for an Intel SGX/TDX quote (60000; told apart by the quote header). */
export const TAG_INTEL_QUOTE = TEE_SCHEMES.sgx.cborTag;
/** RATS-TLS private tag for an AMD SEV-SNP attestation report. */
export const TAG_SNP_REPORT = TEE_SCHEMES.snp.cborTag;
/** Our private tag for `sim` evidence (sim/scheme.ts says why this value). */
export const TAG_SIM_EVIDENCE = TEE_SCHEMES.sim.cborTag;

/** Which TEE's evidence each tag may carry, from the registry (each scheme names its tag). */
export const TAG_TEES: ReadonlyMap<number, readonly TeeType[]> = new Map(
  [...new Set(TEE_TYPES.map((tee) => TEE_SCHEMES[tee].cborTag))].map((tag) => [tag, Object.freeze(teesOfCborTag(tag))] as const),
);

/** The tag a TEE's evidence is written under. */
export function tagOfTee(tee: TeeType): number {
  return TEE_SCHEMES[tee].cborTag;
}

/** Hash algorithms of pubkey-hash, by IANA "Named Information Hash Algorithm" id. */
export const HASH_ALGORITHMS = Object.freeze({
  'sha-256': { id: 1, node: 'sha256', length: 32 },
  'sha-384': { id: 7, node: 'sha384', length: 48 },
  'sha-512': { id: 8, node: 'sha512', length: 64 },
} as const);

/** A hash algorithm name of pubkey-hash. */
export type HashAlgorithm = keyof typeof HASH_ALGORITHMS;

/** The name of a named-information hash id, or undefined for ids we do not accept. */
export function hashAlgorithmOfId(id: number): HashAlgorithm | undefined {
  return (Object.keys(HASH_ALGORITHMS) as HashAlgorithm[]).find((k) => HASH_ALGORITHMS[k].id === id);
}

/** Claim names with a defined meaning. */
export const CLAIM_PUBKEY_HASH = 'pubkey-hash';
export const CLAIM_NONCE = 'nonce';
