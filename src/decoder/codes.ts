/**
 * inclavare-decoder's error codes (docs/errors.md, docs/encrypted-images.md "Errors").
 */
import { defineErrorCodes } from '../errors/errors.ts';

/** The table: code → class. */
export const decoderError = defineErrorCodes('DECODER_ERR', {
  /** A bad flag or a missing setting (the pin). */
  DECODER_ERR_USAGE: 'usage',
  /** The processor payload on fd 3 (containerd's protobuf Any of imgcrypt's Payload) is missing or malformed. */
  DECODER_ERR_PAYLOAD: 'invalid-argument',
  /** The layer's annotations or media type are not an ocicrypt-encrypted layer this decoder reads. */
  DECODER_ERR_LAYER: 'invalid-argument',
  /** The layer's HMAC or its plaintext digest does not match: the layer was altered (nothing valid was unpacked). */
  DECODER_ERR_INTEGRITY: 'verification-failed',
});
