/**
 * `tee-tools dump` of a SGX quote: every field of the Intel DCAP quote (intel/dump.ts). Parsing only.
 */
import { dumpIntelQuote } from '../intel/dump.ts';
import type { EvidenceFields } from '../scheme.ts';

/** Every parsed field of a SGX quote; nothing is verified. */
export function dumpSgxQuote(bytes: Uint8Array): EvidenceFields {
  return dumpIntelQuote(bytes);
}
