// A minimal CRI v1 RuntimeService client (the kubelet's side of the API), enough to drive a pod
// through containerd's CRI plugin: see cri.proto for the messages it speaks.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cri.proto');

/** runtime.v1.NamespaceMode; NODE shares the host's namespace. */
export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
/** runtime.v1.PodSandboxState. */
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
/** runtime.v1.ContainerState. */
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

/** runtime.v1.NamespaceOption. */
export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  targetId?: string;
}

/** runtime.v1.PodSandboxMetadata. */
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

/** runtime.v1.PodSandboxConfig (subset). */
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroupParent?: string;
    securityContext?: { namespaceOptions?: NamespaceOption; readonlyRootfs?: boolean; privileged?: boolean };
    sysctls?: Record<string, string>;
  };
}

/** runtime.v1.ContainerConfig (subset). */
export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string; annotations?: Record<string, string> };
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: { key: string; value: string }[];
  mounts?: { containerPath: string; hostPath: string; readonly?: boolean }[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: {
    securityContext?: { privileged?: boolean; namespaceOptions?: NamespaceOption; readonlyRootfs?: boolean; noNewPrivs?: boolean };
  };
}

/** runtime.v1.VersionResponse. */
export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

/** runtime.v1.PodSandboxStatus (subset). */
export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: PodSandboxState;
  createdAt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

/** runtime.v1.ContainerStatus (subset). */
export interface ContainerStatus {
  id: string;
  metadata: { name: string; attempt: number } | null;
  state: ContainerState;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  imageRef: string;
  reason: string;
  message: string;
  logPath: string;
}

/** runtime.v1.ExecSyncResponse. */
export interface ExecSyncResponse {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

type UnaryCallback = (err: grpc.ServiceError | null, res?: unknown) => void;
type UnaryMethod = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: UnaryCallback) => grpc.ClientUnaryCall;

let runtimeServiceCtor: grpc.ServiceClientConstructor | undefined;

function loadRuntimeService(): grpc.ServiceClientConstructor {
  if (runtimeServiceCtor) return runtimeServiceCtor;
  const def = protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: Number, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def);
  const ctor = ((pkg.runtime as grpc.GrpcObject).v1 as grpc.GrpcObject).RuntimeService;
  if (typeof ctor !== 'function') throw new Error(`Cannot load runtime.v1.RuntimeService from ${PROTO_PATH}`);
  runtimeServiceCtor = ctor as grpc.ServiceClientConstructor;
  return runtimeServiceCtor;
}

/** True if `e` is a gRPC error with the given status code (e.g. grpc.status.NOT_FOUND). */
export function isGrpcError(e: unknown, code: grpc.status): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** A CRI RuntimeService client on a unix socket. Each call has a deadline (default 30 s). */
export class CriClient {
  readonly #client: grpc.Client;
  readonly #timeoutMs: number;

  constructor(socketPath: string, { timeoutMs = 30_000 }: { timeoutMs?: number } = {}) {
    const Ctor = loadRuntimeService();
    this.#client = new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure());
    this.#timeoutMs = timeoutMs;
  }

  #call<T>(method: string, req: object, timeoutMs = this.#timeoutMs): Promise<T> {
    const fn = (this.#client as unknown as Record<string, UnaryMethod>)[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`CRI client has no method ${method}`));
    return new Promise<T>((resolve, reject) => {
      fn.call(this.#client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new Error(`CRI ${method} failed: ${err.details || err.message}`, { cause: err }));
        else resolve(res as T);
      });
    });
  }

  /** Version reports the runtime's name and CRI API version. */
  version(): Promise<VersionResponse> {
    return this.#call('Version', { version: 'v1' });
  }

  /** RunPodSandbox with a named runtime handler; resolves to the sandbox id. */
  async runPodSandbox(config: PodSandboxConfig, runtimeHandler: string): Promise<string> {
    const res = await this.#call<{ podSandboxId: string }>('RunPodSandbox', { config, runtimeHandler }, 120_000);
    return res.podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.#call('StopPodSandbox', { podSandboxId }, 60_000);
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.#call('RemovePodSandbox', { podSandboxId }, 60_000);
  }

  async podSandboxStatus(podSandboxId: string): Promise<PodSandboxStatus> {
    const res = await this.#call<{ status: PodSandboxStatus }>('PodSandboxStatus', { podSandboxId });
    return res.status;
  }

  /** CreateContainer in a sandbox; resolves to the container id. */
  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const res = await this.#call<{ containerId: string }>('CreateContainer', { podSandboxId, config, sandboxConfig }, 60_000);
    return res.containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.#call('StartContainer', { containerId }, 60_000);
  }

  /** StopContainer: the stop signal, then SIGKILL after `timeoutSeconds`. */
  async stopContainer(containerId: string, timeoutSeconds: number): Promise<void> {
    await this.#call('StopContainer', { containerId, timeout: timeoutSeconds }, (timeoutSeconds + 30) * 1000);
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.#call('RemoveContainer', { containerId }, 60_000);
  }

  async containerStatus(containerId: string): Promise<ContainerStatus> {
    const res = await this.#call<{ status: ContainerStatus }>('ContainerStatus', { containerId });
    return res.status;
  }

  /** ExecSync runs `cmd` in the container and collects its output (timeout in seconds, 0 = none). */
  execSync(containerId: string, cmd: string[], timeoutSeconds = 10): Promise<ExecSyncResponse> {
    return this.#call('ExecSync', { containerId, cmd, timeout: timeoutSeconds }, (timeoutSeconds + 30) * 1000);
  }

  /** UpdateContainerResources (Linux): the limits the runtime applies to a running container. */
  async updateContainerResources(containerId: string, linux: { memoryLimitInBytes?: number; cpuShares?: number; cpuQuota?: number; cpuPeriod?: number }): Promise<void> {
    await this.#call('UpdateContainerResources', { containerId, linux }, 60_000);
  }

  close(): void {
    this.#client.close();
  }
}

let imageServiceCtor: grpc.ServiceClientConstructor | undefined;

/** A CRI ImageService client on a unix socket (PullImage, RemoveImage). */
export class CriImageClient {
  readonly #client: grpc.Client;

  constructor(socketPath: string) {
    if (!imageServiceCtor) {
      const def = protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: Number, enums: String, defaults: true });
      const ctor = ((grpc.loadPackageDefinition(def).runtime as grpc.GrpcObject).v1 as grpc.GrpcObject).ImageService;
      if (typeof ctor !== 'function') throw new Error(`Cannot load runtime.v1.ImageService from ${PROTO_PATH}`);
      imageServiceCtor = ctor as grpc.ServiceClientConstructor;
    }
    this.#client = new imageServiceCtor(`unix://${socketPath}`, grpc.credentials.createInsecure());
  }

  #call<T>(method: string, req: object, timeoutMs: number): Promise<T> {
    const fn = (this.#client as unknown as Record<string, UnaryMethod>)[method]!;
    return new Promise<T>((resolve, reject) => {
      fn.call(this.#client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new Error(`CRI ${method} failed: ${err.details || err.message}`, { cause: err }));
        else resolve(res as T);
      });
    });
  }

  /** PullImage; resolves to the image ref (its id). The error's message is what containerd answered. */
  async pullImage(image: string, timeoutMs = 180_000): Promise<string> {
    return (await this.#call<{ imageRef: string }>('PullImage', { image: { image } }, timeoutMs)).imageRef;
  }

  async removeImage(image: string): Promise<void> {
    await this.#call('RemoveImage', { image: { image } }, 60_000);
  }

  close(): void {
    this.#client.close();
  }
}
