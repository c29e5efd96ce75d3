/**
 * The EAA client init-runelet uses for secrets (src/verdictd/eaa/client.ts): answers in any chunking, refusals
 * as EaaRefusal with verdictd's code, a refusal between `Get Resource Info` and `Get Resource`, and fuzzed
 * answers: every one resolves or rejects within its time limit, never hangs or crashes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { EaaClient, EaaRefusal } from '../../../src/verdictd/eaa/client.ts';

/** A socket whose peer answers each request with the next scripted answer, cut into chunks of `chunk` bytes. */
function scripted(answers: (Buffer | string)[], chunk = 3): Duplex {
  const socket = new Duplex({
    read() {},
    write(_data, _enc, done) {
      const next = answers.shift();
      if (next !== undefined) {
        const bytes = Buffer.from(next);
        for (let i = 0; i < bytes.length; i += chunk) {
          const piece = bytes.subarray(i, i + chunk);
          setImmediate(() => socket.push(piece));
        }
      }
      done();
    },
  });
  return socket;
}

const ok = (data: unknown): string => JSON.stringify({ status: 'OK', data });
const fail = (error: string, code: string): string => JSON.stringify({ status: 'Fail', data: {}, error, code });

test('a JSON answer in three-byte pieces, with braces inside strings', async () => {
  const client = new EaaClient(scripted([ok({ note: 'a } and a { inside', n: [1, { m: 2 }] })]));
  assert.deepEqual(await client.request({ command: 'version' }), { status: 'OK', data: { note: 'a } and a { inside', n: [1, { m: 2 }] } });
});

test('getResource(): Info, then exactly base64size bytes of base64', async () => {
  const value = Buffer.from('the database password \u00e9\u0000\u00ff');
  const b64 = value.toString('base64');
  const client = new EaaClient(scripted([ok({ base64size: String(b64.length) }), b64], 5));
  assert.deepEqual(await client.getResource('app/db/password'), value);
});

test('a refusal is an EaaRefusal with verdictd message and code', async () => {
  const client = new EaaClient(scripted([fail('policy "default" denies: rule "measurement" failed', 'VERDICTD_ERR_POLICY_DENIED')]));
  await assert.rejects(client.getResource('a/b/c'), (err: unknown) => err instanceof EaaRefusal && err.code === 'VERDICTD_ERR_POLICY_DENIED' && /rule "measurement"/.test(err.message));
});

test('a refusal between Info and Resource (base64 of a Fail answer, another length) is read when the connection stalls', async () => {
  const refusal = Buffer.from(fail('Cannot release resource a/b/c: not found', 'VERDICTD_ERR_NOT_FOUND')).toString('base64');
  const client = new EaaClient(scripted([ok({ base64size: '4000' }), refusal]), { idleMs: 50 });
  await assert.rejects(client.getResource('a/b/c'), (err: unknown) => err instanceof EaaRefusal && err.code === 'VERDICTD_ERR_NOT_FOUND');
});

test('a connection closed before the answer is an error, not a hang', async () => {
  const socket = scripted([]);
  const client = new EaaClient(socket);
  const pending = client.request({ command: 'version' });
  setImmediate(() => socket.push(null));
  await assert.rejects(pending, /the connection was closed/);
});

test('fuzz: 2000 random and mutated answers each resolve or reject within the limit', async () => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const samples = [ok({ base64size: '8' }), 'QUJDREVGR0g=', fail('x', 'Y'), ok({}), '{"status":"OK"}'];
  for (let i = 0; i < 2000; i++) {
    const base = Buffer.from(samples[rand(samples.length)]!);
    const bytes = rand(3) === 0 ? Buffer.from(Array.from({ length: rand(64) }, () => rand(256))) : base;
    if (bytes.length > 0) for (let k = rand(4); k > 0; k--) bytes[rand(bytes.length)] = rand(256);
    const socket = scripted([bytes, Buffer.from(samples[rand(samples.length)]!)], 1 + rand(7));
    const client = new EaaClient(socket, { idleMs: 5 });
    const call = rand(2) === 0 ? client.request({ command: 'version' }, 50) : client.getResource('a/b/c', 50);
    setTimeout(() => socket.push(null), 20);
    const outcome = await call.then(
      () => 'value',
      (err: unknown) => (err instanceof Error ? 'error' : 'not an Error'),
    );
    assert.notEqual(outcome, 'not an Error');
  }
});
