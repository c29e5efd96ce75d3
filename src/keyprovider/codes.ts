/**
 * inclavare-keyprovider's error codes (docs/errors.md, docs/encrypted-images.md "Errors").
 */
import { defineErrorCodes } from '../errors/errors.ts';

/** The table: code → class. */
export const keyProviderError = defineErrorCodes('KEYPROVIDER_ERR', {
  /** A bad flag or a missing setting (the pin, the bundle's files). */
  KEYPROVIDER_ERR_USAGE: 'usage',
  /** What ocicrypt sent on stdin is not a key provider request this provider serves, or its annotation is bad. */
  KEYPROVIDER_ERR_REQUEST: 'invalid-argument',
  /** The unwrapping enclave could not run or gave no answer (rune, inclavared, a timeout). */
  KEYPROVIDER_ERR_ENCLAVE: 'unavailable',
  /** verdictd refused the enclave (its policy, its evidence) or the key (unknown kid, tampered data). */
  KEYPROVIDER_ERR_REFUSED: 'permission-denied',
});
