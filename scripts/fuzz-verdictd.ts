/**
 * The long fuzz run of verdictd (not part of the test suite; docs/verdictd.md, "Testing"): starts the built
 * verdictd (dist/verdictd.mjs) on a temp data dir, configured like the benchmark's, and throws fuzz inputs
 * (test/support/verdictd-fuzz.ts) at both endpoints in batches: half EAA frames over attested RATS-TLS
 * connections, half management API requests. After each batch the daemon must still be running, release the
 * right key to an attested client and list keys on the management API. Fails (exit 1, printing the seed and
 * the input) on a crash, an INTERNAL answer or status, an OK answer to a fuzzed EAA frame, or a key in any answer.
 *
 * Usage: node --import tsx scripts/fuzz-verdictd.ts [ITERATIONS (default 100000)] [--seed N]
 */
import { generateKeyPairSync, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isInclavareError } from '../src/errors/errors.ts';
import { FrameReader } from '../src/verdictd/eaa/framing.ts';
import { connectAttested, eaaExchange, eaaRaw, startConfiguredVerdictd } from '../test/support/verdictd.ts';
import { eaaFuzzFrame, fuzzRandom, managementFuzzRequest, managementFuzzSeeds } from '../test/support/verdictd-fuzz.ts';

const args = process.argv.slice(2);
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : randomInt(2 ** 31);
const iterations = Number(args.find((a, i) => /^\d+$/.test(a) && (seedAt < 0 || i !== seedAt + 1)) ?? 100_000);
const BATCH = 2000;
const CONNECTIONS = 10;
const WORKERS = 16;
console.log(`fuzz-verdictd: ${iterations} iterations, seed ${seed} (replay: npm run fuzz:verdictd -- ${iterations} --seed ${seed})`);

const work = mkdtempSync(join(tmpdir(), 'verdictd-fuzz-'));
const daemon = await startConfiguredVerdictd({ dataDir: join(work, 'data'), logFile: join(work, 'verdictd.log'), keys: 1 });
const [kid, key] = [...daemon.keys][0]!;
const secrets = [key.toString('base64'), key.toString('hex')];
const r = fuzzRandom(seed);
const seeds = managementFuzzSeeds(generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(), r);
const counts = new Map<string, number>();
const count = (what: string) => counts.set(what, (counts.get(what) ?? 0) + 1);

function fail(batch: number, why: string): never {
  console.error(`fuzz-verdictd: FAILED in batch ${batch} (seed ${seed}): ${why}`);
  console.error(`replay: npm run fuzz:verdictd -- ${iterations} --seed ${seed}; daemon log kept in ${work}`);
  daemon.child.kill('SIGKILL');
  process.exit(1);
}

const started = Date.now();
let done = 0;
for (let batch = 0; done < iterations; batch++) {
  const size = Math.min(BATCH, iterations - done);
  const eaaFrames = Array.from({ length: Math.ceil(size / 2) }, () => eaaFuzzFrame(r));
  const requests = Array.from({ length: Math.floor(size / 2) }, (_, i) => managementFuzzRequest(done + i, seeds, r));
  // A fresh client identity per batch: sim evidence is fresh for 5 minutes.
  const id = await daemon.identity();
  const perConnection = Math.ceil(eaaFrames.length / CONNECTIONS);
  const eaa = Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      const frames = eaaFrames.slice(c * perConnection, (c + 1) * perConnection);
      const out = await eaaRaw(daemon.port, id, frames).catch((err: Error) => fail(batch, `an EAA connection failed: ${err.message}`));
      const text = out.toString();
      for (const s of secrets) if (text.includes(s)) fail(batch, `a fuzzed EAA frame got the key; frames: ${frames.map((f) => f.toString('hex')).join(' ')}`);
      const reader = new FrameReader({ maxFrameBytes: 1 << 20 });
      for (const e of reader.push(out)) {
        if (e.kind !== 'request') continue; // an answer split oddly by the fuzzed stream; never OK (checked above for keys)
        const reply = JSON.parse(e.text) as { status?: string; code?: string };
        if (reply.status !== 'Fail' || reply.code === 'INTERNAL') fail(batch, `answer ${e.text.slice(0, 300)}; frames: ${frames.map((f) => f.toString('hex')).join(' ')}`);
        count(`eaa ${reply.code}`);
      }
    }),
  );
  let next = 0;
  const management = Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next < requests.length) {
        const { method, bytes } = requests[next++]!;
        try {
          await daemon.management.callRaw(method, bytes);
          count('management OK');
        } catch (err) {
          if (!isInclavareError(err) || err.errorClass === 'internal') fail(batch, `${method} ${Buffer.from(bytes).toString('hex')}: ${String(err)}`);
          count(`management ${err.code}`);
        }
      }
    }),
  );
  await Promise.all([eaa, management]);
  done += size;
  // Still serving, correctly.
  if (daemon.child.exitCode !== null) fail(batch, `verdictd exited with ${daemon.child.exitCode}`);
  const answer = await eaaExchange(connectAttested(daemon.port, id), JSON.stringify({ command: 'Get KEK', kids: [kid] })).catch((err: Error) => fail(batch, err.message));
  if (answer !== JSON.stringify({ status: 'OK', data: { [kid]: key.toString('base64') } })) fail(batch, `Get KEK answered ${answer.slice(0, 300)}`);
  await daemon.management.call('KeyManagerService/ListKeys', {}).catch((err: Error) => fail(batch, `ListKeys failed: ${err.message}`));
  if (batch % 10 === 9 || done >= iterations) console.log(`${done} iterations, ${((Date.now() - started) / 1000).toFixed(0)} s, daemon healthy`);
}
const code = await daemon.stop();
if (code !== 0) fail(-1, `verdictd exited with ${code} on SIGTERM`);
rmSync(work, { recursive: true, force: true });
console.log(`fuzz-verdictd: passed, ${iterations} iterations in ${((Date.now() - started) / 1000).toFixed(0)} s, seed ${seed}`);
console.log([...counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', '));
