/**
 * An in-process sim attester that signs with a platform key it is given: the double of the socket-backed sim
 * attester, for tests and benchmarks (one seam, one double). It is never a source of trust.
 */
import type { KeyObject } from 'node:crypto';
import { createSimEvidence } from '../../attestation/sim/create.ts';
import type { Attester } from './attester.ts';

/** Options of createLocalSimAttester(). */
export interface LocalSimAttesterOptions {
  /** The platform's Ed25519 private key. */
  platformKey: KeyObject | string | Uint8Array;
  /** The enclave measurement (48 bytes); default all zeros. */
  measurement?: Uint8Array;
  /** The clock stamped into the evidence; default the real clock. */
  now?: () => Date;
  debug?: boolean;
}

/** A sim attester that signs evidence itself. */
export function createLocalSimAttester(options: LocalSimAttesterOptions): Attester {
  const measurement = options.measurement ?? new Uint8Array(48);
  const now = options.now ?? (() => new Date());
  return {
    tee: 'sim',
    getEvidence: (reportData: Uint8Array) =>
      Promise.resolve(createSimEvidence({ measurement, reportData, platformKey: options.platformKey, at: now(), debug: options.debug === true })),
  };
}
