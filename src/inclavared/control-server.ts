/**
 * The control API on ROOT/control.sock (mode 0600: only root, i.e. rune, reaches it). Registers and
 * removes containers' attestation sockets and publishes the platform certificate
 * (docs/attestation-socket.md, "Control socket").
 */
import { noRoute } from './attest-server.ts';
import type { JsonHandler, JsonResponse } from '../sys/json-http-server.ts';
import { parseBindRequest, parseRegisterRequest, type RegisterRequest } from '../attestation-socket/requests.ts';
import type { ContainerSocketPaths } from '../attestation-socket/paths.ts';
import { badRequest } from '../attestation-socket/codes.ts';
import type { PoolManager } from './pool/manager.ts';

/** What the control API drives (the daemon). */
export interface ControlApi {
  register(request: RegisterRequest): Promise<ContainerSocketPaths>;
  unregister(id: string): Promise<void>;
  /** Binds the measurement of a pending registration (once; the same measurement again is fine). */
  bindMeasurement(id: string, measurement: Uint8Array): Promise<void>;
  platformCertPem(): string;
  /** The enclave pool (docs/enclave-pool.md "API"). */
  pool: Pick<PoolManager, 'list' | 'pick' | 'save' | 'delete' | 'healthz'>;
}

/** The control endpoints. */
export const CONTROL_ROUTES = Object.freeze({
  register: 'POST /v1/containers',
  unregister: 'DELETE /v1/containers/<id>',
  bindMeasurement: 'PUT /v1/containers/<id>/measurement',
  platformCert: 'GET /v1/platform-cert',
  poolList: 'GET /v1/pool',
  poolHealthz: 'GET /v1/pool/healthz',
  poolPick: 'POST /v1/pool/pick',
  poolSave: 'PUT /v1/pool/keys/<key>',
  poolDeleteKey: 'DELETE /v1/pool/keys/<key>',
  poolDeleteEntry: 'DELETE /v1/pool/entries/<id>',
});

const POOL_PATH = /^\/v1\/pool\/(keys|entries)\/([^/]+)$/;

/** The body of a pool request: a JSON object with exactly `fields`. */
function poolBody(body: Uint8Array, fields: string[]): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw badRequest('Cannot read the request: the body is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest('Cannot read the request: the body is not a JSON object');
  const extra = Object.keys(value).filter((k) => !fields.includes(k));
  if (extra.length > 0) throw badRequest(`Cannot read the request: unknown field ${extra[0]} (expected ${fields.join(', ')})`);
  return value as Record<string, unknown>;
}

/** The pool's routes; undefined when the path is none of them. */
async function poolRoute(api: ControlApi, method: string, path: string, body: Uint8Array): Promise<JsonResponse | undefined> {
  if (path === '/v1/pool' && method === 'GET') return { status: 200, json: api.pool.list() };
  if (path === '/v1/pool/healthz' && method === 'GET') return { status: 200, json: api.pool.healthz() };
  if (path === '/v1/pool/pick' && method === 'POST') return { status: 200, json: api.pool.pick(poolBody(body, ['key']).key as string) };
  const match = POOL_PATH.exec(path);
  if (match === null) return undefined;
  const name = match[2]!;
  if (match[1] === 'keys' && method === 'PUT') return { status: 200, json: api.pool.save(name, poolBody(body, ['size']).size as number) };
  if (method !== 'DELETE') return undefined;
  await api.pool.delete(match[1] === 'keys' ? { key: name } : { id: name });
  return { status: 200, json: {} };
}

const CONTAINER_PATH = /^\/v1\/containers\/([^/]+)(\/measurement)?$/;

/** A container id from a path: clients may percent-encode it (encodeURIComponent turns `+` into %2B); the daemon validates it. */
function pathId(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The request handler of the control socket. */
export function controlHandler(api: ControlApi): JsonHandler {
  const routes = Object.values(CONTROL_ROUTES);
  return async ({ method, path, body }): Promise<JsonResponse> => {
    if (method === 'POST' && path === '/v1/containers') {
      const paths = await api.register(parseRegisterRequest(body));
      return { status: 201, json: { socketDir: paths.socketDir, socket: paths.socket } };
    }
    const match = CONTAINER_PATH.exec(path);
    if (method === 'DELETE' && match !== null && match[2] === undefined) {
      await api.unregister(pathId(match[1]!));
      return { status: 200, json: {} };
    }
    if (method === 'PUT' && match !== null && match[2] !== undefined) {
      await api.bindMeasurement(pathId(match[1]!), parseBindRequest(body));
      return { status: 200, json: {} };
    }
    if (path.startsWith('/v1/pool')) {
      const answer = await poolRoute(api, method, path, body);
      if (answer !== undefined) return answer;
    }
    if (method === 'GET' && path === '/v1/platform-cert') {
      return { status: 200, text: api.platformCertPem(), contentType: 'application/x-pem-file' };
    }
    throw noRoute(method, path, routes);
  };
}
