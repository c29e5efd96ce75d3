/**
 * The stable error codes the `sim` evidence parser, creator and verifier throw (always as InclavareError),
 * and their factory. The wire format and when each code applies: docs/evidence-sim.md; each code's class is
 * in the ATTEST_ERR table (../codes.ts).
 */
import type { InclavareError, InclavareErrorOptions } from '../../errors/errors.ts';
import { attestError, type AttestErrorCode } from '../codes.ts';

export const SIM_ERROR_CODES = Object.freeze({
  /** Not sim evidence of the documented shape (size, magic, reserved bits, key encoding), or bad input to create. */
  MALFORMED: 'ATTEST_ERR_MALFORMED',
  /** The magic is right but the format version is not 1. */
  UNSUPPORTED_VERSION: 'ATTEST_ERR_UNSUPPORTED_VERSION',
  /** The Ed25519 signature over the evidence does not verify with the embedded platform key. */
  SIM_SIGNATURE: 'ATTEST_ERR_SIM_SIGNATURE',
  /** The embedded platform key is not one of the caller's trusted platform keys. */
  UNTRUSTED_PLATFORM_KEY: 'ATTEST_ERR_UNTRUSTED_PLATFORM_KEY',
  /** The evidence timestamp is too old or too far in the future for the verification time. */
  COLLATERAL_EXPIRED: 'ATTEST_ERR_COLLATERAL_EXPIRED',
} as const satisfies Record<string, AttestErrorCode>);

/** One of {@link SIM_ERROR_CODES}. */
export type SimErrorCode = (typeof SIM_ERROR_CODES)[keyof typeof SIM_ERROR_CODES];

/** Builds the InclavareError for a sim code with that code's class (the ATTEST_ERR table). */
export const simError: (code: SimErrorCode, message: string, options?: InclavareErrorOptions) => InclavareError = attestError;
