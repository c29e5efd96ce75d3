/**
 * The RUNE_ERR_* table (docs/errors.md, docs/rune.md): every error rune and src/oci/ throw is built here, and
 * each code has one class. rune exits 1 on every failure whatever the class, as runc does
 * (src/cli/run-program.ts, `runc`); the class matters where rune runs in-process (the shim answers with it).
 */
import { defineErrorCodes } from '../errors/errors.ts';

/** An InclavareError with a rune code and that code's class. */
export const runeError = defineErrorCodes('RUNE_ERR', {
  /** Bad command line: a missing argument, a flag value rune cannot use, a file named on it it cannot read. */
  RUNE_ERR_USAGE: 'usage',
  /** The container id is not one runc would accept. */
  RUNE_ERR_INVALID_ID: 'invalid-argument',
  /** A container with this id exists. */
  RUNE_ERR_ALREADY_EXISTS: 'already-exists',
  /** No container with this id. */
  RUNE_ERR_NOT_FOUND: 'not-found',
  /** The container is not in the state the command needs (e.g. `start` of a container already started). */
  RUNE_ERR_WRONG_STATE: 'failed-precondition',
  /** The bundle directory does not exist or is not a directory. */
  RUNE_ERR_BUNDLE: 'not-found',
  /** config.json cannot be read, parsed or used. */
  RUNE_ERR_CONFIG: 'invalid-argument',
  /** `rune spec` cannot write config.json (e.g. the bundle directory does not exist). */
  RUNE_ERR_SPEC: 'invalid-argument',
  /** `rune spec` refuses to overwrite an existing config.json. */
  RUNE_ERR_SPEC_EXISTS: 'already-exists',
  /** rune's state directory (ROOT, ROOT/ID) cannot be read or written. */
  RUNE_ERR_STATE: 'internal',
  /** The backend runtime (runc) ran and failed; its own message is above rune's. */
  RUNE_ERR_BACKEND: 'internal',
  /** The backend runtime was found but cannot be executed. */
  RUNE_ERR_BACKEND_EXEC: 'unavailable',
  /** No backend runtime (runc) was found. */
  RUNE_ERR_BACKEND_MISSING: 'failed-precondition',
  /** An enclave setting (annotation, env, rlimit) rune cannot honour. */
  RUNE_ERR_ENCLAVE_CONFIG: 'invalid-argument',
  /** rune cannot make its mount point (/.rune) in the container's rootfs. */
  RUNE_ERR_MOUNT_POINT: 'failed-precondition',
  /** The enclave runtime did not come up. */
  RUNE_ERR_ENCLAVE_INIT: 'failed-precondition',
  /** The container's secrets could not be fetched: verdictd refused (the rule is named), is unreachable, or is not the pinned one. */
  RUNE_ERR_SECRETS: 'permission-denied',
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
