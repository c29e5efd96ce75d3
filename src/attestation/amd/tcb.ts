/**
 * The SEV-SNP TCB_VERSION (a 64-bit little-endian value of per-component security patch levels). Its byte
 * layout depends on the processor generation (SEV-SNP ABI spec, pub. 56860, "TCB_VERSION Structure"):
 *   Milan and Genoa: byte 0 BOOT_LOADER, 1 TEE, 2-5 reserved, 6 SNP, 7 MICROCODE;
 *   Turin and later: byte 0 FMC, 1 BOOT_LOADER, 2 TEE, 3 SNP, 4-6 reserved, 7 MICROCODE.
 * The bytes cannot tell the layouts apart, so the caller names it (from CPUID or the VCEK's product).
 */
import type { AmdProduct } from './product.ts';

/** Which byte layout a TCB_VERSION uses. */
export type TcbLayout = 'milan-genoa' | 'turin';

/** A decoded TCB_VERSION. `fmc` is null in the Milan/Genoa layout, which has no FMC component. */
export interface SnpTcb {
  layout: TcbLayout;
  /** The 64-bit value as the firmware defines it (little-endian in the report). */
  raw: bigint;
  /** `raw` as 0x-prefixed, zero-padded lowercase hex (16 digits), e.g. "0xde1b000000000004". */
  hex: string;
  fmc: number | null;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

/**
 * The layout for a generation; with no known generation, family 1Ah (Turin) and later use the Turin layout
 * and everything older the Milan/Genoa one.
 */
export function tcbLayoutFor(product: AmdProduct | null, cpuidFamily: number | null): TcbLayout {
  if (product !== null) return product === 'Turin' ? 'turin' : 'milan-genoa';
  return cpuidFamily !== null && cpuidFamily >= 0x1a ? 'turin' : 'milan-genoa';
}

/** Decodes 8 TCB_VERSION bytes (as stored in the report) in the given layout. */
export function decodeTcb(bytes: Uint8Array, layout: TcbLayout): SnpTcb {
  if (bytes.length !== 8) throw new RangeError('a TCB_VERSION is 8 bytes');
  const b = (i: number): number => bytes[i] ?? 0;
  let raw = 0n;
  for (let i = 7; i >= 0; i--) raw = (raw << 8n) | BigInt(b(i));
  const hex = '0x' + raw.toString(16).padStart(16, '0');
  if (layout === 'turin') {
    return { layout, raw, hex, fmc: b(0), bootloader: b(1), tee: b(2), snp: b(3), microcode: b(7) };
  }
  return { layout, raw, hex, fmc: null, bootloader: b(0), tee: b(1), snp: b(6), microcode: b(7) };
}
