/**
 * The `sim` attester for workloads in sim/wasm enclave containers: asks inclavared's attestation socket
 * (docs/attestation-socket.md) for evidence over the report data.
 */
import { requestEvidence } from '../../attestation-socket/client.ts';
import { RATS_TLS_ERROR_CODES, ratsTlsError } from '../codes.ts';
import type { Attester } from './attester.ts';

/** The variable that names the attestation socket inside an enclave container. */
export const ATTESTATION_SOCKET_ENV = 'INCLAVARE_ATTESTATION_SOCKET';

/** Options of createSimAttester(). */
export interface SimAttesterOptions {
  /** The attestation socket; default $INCLAVARE_ATTESTATION_SOCKET. */
  socketPath?: string;
}

/** A sim attester backed by the inclavared attestation socket. */
export function createSimAttester(options: SimAttesterOptions = {}): Attester {
  return createSocketAttester({ ...options, tee: 'sim' });
}

/**
 * An attester backed by the attestation socket for the evidence format it serves: `sim` (sim and wasm
 * containers), `tdx` or `snp` (containers on confidential-VM nodes; inclavared asks configfs-tsm).
 */
export function createSocketAttester(options: SimAttesterOptions & { tee: 'sim' | 'tdx' | 'snp' }): Attester {
  const socketPath = options.socketPath ?? process.env[ATTESTATION_SOCKET_ENV];
  if (socketPath === undefined || socketPath === '') {
    throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot create the ${options.tee} attester: no socket path given and $${ATTESTATION_SOCKET_ENV} is not set`);
  }
  return {
    tee: options.tee,
    async getEvidence(reportData: Uint8Array): Promise<Uint8Array> {
      let answer;
      try {
        answer = await requestEvidence(socketPath, reportData);
      } catch (err) {
        throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot get ${options.tee} evidence from ${socketPath}`, { cause: err });
      }
      if (answer.tee !== options.tee) {
        throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot get ${options.tee} evidence from ${socketPath}: the socket produces ${answer.tee} evidence`);
      }
      return answer.evidence;
    },
  };
}
