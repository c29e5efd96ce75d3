/**
 * A ttrpc server on a unix socket: decodes each request frame, calls the handler of `service/method` and
 * writes the response frame on the same stream id. Errors become a google.rpc.Status in the Response
 * (InclavareErrors with their class's code; see ttrpcCodeOf). Bad bytes never end the shim: a malformed
 * Request is answered INVALID_ARGUMENT, an oversize frame RESOURCE_EXHAUSTED, a frame of another type is
 * skipped; a connection whose peer sends garbage only costs that connection.
 */
import type { Server, Socket } from 'node:net';
import { describeError, isInclavareError } from '../../errors/errors.ts';
import { shimError, ttrpcCodeOf } from '../codes.ts';
import { FRAME_REQUEST, FRAME_RESPONSE, FrameReader, MAX_PAYLOAD, encodeFrame } from './framing.ts';
import { decodeMessage, encodeMessage } from './messages.ts';

/** A method's handler: the request payload in, the response payload out. */
export type MethodHandler = (payload: Uint8Array) => Promise<Uint8Array>;

/** Handlers by full method name: `containerd.task.v2.Task/Create`. */
export type Handlers = ReadonlyMap<string, MethodHandler>;

interface DecodedRequest {
  service: string;
  method: string;
  payload: Uint8Array;
}

/** The Response frame payload for a result or an error. */
export function responsePayload(result: { payload: Uint8Array } | { error: unknown }): Uint8Array {
  if ('payload' in result) return encodeMessage('Response', { payload: result.payload });
  const err = result.error;
  const code = isInclavareError(err) ? ttrpcCodeOf(err) : 2; // 2 UNKNOWN
  return encodeMessage('Response', { status: { code, message: describeError(err) } });
}

/** Serves one accepted connection until it closes. */
export function serveConnection(socket: Socket, handlers: Handlers, log: (msg: string) => void = () => undefined): void {
  const reader = new FrameReader(MAX_PAYLOAD);
  const reply = (streamId: number, payload: Uint8Array): void => {
    if (!socket.destroyed) socket.write(encodeFrame(streamId, FRAME_RESPONSE, payload));
  };
  socket.on('error', () => undefined);
  socket.on('data', (data: Buffer) => {
    for (const ev of reader.push(data)) {
      if (ev.kind === 'oversize') {
        log(`ttrpc: refused a ${ev.length}-byte frame on stream ${ev.streamId}`);
        if (ev.type === FRAME_REQUEST) {
          reply(ev.streamId, responsePayload({ error: shimError('SHIM_ERR_FRAME_TOO_LARGE', `Cannot accept a ttrpc message of ${ev.length} bytes: the limit is ${MAX_PAYLOAD}`) }));
        }
        continue;
      }
      const { frame } = ev;
      if (frame.type !== FRAME_REQUEST) continue;
      let req: DecodedRequest;
      try {
        req = decodeMessage<DecodedRequest>('Request', frame.payload);
      } catch (e) {
        reply(frame.streamId, responsePayload({ error: shimError('SHIM_ERR_BAD_REQUEST', 'Cannot decode the ttrpc request: its bytes are no ttrpc Request', { cause: e }) }));
        continue;
      }
      const name = `${req.service}/${req.method}`;
      const handler = handlers.get(name);
      if (handler === undefined) {
        reply(frame.streamId, responsePayload({ error: shimError('SHIM_ERR_NOT_IMPLEMENTED', `Cannot serve ${name}: this shim does not implement it`) }));
        continue;
      }
      handler(req.payload).then(
        (payload) => reply(frame.streamId, responsePayload({ payload })),
        (error: unknown) => {
          log(`${name}: ${describeError(error)}`);
          reply(frame.streamId, responsePayload({ error }));
        },
      );
    }
  });
}

/** Attaches ttrpc serving to a listening net.Server. */
export function serveTtrpc(server: Server, handlers: Handlers, log?: (msg: string) => void): void {
  server.on('connection', (socket: Socket) => serveConnection(socket, handlers, log));
}
