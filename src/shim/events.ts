/**
 * Publishes task events to containerd. The primary path is containerd's own ttrpc socket ($TTRPC_ADDRESS,
 * given to every shim): `containerd.services.events.ttrpc.v1.Events/Forward` with an Envelope — one
 * connection for the shim's life, no process per event. When that socket cannot be reached, the event goes
 * through `<publish-binary> --address A publish --topic T --namespace NS` (the Any on stdin), as the shim v2
 * contract allows. Events are sent one at a time, in order (TaskExit never overtakes TaskStart).
 */
import { spawn } from 'node:child_process';
import { TtrpcClient } from './ttrpc/client.ts';
import { anyOf, encodeMessage, timestampOf, type TYPE_URLS } from './ttrpc/messages.ts';

/** An event name and its topic. */
export const TOPICS = {
  TaskCreate: '/tasks/create',
  TaskStart: '/tasks/start',
  TaskDelete: '/tasks/delete',
  TaskExit: '/tasks/exit',
  TaskOOM: '/tasks/oom',
  TaskExecAdded: '/tasks/exec-added',
  TaskExecStarted: '/tasks/exec-started',
  TaskPaused: '/tasks/paused',
  TaskResumed: '/tasks/resumed',
} as const satisfies Partial<Record<keyof typeof TYPE_URLS, string>>;

/** An event the shim publishes. */
export type EventName = keyof typeof TOPICS;

/** Where events go. */
export interface PublisherOptions {
  namespace: string;
  /** containerd's ttrpc socket ($TTRPC_ADDRESS); '' → the publish binary only. */
  ttrpcAddress: string;
  /** containerd's gRPC socket (for the publish binary). */
  address: string;
  publishBinary: string;
  log: (msg: string) => void;
}

/** Publishes events in order. */
export class EventPublisher {
  readonly #opts: PublisherOptions;
  #client: TtrpcClient | undefined;
  #queue: Promise<void> = Promise.resolve();
  /** Counts by path, for docs/benchmarks and tests. */
  readonly sent = { ttrpc: 0, binary: 0, failed: 0 };

  constructor(opts: PublisherOptions) {
    this.#opts = opts;
  }

  /** Queues an event; resolves when it was delivered (or given up). */
  publish(name: EventName, event: Record<string, unknown>): Promise<void> {
    const any = anyOf(name, event);
    const topic = TOPICS[name];
    this.#queue = this.#queue.then(() => this.#send(topic, any));
    return this.#queue;
  }

  /** Resolves when every queued event was handled. */
  flush(): Promise<void> {
    return this.#queue;
  }

  async #send(topic: string, any: { typeUrl: string; value: Uint8Array }): Promise<void> {
    if (this.#opts.ttrpcAddress !== '') {
      try {
        this.#client ??= new TtrpcClient(this.#opts.ttrpcAddress);
        const envelope = { timestamp: timestampOf(new Date()), namespace: this.#opts.namespace, topic, event: any };
        await this.#client.call('containerd.services.events.ttrpc.v1.Events', 'Forward', encodeMessage('ForwardRequest', { envelope }));
        this.sent.ttrpc++;
        return;
      } catch (e) {
        this.#opts.log(`events: Forward of ${topic} over ${this.#opts.ttrpcAddress} failed (${(e as Error).message}); using the publish binary`);
        this.#client?.close();
        this.#client = undefined;
      }
    }
    await this.#publishBinary(topic, any);
  }

  #publishBinary(topic: string, any: { typeUrl: string; value: Uint8Array }): Promise<void> {
    const { publishBinary, address, namespace } = this.#opts;
    if (publishBinary === '') {
      this.sent.failed++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const child = spawn(publishBinary, ['--address', address, 'publish', '--topic', topic, '--namespace', namespace], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', () => undefined);
      child.on('close', (code) => {
        if (code === 0) this.sent.binary++;
        else {
          this.sent.failed++;
          this.#opts.log(`events: ${publishBinary} publish ${topic} failed: ${err.trim()}`);
        }
        resolve();
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(encodeMessage('Any', { typeUrl: any.typeUrl, value: any.value }));
    });
  }

  close(): void {
    this.#client?.close();
  }
}
