/**
 * Benchmark: attested key releases by the built verdictd (dist/verdictd.mjs, a child started with `--init` on a
 * temp data dir and configured through its management API: a trusted sim platform key, a `default` reference
 * set, two keys) versus the same EAA requests over plain node:tls, in the same run, rounds alternating.
 *
 * - attested release: a fresh mutual RATS-TLS connection (full handshake, no session reuse) whose client
 *   certificate carries sim evidence, which verdictd verifies; `Get KEK` for one kid; the answer checked
 *   against the key the management API returned; close.
 * - plain request: the same, over node:tls to the baseline server below (no client certificate, no evidence).
 *
 * The baseline is a child process running this file with `--serve-plain`: a node:tls server (TLS 1.3, a P-256
 * self-signed certificate the client trusts as its CA) that answers each connection with verdictd's own
 * per-connection code (`serveEaaConnection`: framing, commands, broker: policy, store read, fsync'd audit record,
 * the daemon's JSON log) over a copy of the same data directory, for the claims of a client certificate verified
 * once at startup. The difference between the two is what attestation costs: the client certificate and its
 * evidence, verified on every handshake.
 *
 * - KBS round trip (in the same run, same daemon): Trustee's KBS protocol on verdictd's KBS listener, as a CoCo
 *   guest does it (test/support/kbs-client.ts over fetch, keep-alive): `auth` (nonce, cookie), `attest` with
 *   fresh sim evidence binding SHA-384 of the runtime-data (nonce, a P-256 tee-pubkey) → EAR token, `GET
 *   resource` → JWE (ECDH-ES+A256KW, A256GCM), decrypted and compared. Three HTTP requests, one evidence
 *   verification, one token signed, one audited release per round trip.
 *
 * Reported per concurrency level (clients each doing one release after another): releases per second, p50 and
 * p99 latency (connect to close), and attested/plain; KBS round trips per second and their latency. Aims (docs/benchmarks.md): >= 50% of the plain rate at
 * 10 clients; p99 < 10x p50.
 *
 * Usage: node --import tsx bench/verdictd.ts [--releases N] [--rounds N] [--clients 1,10,100] [--cpu-prof-dir DIR]
 * (--cpu-prof-dir: both servers write a V8 CPU profile there when they stop)
 */
import { type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import { createNullAttester } from '../src/rats-tls/attesters/null.ts';
import { createAttestedCertificate } from '../src/rats-tls/certificate.ts';
import type { RatsTlsIdentity } from '../src/rats-tls/identity.ts';
import { checkPeerCertificate } from '../src/rats-tls/verify-peer.ts';
import { Broker } from '../src/verdictd/broker.ts';
import { serveEaaConnection } from '../src/verdictd/eaa/server.ts';
import { createVerdictdLog } from '../src/verdictd/log.ts';
import { openEmbeddedStore } from '../src/verdictd/store/embedded.ts';
import { startListening } from '../test/support/rats-tls.ts';
import { KbsClient, openResource, runtimeDataBinding, teeKeyPair, type TeeKeyPair } from '../test/support/kbs-client.ts';
import { connectAttested, eaaExchange, startConfiguredVerdictd } from '../test/support/verdictd.ts';
import type { FlattenedJWE } from 'jose';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : fallback;
}

const TLS_OPTIONS = { minVersion: 'TLSv1.3' as const };

/** `--serve-plain DATA_DIR CLIENT_CERT LOG_FILE CERT_OUT`: the plain-TLS baseline server (a child of the bench). */
async function servePlain(dataDir: string, clientCert: string, logFile: string, certOut: string): Promise<void> {
  const store = await openEmbeddedStore(dataDir);
  const broker = new Broker({ store });
  await broker.policy('default');
  const { at: _at, ...evidence } = await broker.evidenceOptions(new Date());
  void _at;
  // The claims every connection is served for: a client certificate verified once, as verdictd does per handshake.
  const { peer } = checkPeerCertificate(new Uint8Array(new X509Certificate(readFileSync(clientCert)).raw), { evidence, allowUnattested: false, cache: false });
  const log = createVerdictdLog({ path: logFile });
  const own = await createAttestedCertificate({ attester: createNullAttester() }); // an ordinary self-signed P-256 certificate
  writeFileSync(certOut, own.certPem);
  const server = tls.createServer({ ...TLS_OPTIONS, cert: own.certPem, key: own.keyPem }, (socket) => serveEaaConnection(socket, peer.claims, { broker, log }));
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on 127.0.0.1:${(server.address() as AddressInfo).port}\n`));
  process.once('SIGTERM', () => {
    server.close();
    void store.close().then(() => process.exit(0));
  });
}

if (process.argv.includes('--serve-plain')) {
  const [dataDir, clientCert, logFile, certOut] = process.argv.slice(process.argv.indexOf('--serve-plain') + 1);
  await servePlain(dataDir!, clientCert!, logFile!, certOut!);
} else {
  await bench();
}

async function bench(): Promise<void> {
  const RELEASES = Number(arg('--releases', '600'));
  const ROUNDS = Number(arg('--rounds', '3'));
  const CLIENTS = arg('--clients', '1,10,100').split(',').map(Number);
  const work = mkdtempSync(join(tmpdir(), 'verdictd-bench-'));
  const children: ChildProcess[] = [];
  const profile = arg('--cpu-prof-dir', '');
  const nodeArgs = profile === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', profile];
  const daemon = await startConfiguredVerdictd({ dataDir: join(work, 'attested'), logFile: join(work, 'verdictd.log'), keys: 2, nodeArgs });
  try {
    // Enclaves, each with its own key and certificate (sim evidence over that key); client c is enclave c % 32
    // (the client's SecureContext cache, src/rats-tls/secure-context.ts, holds 64: one process with 100
    // identities would rebuild a context per connection, a cost no real enclave has).
    const identities: RatsTlsIdentity[] = [];
    for (let i = 0; i < Math.min(32, Math.max(...CLIENTS)); i++) identities.push(await daemon.identity());
    // The baseline serves a copy of the same store (same master key, keys, policy, references, trust).
    const plainDir = join(work, 'plain');
    cpSync(daemon.dataDir, plainDir, { recursive: true, filter: (src) => !src.endsWith('verdictd.pid') });
    writeFileSync(join(work, 'client.pem'), identities[0]!.current().cert);
    const plainPort = await startListening(
      children,
      process.execPath,
      [...nodeArgs, '--import', 'tsx', fileURLToPath(import.meta.url), '--serve-plain', plainDir, join(work, 'client.pem'), join(work, 'plain.log'), join(work, 'plain-server.pem')],
      /^listening on 127\.0\.0\.1:(\d+)$/,
    );
    // Built once: a `ca` option would build a new context (and CA store) on every connection.
    const plainContext = tls.createSecureContext({ ...TLS_OPTIONS, ca: readFileSync(join(work, 'plain-server.pem'), 'utf8') });

    const kids = [...daemon.keys.keys()];
    const expected = new Map(kids.map((kid) => [kid, JSON.stringify({ status: 'OK', data: { [kid]: daemon.keys.get(kid)!.toString('base64') } })]));
    let reused = 0;
    const noReuse = (socket: tls.TLSSocket): tls.TLSSocket => socket.once('secureConnect', () => (reused += socket.isSessionReused() ? 1 : 0));
    const sides = {
      attested: (client: number) => noReuse(connectAttested(daemon.port, identities[client % identities.length]!)),
      plain: () => noReuse(tls.connect({ ...TLS_OPTIONS, host: '127.0.0.1', port: plainPort, secureContext: plainContext, checkServerIdentity: () => undefined })),
    };
    type Side = keyof typeof sides | 'kbs';
    const SIDES: readonly Side[] = ['attested', 'plain', 'kbs'];
    // KBS guests: each its own TEE key (client c is guest c % 32).
    const teeKeys: TeeKeyPair[] = [];
    for (let i = 0; i < identities.length; i++) teeKeys.push(await teeKeyPair('ec'));
    const kbsBase = `http://127.0.0.1:${daemon.kbsPort}`;
    /** One KBS round trip: auth, attest, resource, decrypt; throws on any wrong answer. */
    const kbsRoundTrip = async (c: number): Promise<void> => {
      const key = teeKeys[c % teeKeys.length]!;
      const kbs = new KbsClient(kbsBase);
      const runtimeData = { nonce: await kbs.auth('sample'), 'tee-pubkey': key.jwk };
      const attest = await kbs.attest(runtimeData, { evidence: Buffer.from(daemon.simEvidence(runtimeDataBinding(runtimeData))).toString('base64') });
      if (attest.status !== 200) throw new Error(`kbs: attest answered ${attest.status}: ${JSON.stringify(attest.body)}`);
      const answer = await kbs.resource(daemon.resource.path);
      if (answer.status !== 200 || !(await openResource(answer.body as FlattenedJWE, key.privateKey)).equals(daemon.resource.value)) throw new Error(`kbs: wrong resource answer ${answer.status}`);
    };

    const serverPid = { attested: daemon.child.pid!, plain: children[0]!.pid!, kbs: daemon.child.pid! };
    /** CPU time (ms) a process used so far: utime + stime of /proc/PID/stat, in clock ticks of 10 ms. */
    const cpuMsOf = (pid: number) => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    };

    /** `releases` releases by `clients` clients, one after another each; latencies in ms, CPU ms of the server and of the clients. */
    async function run(side: Side, clients: number, releases: number): Promise<{ ms: number; latencies: number[]; serverCpuMs: number; clientCpuMs: number }> {
      let next = 0;
      const latencies: number[] = [];
      const client = async (c: number): Promise<void> => {
        while (next < releases) {
          const kid = kids[next++ % kids.length]!;
          const t0 = process.hrtime.bigint();
          if (side === 'kbs') {
            await kbsRoundTrip(c);
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            continue;
          }
          const answer = await eaaExchange(sides[side](c), JSON.stringify({ command: 'Get KEK', kids: [kid] }));
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          if (answer !== expected.get(kid)) throw new Error(`${side}: wrong answer for ${kid}: ${answer.slice(0, 200)}`);
        }
      };
      const start = process.hrtime.bigint();
      const serverCpu = cpuMsOf(serverPid[side]);
      const clientCpu = process.cpuUsage();
      await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
      const used = process.cpuUsage(clientCpu);
      return { ms: Number(process.hrtime.bigint() - start) / 1e6, latencies, serverCpuMs: cpuMsOf(serverPid[side]) - serverCpu, clientCpuMs: (used.user + used.system) / 1000 };
    }

    const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
    console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, node ${process.version}, ${ROUNDS} alternating rounds x ${RELEASES} releases per side and level`);
    const results: string[] = [];
    let aimsHold = true;
    for (const clients of CLIENTS) {
      // Warm-up: JIT, OpenSSL tables, first-use costs on both sides.
      for (const side of SIDES) await run(side, clients, Math.max(100, clients * 2));
      const totals = Object.fromEntries(SIDES.map((s) => [s, { ms: 0, latencies: [] as number[], serverCpuMs: 0, clientCpuMs: 0 }])) as Record<Side, { ms: number; latencies: number[]; serverCpuMs: number; clientCpuMs: number }>;
      for (let round = 0; round < ROUNDS; round++) {
        for (const side of round % 2 === 0 ? SIDES : [...SIDES].reverse()) {
          const r = await run(side, clients, RELEASES);
          totals[side].ms += r.ms;
          totals[side].latencies.push(...r.latencies);
          totals[side].serverCpuMs += r.serverCpuMs;
          totals[side].clientCpuMs += r.clientCpuMs;
        }
      }
      const stats = (side: Side) => {
        const sorted = totals[side].latencies.sort((a, b) => a - b);
        const n = RELEASES * ROUNDS;
        return { rate: n / (totals[side].ms / 1000), p50: percentile(sorted, 50), p99: percentile(sorted, 99), server: totals[side].serverCpuMs / n, client: totals[side].clientCpuMs / n };
      };
      const a = stats('attested');
      const p = stats('plain');
      const k = stats('kbs');
      const ratio = a.rate / p.rate;
      if ((clients === 10 && ratio < 0.5) || a.p99 >= 10 * a.p50) aimsHold = false;
      results.push(
        `${String(clients).padStart(3)} clients  attested ${a.rate.toFixed(0).padStart(5)} rel/s (p50 ${a.p50.toFixed(2)} ms, p99 ${a.p99.toFixed(2)} ms, p99/p50 ${(a.p99 / a.p50).toFixed(1)})   ` +
          `plain ${p.rate.toFixed(0).padStart(5)} req/s (p50 ${p.p50.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms)   attested/plain ${ratio.toFixed(2)}`,
      );
      console.log(results.at(-1));
      console.log(`      CPU per release: server ${a.server.toFixed(2)} ms attested, ${p.server.toFixed(2)} ms plain; clients ${a.client.toFixed(2)} ms attested, ${p.client.toFixed(2)} ms plain`);
      console.log(
        `      KBS round trips (auth + attest + resource) ${k.rate.toFixed(0).padStart(5)}/s (p50 ${k.p50.toFixed(2)} ms, p99 ${k.p99.toFixed(2)} ms), KBS/attested EAA ${(k.rate / a.rate).toFixed(2)}; CPU per round trip: server ${k.server.toFixed(2)} ms, clients ${k.client.toFixed(2)} ms`,
      );
    }
    console.log(`sessions reused: ${reused} (must be 0); aims (>= 0.50 of plain at 10 clients, p99 < 10x p50): ${aimsHold ? 'met' : 'NOT met'}`);
    if (reused > 0) process.exitCode = 1;
  } finally {
    const code = await daemon.stop();
    for (const child of children) child.kill('SIGTERM');
    if (code !== 0) console.error(`verdictd exited with ${code}`);
    rmSync(work, { recursive: true, force: true });
  }
}
