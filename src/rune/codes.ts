/**
 * The RUNE_ERR_* table (docs/errors.md). rune's own call sites still construct their errors inline and are
 * converted to {@link runeError} after the OS-seam refactoring lands (issue #11, item 3); src/oci/ already
 * uses it. rune exits 1 on every failure whatever the class, as runc does (src/cli/run-program.ts, `runc`).
 *
 * Codes listed with several classes are thrown today with each of them (default first); TODO(#11): give each
 * case its own code or settle on one class when rune's call sites are converted.
 */
import { defineErrorCodes } from '../errors/errors.ts';

/** An InclavareError with a rune code and that code's class. */
export const runeError = defineErrorCodes('RUNE_ERR', {
  /** Bad command line: a missing argument, a flag value rune cannot use. */
  RUNE_ERR_USAGE: 'usage',
  /** The container id is not one runc would accept. */
  RUNE_ERR_INVALID_ID: 'invalid-argument',
  /** A container with this id exists. */
  RUNE_ERR_ALREADY_EXISTS: 'already-exists',
  /** No container with this id. */
  RUNE_ERR_NOT_FOUND: 'not-found',
  /** The bundle directory does not exist or is not a directory. */
  RUNE_ERR_BUNDLE: 'not-found',
  /** config.json cannot be read, parsed or used. */
  RUNE_ERR_CONFIG: 'invalid-argument',
  /** `rune spec` cannot write config.json (exists, or unwritable). */
  RUNE_ERR_SPEC: ['invalid-argument', 'already-exists'],
  /** The state directory cannot be read or written, or the container is not in the state a verb needs. */
  RUNE_ERR_STATE: ['internal', 'failed-precondition'],
  /** The backend runtime failed or cannot be run. */
  RUNE_ERR_BACKEND: ['internal', 'unavailable'],
  /** No backend runtime (runc) was found. */
  RUNE_ERR_BACKEND_MISSING: 'failed-precondition',
  /** An enclave setting (annotation, env, rlimit, mount) rune cannot honour. */
  RUNE_ERR_ENCLAVE_CONFIG: ['invalid-argument', 'failed-precondition'],
  /** The enclave runtime did not come up. */
  RUNE_ERR_ENCLAVE_INIT: 'failed-precondition',
  /** The enclave container's entrypoint is missing or unusable. */
  RUNE_ERR_ENTRYPOINT: 'invalid-argument',
  /** The container's rootfs (or a file the measurement covers) cannot be read to measure it. */
  RUNE_ERR_MEASUREMENT: 'failed-precondition',
  /** The host's node binary (which init-runelet runs on) cannot be put into the container. */
  RUNE_ERR_HOST_NODE: 'failed-precondition',
  /** rune's installation is incomplete (a file it ships is missing). */
  RUNE_ERR_INSTALL: 'failed-precondition',
  /** A signal name or number that does not exist. */
  RUNE_ERR_INVALID_SIGNAL: 'invalid-argument',
  /** `rune attest` on a container that has no attestation socket. */
  RUNE_ERR_NOT_ATTESTABLE: 'failed-precondition',
});
