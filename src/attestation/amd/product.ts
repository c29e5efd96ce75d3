/**
 * AMD EPYC processor generations that run SEV-SNP, and how to recognise them from CPUID (report v3+), from a
 * VCEK's productName extension or from the AMD certificate names (ARK-Milan, SEV-Milan, SEV-VLEK-Milan).
 */

/** The AMD EPYC generations whose ARK/ASK/ASVK Inclavare knows. */
export type AmdProduct = 'Milan' | 'Genoa' | 'Turin';

/** Every generation, in release order. */
export const AMD_PRODUCTS: readonly AmdProduct[] = Object.freeze(['Milan', 'Genoa', 'Turin'] as const);

/**
 * The generation of a CPUID family/model pair as the report (v3+, CPUID_FAM_ID/CPUID_MOD_ID) states it.
 * Family 19h models 00h-0Fh are Milan, 10h-1Fh Genoa and A0h-AFh Bergamo/Siena (which AMD's KDS serves as
 * Genoa); family 1Ah models 00h-1Fh are Turin. Anything else is unknown (null), not guessed.
 */
export function productFromCpuid(family: number, model: number): AmdProduct | null {
  if (family === 0x19) {
    if (model <= 0x0f) return 'Milan';
    if (model <= 0x1f || (model >= 0xa0 && model <= 0xaf)) return 'Genoa';
    return null;
  }
  if (family === 0x1a && model <= 0x1f) return 'Turin';
  return null;
}

/**
 * The generation named by a VCEK productName ("Milan-B0", "Genoa", "Turin") or an AMD CA common name
 * ("ARK-Milan", "SEV-Genoa", "SEV-VLEK-Turin"); null when none of the known generations is named.
 */
export function productFromName(name: string): AmdProduct | null {
  const stripped = name.replace(/^(ARK-|SEV-VLEK-|SEV-)/, '');
  const head = stripped.split('-')[0] ?? '';
  return (AMD_PRODUCTS as readonly string[]).includes(head) ? (head as AmdProduct) : null;
}
