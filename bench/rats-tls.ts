/**
 * Benchmark: RATS-TLS (sim evidence, the server's certificate made once and reused: evidence cached per key;
 * the client's verdict on it cached too, and separately without that cache: "uncached") versus plain node:tls with an ordinary self-signed P-256 certificate that the client trusts as its CA, in the
 * same process and run, rounds alternating. Both use TLS 1.3 and P-256 keys on 127.0.0.1.
 *
 * - handshakes: sequential connections, each a full handshake (no resumption), verification of the server,
 *   then a one-byte echo so that both ends finished; reported as handshakes per second and time per handshake.
 * - throughput: one connection per round, the client sends 64 MiB in 64 KiB writes, the server acknowledges the
 *   last byte; reported as MiB/s.
 *
 * Usage: node --import tsx bench/rats-tls.ts [--handshakes N] [--mib N] [--rounds N]
 */
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { cpus } from 'node:os';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { createNullAttester } from '../src/rats-tls/attesters/null.ts';
import { createLocalSimAttester } from '../src/rats-tls/attesters/sim-local.ts';
import { createAttestedCertificate } from '../src/rats-tls/certificate.ts';
import { connect } from '../src/rats-tls/client.ts';
import { staticRatsTlsIdentity } from '../src/rats-tls/identity.ts';
import type { RatsTlsVerifyOptions } from '../src/rats-tls/options.ts';
import { createServer } from '../src/rats-tls/server.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const HANDSHAKES = arg('--handshakes', 300);
const MIB = arg('--mib', 64);
const ROUNDS = arg('--rounds', 4);
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

type Connect = (port: number) => tls.TLSSocket;

/** A server: one-byte echo for handshakes; for bulk, counts bytes and answers one byte after `total`. */
function onConnection(total: number) {
  return (socket: tls.TLSSocket) => {
    let received = 0;
    socket.on('data', (d: Buffer) => {
      if (total === 0) {
        socket.end(d.subarray(0, 1));
        return;
      }
      received += d.length;
      if (received >= total) socket.end('k');
    });
    socket.on('error', () => undefined);
  };
}

async function listen(server: tls.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function roundTrip(connectTo: Connect, port: number, payload: () => void | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connectTo(port);
    socket.once('secureConnect', () => {
      const p = payload();
      if (p) socket.write(p);
    });
    socket.on('data', () => undefined);
    socket.once('error', reject);
    socket.once('close', () => resolve());
  });
}

async function handshakes(connectTo: Connect, port: number, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await roundTrip(connectTo, port, () => Buffer.of(1));
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function bulk(connectTo: Connect, port: number, bytes: number): Promise<number> {
  let start = 0n;
  await new Promise<void>((resolve, reject) => {
    const socket = connectTo(port);
    socket.once('secureConnect', () => {
      start = process.hrtime.bigint();
      let sent = 0;
      const pump = () => {
        while (sent < bytes) {
          sent += CHUNK.length;
          if (!socket.write(CHUNK)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    socket.on('data', () => undefined);
    socket.once('error', reject);
    socket.once('close', () => resolve());
  });
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const platform = generateKeyPairSync('ed25519');
const attester = createLocalSimAttester({ platformKey: platform.privateKey });
const verify: RatsTlsVerifyOptions = { evidence: { simPlatformKeys: [platform.publicKey] } };
const uncachedVerify: RatsTlsVerifyOptions = { ...verify, cache: false };
const attestedCert = await createAttestedCertificate({ attester });
const plainCert = await createAttestedCertificate({ attester: createNullAttester() }); // an ordinary self-signed P-256 certificate
const tlsOptions = { minVersion: 'TLSv1.3' as const };
// Built once: a `ca` option would build a new context (and CA store) on every connection.
const plainContext = tls.createSecureContext({ ...tlsOptions, ca: plainCert.certPem });
const bytes = MIB * 1024 * 1024;

// Mutual: the client presents a certificate too. Plain: the server trusts the client's ordinary certificate as
// its CA; attested: both ends verify each other's evidence (verdicts cached), and the server fails a
// certificate-less client in the handshake (its keylog hook, src/rats-tls/tls.ts).
const clientAttested = await createAttestedCertificate({ attester });
const clientPlain = await createAttestedCertificate({ attester: createNullAttester() });
const plainMutualContext = tls.createSecureContext({ ...tlsOptions, ca: plainCert.certPem, cert: clientPlain.certPem, key: clientPlain.keyPem });
const plainMutualServer = { ...tlsOptions, cert: plainCert.certPem, key: plainCert.keyPem, requestCert: true, rejectUnauthorized: true, ca: clientPlain.certPem };
const clientIdentity = staticRatsTlsIdentity({ cert: clientAttested.certPem, key: clientAttested.keyPem });
const serverIdentity = () => staticRatsTlsIdentity({ cert: attestedCert.certPem, key: attestedCert.keyPem });

const sides = {
  plain: {
    hs: tls.createServer({ ...tlsOptions, cert: plainCert.certPem, key: plainCert.keyPem }, onConnection(0)),
    bulk: tls.createServer({ ...tlsOptions, cert: plainCert.certPem, key: plainCert.keyPem }, onConnection(bytes)),
    connect: ((port) => tls.connect({ ...tlsOptions, host: '127.0.0.1', port, secureContext: plainContext, checkServerIdentity: () => undefined })) as Connect,
  },
  attested: {
    hs: createServer({ ...tlsOptions, identity: staticRatsTlsIdentity({ cert: attestedCert.certPem, key: attestedCert.keyPem }) }, onConnection(0)),
    bulk: createServer({ ...tlsOptions, identity: staticRatsTlsIdentity({ cert: attestedCert.certPem, key: attestedCert.keyPem }) }, onConnection(bytes)),
    connect: ((port) => connect({ ...tlsOptions, host: '127.0.0.1', port, verify })) as Connect,
  },
  // Every handshake verifies the evidence again (verify.cache: false): the first connection to a peer.
  uncached: {
    hs: createServer({ ...tlsOptions, identity: staticRatsTlsIdentity({ cert: attestedCert.certPem, key: attestedCert.keyPem }) }, onConnection(0)),
    bulk: createServer({ ...tlsOptions, identity: staticRatsTlsIdentity({ cert: attestedCert.certPem, key: attestedCert.keyPem }) }, onConnection(bytes)),
    connect: ((port) => connect({ ...tlsOptions, host: '127.0.0.1', port, verify: uncachedVerify })) as Connect,
  },
  plainMutual: {
    hs: tls.createServer(plainMutualServer, onConnection(0)),
    bulk: tls.createServer(plainMutualServer, onConnection(bytes)),
    connect: ((port) => tls.connect({ host: '127.0.0.1', port, secureContext: plainMutualContext, checkServerIdentity: () => undefined })) as Connect,
  },
  mutual: {
    hs: createServer({ ...tlsOptions, mutual: true, identity: serverIdentity(), verify }, onConnection(0)),
    bulk: createServer({ ...tlsOptions, mutual: true, identity: serverIdentity(), verify }, onConnection(bytes)),
    connect: ((port) => connect({ ...tlsOptions, host: '127.0.0.1', port, identity: clientIdentity, verify })) as Connect,
  },
};
type Side = keyof typeof sides;
const SIDES: readonly Side[] = ['plain', 'attested', 'uncached', 'plainMutual', 'mutual'];
const ports = {} as Record<Side, { hs: number; bulk: number }>;
for (const side of SIDES) ports[side] = { hs: await listen(sides[side].hs), bulk: await listen(sides[side].bulk) };

// Warm-up: JIT, OpenSSL tables, first-use costs on both sides.
for (const side of SIDES) {
  await handshakes(sides[side].connect, ports[side].hs, 50);
  await bulk(sides[side].connect, ports[side].bulk, bytes);
}

const totals = Object.fromEntries(SIDES.map((side) => [side, { hsMs: 0, bulkMs: 0 }])) as Record<Side, { hsMs: number; bulkMs: number }>;
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? SIDES : [...SIDES].reverse();
  for (const side of order) {
    totals[side].hsMs += await handshakes(sides[side].connect, ports[side].hs, HANDSHAKES);
    totals[side].bulkMs += await bulk(sides[side].connect, ports[side].bulk, bytes);
  }
}

const perHandshake = (side: Side) => totals[side].hsMs / (HANDSHAKES * ROUNDS);
const mibPerSecond = (side: Side) => (MIB * ROUNDS) / (totals[side].bulkMs / 1000);
console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, node ${process.version}, ${ROUNDS} alternating rounds`);
for (const side of SIDES) {
  console.log(
    `${side.padEnd(11)}  handshakes: ${(1000 / perHandshake(side)).toFixed(0).padStart(5)}/s (${perHandshake(side).toFixed(3)} ms each)   throughput: ${mibPerSecond(side).toFixed(0).padStart(5)} MiB/s`,
  );
}
const hsRatio = perHandshake('attested') / perHandshake('plain');
const tpRatio = mibPerSecond('attested') / mibPerSecond('plain');
console.log(`handshake time attested/plain: ${hsRatio.toFixed(2)}x (target <= 1.30)   throughput attested/plain: ${tpRatio.toFixed(2)}x (target >= 0.95)`);
console.log(`without the verdict cache: handshake time ${(perHandshake('uncached') / perHandshake('plain')).toFixed(2)}x, throughput ${(mibPerSecond('uncached') / mibPerSecond('plain')).toFixed(2)}x`);
console.log(
  `mutual (both ends present and verify): handshake time ${(perHandshake('mutual') / perHandshake('plainMutual')).toFixed(2)}x plain mutual TLS, throughput ${(mibPerSecond('mutual') / mibPerSecond('plainMutual')).toFixed(2)}x`,
);
for (const side of Object.values(sides)) {
  side.hs.close();
  side.bulk.close();
}
