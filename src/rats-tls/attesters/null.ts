/**
 * The null attester: certificates without any evidence extension, like the C RATS-TLS `nullattester`.
 * Only for interoperability tests; our verifiers reject such peers unless told to allow unattested ones.
 */
import type { Attester } from './attester.ts';

/** An attester that attests nothing. */
export function createNullAttester(): Attester {
  return { tee: 'null', getEvidence: () => Promise.resolve(new Uint8Array(0)) };
}
