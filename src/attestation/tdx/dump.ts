/**
 * `tee-tools dump` of a TDX quote: every field of the Intel DCAP quote (intel/dump.ts). Parsing only.
 */
import { dumpIntelQuote } from '../intel/dump.ts';
import type { EvidenceFields } from '../scheme.ts';

/** Every parsed field of a TDX quote; nothing is verified. */
export function dumpTdxQuote(bytes: Uint8Array): EvidenceFields {
  return dumpIntelQuote(bytes);
}
