/**
 * A client of the management API (what `verdict` uses): typed unary calls with the admin token, and gRPC
 * error statuses turned back into the InclavareError the server threw (its code from the
 * `inclavare-error-code` metadata), so a client's exit status follows the error table like the server's
 * answer did.
 */
import { Client, credentials as grpcCredentials, Metadata, status as grpcStatus, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { errorFromGrpcStatus, type InclavareError } from '../../errors/errors.ts';
import { verdictdError } from '../codes.ts';
import { DEFAULT_MANAGEMENT_ADDRESS } from './address.ts';
import { decodeMessage, encodeMessage, grpcPath, MAX_MESSAGE_BYTES, messagesOf, type MethodName, type RequestOf, type ResponseOf } from './messages.ts';
import { AUTHORIZATION_METADATA } from './token.ts';

/** Options of {@link ManagementClient}. */
export interface ManagementClientOptions {
  /** The admin token (64 hex digits); omitted, calls go without one (and are refused). */
  token?: string;
  /** Channel credentials (default insecure: loopback). */
  credentials?: ChannelCredentials;
  /** Per-call deadline in milliseconds (default 30 s). */
  timeoutMs?: number;
}

function fromServiceError(err: ServiceError, address: string, method: MethodName): InclavareError {
  const code = err.metadata?.get('inclavare-error-code')[0];
  if (typeof code === 'string') return errorFromGrpcStatus(code, err.details, err.code);
  if (err.code === grpcStatus.UNAVAILABLE || err.code === grpcStatus.DEADLINE_EXCEEDED) {
    return verdictdError('VERDICTD_ERR_UNAVAILABLE', `Cannot reach verdictd's management API at ${address}: ${err.details} (is verdictd running with --client-api ${address}?)`, { cause: err });
  }
  return errorFromGrpcStatus('VERDICTD_ERR_UNAVAILABLE', `Cannot run ${method} at ${address}: ${err.details || grpcStatus[err.code]}`, err.code, { cause: err });
}

/** Calls the management API at one address. */
export class ManagementClient {
  readonly address: string;
  #client: Client;
  #token: string | undefined;
  #timeoutMs: number;

  constructor(address: string = DEFAULT_MANAGEMENT_ADDRESS, options: ManagementClientOptions = {}) {
    this.address = address;
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#client = new Client(address, options.credentials ?? grpcCredentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
  }

  /** Calls `Service/Method` with `request` (absent fields take their defaults). */
  call<M extends MethodName>(method: M, request: Partial<RequestOf<M>>): Promise<ResponseOf<M>> {
    const [requestName, responseName] = messagesOf(method);
    return this.callRaw(method, encodeMessage(requestName, request as never)).then((bytes) => {
      try {
        return decodeMessage(responseName, bytes) as ResponseOf<M>;
      } catch (err) {
        throw verdictdError('VERDICTD_ERR_UNAVAILABLE', `Cannot read verdictd's answer to ${method}: ${(err as Error).message}`, { cause: err });
      }
    });
  }

  /** Sends raw request bytes (tests, fuzzing) and resolves to the raw answer. */
  callRaw(method: MethodName, bytes: Uint8Array): Promise<Uint8Array> {
    const metadata = new Metadata();
    if (this.#token !== undefined) metadata.set(AUTHORIZATION_METADATA, `Bearer ${this.#token}`);
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest<Buffer, Buffer>(
        grpcPath(method),
        (b) => b,
        (b) => b,
        Buffer.from(bytes),
        metadata,
        { deadline: Date.now() + this.#timeoutMs },
        (err, value) => {
          if (err) reject(fromServiceError(err, this.address, method));
          else resolve(new Uint8Array(value!));
        },
      );
    });
  }

  /** Closes the channel. */
  close(): void {
    this.#client.close();
  }
}
