/**
 * One container's attestation API, served on ROOT/containers/ID/attest.sock (the contract:
 * docs/attestation-socket.md). Every answer is for the container the socket was created for: the socket
 * is the workload's identity, so no request can name another container or a measurement.
 */
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../attestation-socket/codes.ts';
import { evidenceFormat, produceEvidence, type ContainerRecord, type EvidenceContext } from './evidence.ts';
import type { JsonHandler, JsonResponse } from '../sys/json-http-server.ts';
import { parseEvidenceRequest } from '../attestation-socket/requests.ts';

/** Default limit for producing one piece of evidence (a TDX quote goes through the host's QE). */
export const DEFAULT_EVIDENCE_TIMEOUT_MS = 30_000;

/** The attestation endpoints: method and path. */
export const ATTEST_ROUTES = Object.freeze({ tee: 'GET /v1/tee', evidence: 'POST /v1/evidence' });

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(inclavaredError(INCLAVARED_ERROR_CODES.TIMEOUT, `Cannot produce evidence: no answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Routes a known path with the wrong method, or an unknown path, to INCLAVARED_ERR_NO_ROUTE. */
export function noRoute(method: string, path: string, routes: readonly string[]): Error {
  return inclavaredError(
    INCLAVARED_ERROR_CODES.NO_ROUTE,
    `Cannot serve ${method.slice(0, 16)} ${JSON.stringify(path.slice(0, 100))}: no such endpoint (endpoints: ${routes.join(', ')})`,
  );
}

/** The request handler of `container`'s attestation socket. */
export function attestHandler(container: ContainerRecord, ctx: EvidenceContext & { timeoutMs?: number }): JsonHandler {
  const routes = Object.values(ATTEST_ROUTES);
  return async ({ method, path, body }): Promise<JsonResponse> => {
    const route = `${method} ${path}`;
    if (route === ATTEST_ROUTES.tee) {
      return { status: 200, json: { tee: container.tee, evidenceFormat: evidenceFormat(container.tee) } };
    }
    if (route === ATTEST_ROUTES.evidence) {
      const { reportData } = parseEvidenceRequest(body);
      const produced = await withTimeout(produceEvidence(container, reportData, ctx), ctx.timeoutMs ?? DEFAULT_EVIDENCE_TIMEOUT_MS);
      return { status: 200, json: { tee: produced.format, evidence: Buffer.from(produced.evidence).toString('base64') } };
    }
    throw noRoute(method, path, routes);
  };
}
