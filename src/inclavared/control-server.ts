/**
 * The control API on ROOT/control.sock (mode 0600: only root, i.e. rune, reaches it). Registers and
 * removes containers' attestation sockets and publishes the platform certificate
 * (docs/attestation-socket.md, "Control socket").
 */
import { noRoute } from './attest-server.ts';
import type { JsonHandler, JsonResponse } from '../sys/json-http-server.ts';
import { parseRegisterRequest, type RegisterRequest } from '../attestation-socket/requests.ts';
import type { ContainerSocketPaths } from '../attestation-socket/paths.ts';

/** What the control API drives (the daemon). */
export interface ControlApi {
  register(request: RegisterRequest): Promise<ContainerSocketPaths>;
  unregister(id: string): Promise<void>;
  platformCertPem(): string;
}

/** The control endpoints. */
export const CONTROL_ROUTES = Object.freeze({
  register: 'POST /v1/containers',
  unregister: 'DELETE /v1/containers/<id>',
  platformCert: 'GET /v1/platform-cert',
});

const CONTAINER_PATH = /^\/v1\/containers\/([^/]+)$/;

/** The request handler of the control socket. */
export function controlHandler(api: ControlApi): JsonHandler {
  const routes = Object.values(CONTROL_ROUTES);
  return async ({ method, path, body }): Promise<JsonResponse> => {
    if (method === 'POST' && path === '/v1/containers') {
      const paths = await api.register(parseRegisterRequest(body));
      return { status: 201, json: { socketDir: paths.socketDir, socket: paths.socket } };
    }
    const match = CONTAINER_PATH.exec(path);
    if (method === 'DELETE' && match !== null) {
      // Clients may percent-encode the id (encodeURIComponent turns `+` into %2B); the daemon validates it.
      let id: string;
      try {
        id = decodeURIComponent(match[1]!);
      } catch {
        id = match[1]!;
      }
      await api.unregister(id);
      return { status: 200, json: {} };
    }
    if (method === 'GET' && path === '/v1/platform-cert') {
      return { status: 200, text: api.platformCertPem(), contentType: 'application/x-pem-file' };
    }
    throw noRoute(method, path, routes);
  };
}
