/**
 * verdictd's error codes (docs/errors.md): one table, every verdictd error is built through `verdictdError`.
 * The class decides how a front end answers (EAA `{"status":"Fail"}` text, gRPC status, KBS RFC 7807).
 */
import { defineErrorCodes } from '../errors/errors.ts';

/** The table: code → class. */
export const verdictdError = defineErrorCodes('VERDICTD_ERR', {
  /** The data directory has no store yet and `init` was not given. */
  VERDICTD_ERR_STORE_NOT_INITIALIZED: 'failed-precondition',
  /** The store exists but its master key file does not: restore it from the backup, never re-create it. */
  VERDICTD_ERR_MASTER_KEY_MISSING: 'failed-precondition',
  /** The master key file is unreadable, malformed, corrupted, too open (mode), or not the store's key. */
  VERDICTD_ERR_MASTER_KEY_INVALID: 'failed-precondition',
  /** A record of the store fails authentication or does not parse (tampered, swapped, torn, wrong key). */
  VERDICTD_ERR_STORE_CORRUPT: 'internal',
  /** The store could not read or write its files. */
  VERDICTD_ERR_STORE_IO: 'internal',
  /** An audit record could not be appended; nothing is released without one. */
  VERDICTD_ERR_AUDIT: 'internal',
  /** No key, resource, policy or reference-value set of that name. */
  VERDICTD_ERR_NOT_FOUND: 'not-found',
  /** A key of that kid exists already. */
  VERDICTD_ERR_ALREADY_EXISTS: 'already-exists',
  /** A bad kid, resource path, name, key length or value. */
  VERDICTD_ERR_INVALID_ARGUMENT: 'invalid-argument',
  /** A policy document is malformed or one of its CEL expressions does not parse. */
  VERDICTD_ERR_POLICY_INVALID: 'invalid-argument',
  /** A reference-value set is malformed. */
  VERDICTD_ERR_REFERENCE_INVALID: 'invalid-argument',
  /** The evidence did not verify (the attestation error is the cause). */
  VERDICTD_ERR_EVIDENCE_REJECTED: 'verification-failed',
  /** The claims verified but the policy denies them; `details.failed` names the rules. */
  VERDICTD_ERR_POLICY_DENIED: 'permission-denied',
  /** An EAA request that is no JSON object, lacks a field or has one of the wrong type; a management request whose bytes are not the method's message. */
  VERDICTD_ERR_MALFORMED_REQUEST: 'invalid-argument',
  /** An EAA request whose `command` this verdictd does not serve. */
  VERDICTD_ERR_UNKNOWN_COMMAND: 'invalid-argument',
  /** An EAA request longer than one frame (4096 bytes). */
  VERDICTD_ERR_FRAME_TOO_LARGE: 'invalid-argument',
  /** An EAA `Decrypt` blob that does not decrypt (wrong key, IV, tag or data) or names an unsupported algorithm. */
  VERDICTD_ERR_DECRYPT: 'invalid-argument',
  /** UnWrapKey on the plain key-provider connection: layer keys go only to attested enclaves (EAA Decrypt). */
  VERDICTD_ERR_UNWRAP_REFUSED: 'permission-denied',
  /** Another verdictd process owns the data directory (its lock file names it). */
  VERDICTD_ERR_ALREADY_RUNNING: 'failed-precondition',
  /** A management call without the admin token, or with another one. */
  VERDICTD_ERR_UNAUTHENTICATED: 'verification-failed',
  /** The management API was asked to listen beyond loopback without the explicit flag (and TLS). */
  VERDICTD_ERR_BIND_REFUSED: 'usage',
  /** The admin token file cannot be created or read, is malformed, or is accessible by group or others. */
  VERDICTD_ERR_ADMIN_TOKEN: 'failed-precondition',
  /** The management API cannot be reached (not running, wrong address) or failed to listen. */
  VERDICTD_ERR_UNAVAILABLE: 'unavailable',
  /** A command line of verdictd or verdict is wrong or refused: a non-loopback address without --allow-remote, a file that cannot be read, a bad value. */
  VERDICTD_ERR_USAGE: 'usage',
  /** A KBS request body beyond the endpoint's limit. */
  VERDICTD_ERR_BODY_TOO_LARGE: 'invalid-argument',
  /** A KBS tee-pubkey verdictd will not encrypt to: RSA1_5, RSA under 2048 bits, an unknown key type, curve or algorithm. */
  VERDICTD_ERR_TEE_KEY_REFUSED: 'invalid-argument',
  /** A KBS admin endpoint on a verdictd started without --kbs-admin-key: refused (fail closed). */
  VERDICTD_ERR_ADMIN_DISABLED: 'permission-denied',
  /** An unexpected failure of an HTTP front end (the daemon log has it); never caused by a request's form. */
  VERDICTD_ERR_INTERNAL: 'internal',
});

/** The codes by short name, for front ends and tests. */
export const VERDICTD_ERROR_CODES = Object.freeze({
  STORE_NOT_INITIALIZED: 'VERDICTD_ERR_STORE_NOT_INITIALIZED',
  MASTER_KEY_MISSING: 'VERDICTD_ERR_MASTER_KEY_MISSING',
  MASTER_KEY_INVALID: 'VERDICTD_ERR_MASTER_KEY_INVALID',
  STORE_CORRUPT: 'VERDICTD_ERR_STORE_CORRUPT',
  STORE_IO: 'VERDICTD_ERR_STORE_IO',
  AUDIT: 'VERDICTD_ERR_AUDIT',
  NOT_FOUND: 'VERDICTD_ERR_NOT_FOUND',
  ALREADY_EXISTS: 'VERDICTD_ERR_ALREADY_EXISTS',
  INVALID_ARGUMENT: 'VERDICTD_ERR_INVALID_ARGUMENT',
  POLICY_INVALID: 'VERDICTD_ERR_POLICY_INVALID',
  REFERENCE_INVALID: 'VERDICTD_ERR_REFERENCE_INVALID',
  EVIDENCE_REJECTED: 'VERDICTD_ERR_EVIDENCE_REJECTED',
  POLICY_DENIED: 'VERDICTD_ERR_POLICY_DENIED',
  MALFORMED_REQUEST: 'VERDICTD_ERR_MALFORMED_REQUEST',
  UNKNOWN_COMMAND: 'VERDICTD_ERR_UNKNOWN_COMMAND',
  FRAME_TOO_LARGE: 'VERDICTD_ERR_FRAME_TOO_LARGE',
  DECRYPT: 'VERDICTD_ERR_DECRYPT',
  UNWRAP_REFUSED: 'VERDICTD_ERR_UNWRAP_REFUSED',
  ALREADY_RUNNING: 'VERDICTD_ERR_ALREADY_RUNNING',
  UNAUTHENTICATED: 'VERDICTD_ERR_UNAUTHENTICATED',
  BIND_REFUSED: 'VERDICTD_ERR_BIND_REFUSED',
  ADMIN_TOKEN: 'VERDICTD_ERR_ADMIN_TOKEN',
  UNAVAILABLE: 'VERDICTD_ERR_UNAVAILABLE',
  USAGE: 'VERDICTD_ERR_USAGE',
  BODY_TOO_LARGE: 'VERDICTD_ERR_BODY_TOO_LARGE',
  TEE_KEY_REFUSED: 'VERDICTD_ERR_TEE_KEY_REFUSED',
  ADMIN_DISABLED: 'VERDICTD_ERR_ADMIN_DISABLED',
  INTERNAL: 'VERDICTD_ERR_INTERNAL',
} as const satisfies Record<string, keyof typeof verdictdError.table>);
