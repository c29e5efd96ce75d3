/**
 * `tee-tools dump` of sim evidence: every parsed field and the platform key's fingerprint. Parsing only.
 */
import { createHash } from 'node:crypto';
import type { EvidenceFields } from '../scheme.ts';
import { parseSimEvidence } from './parse.ts';

/** Every parsed field of sim evidence; nothing is verified. */
export function dumpSimEvidence(bytes: Uint8Array): EvidenceFields {
  const { raw: _raw, signedBytes: _signed, ...fields } = parseSimEvidence(bytes);
  return { format: 'inclavare-sim-evidence', fields: { ...fields, platformKeyId: createHash('sha256').update(fields.platformKey).digest('hex') } };
}
