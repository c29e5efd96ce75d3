// The shim's event publisher: over a ttrpc server that plays containerd's Events service (Forward with an
// Envelope, in order), and through the publish binary when that socket cannot be reached.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventPublisher } from '../../../src/shim/events.ts';
import { serveTtrpc } from '../../../src/shim/ttrpc/server.ts';
import { decodeMessage, encodeMessage } from '../../../src/shim/ttrpc/messages.ts';

interface Envelope {
  timestamp?: { seconds: bigint };
  namespace: string;
  topic: string;
  event?: { typeUrl: string; value: Uint8Array };
}

void describe('EventPublisher', () => {
  test('forwards events over containerd\'s ttrpc Events service, in order, as Envelopes', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shim-events-'));
    const sock = path.join(dir, 'containerd.sock.ttrpc');
    const got: Envelope[] = [];
    const server = createServer();
    serveTtrpc(server, new Map([[
      'containerd.services.events.ttrpc.v1.Events/Forward',
      async (payload: Uint8Array) => {
        // Answer the first one late: the second must still come after it.
        const env = decodeMessage<{ envelope: Envelope }>('ForwardRequest', payload).envelope;
        if (got.length === 0 && env.topic === '/tasks/start') await new Promise((r) => setTimeout(r, 100));
        got.push(env);
        return encodeMessage('Empty', {});
      },
    ]]));
    await new Promise<void>((r) => server.listen(sock, r));
    const pub = new EventPublisher({ namespace: 'ns1', ttrpcAddress: sock, address: '', publishBinary: '', log: () => undefined });
    try {
      void pub.publish('TaskStart', { containerId: 'c1', pid: 42 });
      await pub.publish('TaskExit', { containerId: 'c1', id: 'c1', pid: 42, exitStatus: 3 });
      assert.deepEqual(got.map((e) => e.topic), ['/tasks/start', '/tasks/exit']);
      assert.equal(got[0]!.namespace, 'ns1');
      assert.ok((got[0]!.timestamp?.seconds ?? 0n) > 0n);
      assert.equal(got[1]!.event?.typeUrl, 'containerd.events.TaskExit');
      const exit = decodeMessage<{ containerId: string; exitStatus: number }>('TaskExit', got[1]!.event!.value);
      assert.equal(exit.containerId, 'c1');
      assert.equal(exit.exitStatus, 3);
      assert.deepEqual(pub.sent, { ttrpc: 2, binary: 0, failed: 0 });
    } finally {
      pub.close();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('falls back to the publish binary (the Any on stdin) when containerd\'s ttrpc socket is not there', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shim-events-'));
    const bin = path.join(dir, 'publish');
    const record = path.join(dir, 'record');
    writeFileSync(bin, `#!/bin/sh\necho "$@" > ${record}.args\ncat > ${record}.stdin\n`);
    chmodSync(bin, 0o755);
    const pub = new EventPublisher({ namespace: 'ns2', ttrpcAddress: path.join(dir, 'missing.sock'), address: '/run/x.sock', publishBinary: bin, log: () => undefined });
    try {
      await pub.publish('TaskOOM', { containerId: 'c9' });
      assert.equal(readFileSync(`${record}.args`, 'utf8').trim(), '--address /run/x.sock publish --topic /tasks/oom --namespace ns2');
      const any = decodeMessage<{ typeUrl: string; value: Uint8Array }>('Any', readFileSync(`${record}.stdin`));
      assert.equal(any.typeUrl, 'containerd.events.TaskOOM');
      assert.equal(decodeMessage<{ containerId: string }>('TaskOOM', any.value).containerId, 'c9');
      assert.deepEqual(pub.sent, { ttrpc: 0, binary: 1, failed: 0 });
    } finally {
      pub.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
