/**
 * The `rats-tls` sample (docs/rats-tls.md, "Sample"): server and client with the C RATS-TLS samples' flags,
 * instance names and wire protocol (docs/rats-tls.md, "Sample"). The client sends {@link SAMPLE_MESSAGE} in one write; the
 * server reads once (≤ 256 bytes), echoes it and closes; the client succeeds only when the echo matches.
 * Fails closed: an unattested peer is accepted only with the verifier `nullverifier`.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import type { TeeType } from '../attestation/claims.ts';
import { loadIntelCollateral } from '../collateral/intel-dir.ts';
import { fetchIntelCollateralForQuote } from '../collateral/intel-pcs.ts';
import { describeError } from '../errors/errors.ts';
import type { Attester } from './attesters/attester.ts';
import { createNullAttester } from './attesters/null.ts';
import { ATTESTATION_SOCKET_ENV, createSimAttester } from './attesters/sim.ts';
import { createLocalSimAttester } from './attesters/sim-local.ts';
import { createTsmAttester } from './attesters/tsm.ts';
import { createGramineAttester } from './attesters/gramine.ts';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import type { EndorsementsSource } from './endorsements.ts';
import { connect } from './client.ts';
import { createRatsTlsIdentity } from './identity.ts';
import type { RatsTlsVerifyOptions } from './options.ts';
import { createServer } from './server.ts';

/** The samples' message: 40 bytes. */
export const SAMPLE_MESSAGE = '\x1b[91mHello and welcome to RATS-TLS!\x1b[0m\n';
/** The server reads at most this much, once. */
export const SAMPLE_READ_LIMIT = 256;

/** Log levels of the C samples (`-l`). */
export const LOG_LEVELS = ['off', 'fatal', 'error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Attester instance names: the C ones (tdx_ecdsa and sev_snp through configfs-tsm, sgx_ecdsa through Gramine's /dev/attestation; the others not yet) and ours. */
const HARDWARE_ATTESTERS = ['sgx_ecdsa', 'sgx_la', 'tdx_ecdsa', 'sev_snp', 'sev', 'csv'];
/** Verifier instance name → the TEE its evidence must come from (undefined: any; null: accept unattested). */
const VERIFIERS: Readonly<Record<string, TeeType | undefined | null>> = {
  nullverifier: null,
  auto: undefined,
  sim: 'sim',
  sgx_ecdsa: 'sgx',
  sgx_ecdsa_qve: 'sgx',
  tdx_ecdsa: 'tdx',
  sev_snp: 'snp',
};

/** Flags shared by server and client. */
export interface SampleOptions {
  attester?: string;
  verifier?: string;
  tls?: string;
  crypto?: string;
  mutual?: boolean;
  endorsements?: boolean;
  logLevel?: LogLevel;
  ip: string;
  port: number;
  debugEnclave?: boolean;
  /** Ours: sign sim evidence in-process with this Ed25519 private key (PEM file); demos and tests only. */
  simPlatformKey?: string;
  /** Ours: trusted sim platform public keys (PEM files). */
  trustAnchor?: string[];
  /** Ours: expected measurement (hex). */
  expectMeasurement?: string;
  /** Ours: in-band nonce freshness (both ends). */
  nonce?: boolean;
  /** Ours: Intel collateral directory: verifies the peer's quote, and with `-e` is attached to our certificate. */
  collateral?: string;
  /** Ours: with `-e`, fetch the collateral for our quote from this PCS/PCCS (cached for the process's life). */
  pccsUrl?: string;
  /** Client: talk to Verdictd (`-E`): send the message as an EAA `echo` request. */
  verdictd?: boolean;
}

/** The flags that pick instances (attester, verifier, tls, crypto) without the address: shared with verdictd. */
export type InstanceOptions = Omit<SampleOptions, 'ip' | 'port'>;

/** Where the sample logs (stderr by default). */
export type SampleLog = (level: Exclude<LogLevel, 'off'>, message: string) => void;

/** A logger honouring `-l`. */
export function createSampleLog(level: LogLevel = 'warn', write: (line: string) => void = (l) => process.stderr.write(l)): SampleLog {
  const max = LOG_LEVELS.indexOf(level);
  return (lvl, message) => {
    if (LOG_LEVELS.indexOf(lvl) <= max) write(`[${lvl}] ${message}\n`);
  };
}

function invalid(message: string): never {
  throw ratsTlsError(E.INVALID_ARGUMENT, message);
}

/** The attester named by `-a` (default: sim when a sim source exists, else nullattester, as the C priority order ends). */
export function attesterOf(options: InstanceOptions): Attester {
  const name = options.attester ?? (options.simPlatformKey !== undefined || process.env[ATTESTATION_SOCKET_ENV] ? 'sim' : 'nullattester');
  if (name === 'nullattester' || name === 'null') return createNullAttester();
  if (name === 'sim') {
    if (options.simPlatformKey !== undefined) return createLocalSimAttester({ platformKey: readFileSync(options.simPlatformKey, 'utf8'), debug: options.debugEnclave === true });
    return createSimAttester();
  }
  // On a TDX or SNP confidential VM: configfs-tsm.
  if (name === 'tdx_ecdsa' || name === 'tdx') return createTsmAttester({ tee: 'tdx' });
  if (name === 'sev_snp' || name === 'snp') return createTsmAttester({ tee: 'snp' });
  // Inside a Gramine enclave: /dev/attestation.
  if (name === 'sgx_ecdsa' || name === 'sgx') return createGramineAttester();
  if (HARDWARE_ATTESTERS.includes(name)) {
    throw ratsTlsError(E.ATTESTER, `Cannot use the attester "${name}": this build has no ${name} attester yet (available: sim, nullattester, tdx_ecdsa, sev_snp, sgx_ecdsa)`);
  }
  return invalid(`Cannot use the attester "${name}": unknown instance (nullattester, sim, ${HARDWARE_ATTESTERS.join(', ')})`);
}

/** The collateral of --collateral DIR; a directory that cannot be read is a usage error (exit 2). */
async function collateralOf(dir: string) {
  try {
    return await loadIntelCollateral(dir);
  } catch (err) {
    throw ratsTlsError(E.INVALID_ARGUMENT, `Cannot use --collateral ${dir}: ${describeError(err)}`, { cause: err });
  }
}

/** The TEE the verifier instance `name` (`-v`) requires: undefined for any, null for `nullverifier` (unattested allowed). */
export function verifierTeeOf(name: string): TeeType | undefined | null {
  if (!Object.hasOwn(VERIFIERS, name)) return invalid(`Cannot use the verifier "${name}": unknown instance (${Object.keys(VERIFIERS).join(', ')})`);
  return VERIFIERS[name];
}

/** The verification options of `-v` and our flags. */
export async function verifyOf(options: SampleOptions): Promise<RatsTlsVerifyOptions> {
  const tee = verifierTeeOf(options.verifier ?? 'auto');
  const anchors = (options.trustAnchor ?? []).map((file) => readFileSync(file, 'utf8'));
  const expected = {
    ...(tee ? { tee } : {}),
    ...(options.expectMeasurement !== undefined ? { measurements: { measurement: options.expectMeasurement } } : {}),
  };
  const intelCollateral = options.collateral !== undefined ? await collateralOf(options.collateral) : undefined;
  const evidence = {
    ...(anchors.length > 0 ? { sim: { platformKeys: anchors } } : {}),
    ...(intelCollateral !== undefined ? { sgx: { collateral: intelCollateral }, tdx: { collateral: intelCollateral } } : {}),
  };
  return {
    ...(Object.keys(evidence).length > 0 ? { evidence } : {}),
    ...(Object.keys(expected).length > 0 ? { expected } : {}),
    // nullverifier is the one explicit way to accept a peer without evidence; evidence that is present still verifies.
    allowUnattested: tee === null,
    ...(options.nonce === true ? { nonce: 'in-band' as const } : {}),
  };
}

/** Checks `-t` and `-c`: `openssl` (or `nullcrypto`, which changes nothing); `nulltls` is refused. */
export function checkTransport(options: InstanceOptions, log: SampleLog): void {
  const tlsName = options.tls ?? 'openssl';
  if (tlsName === 'nulltls') invalid('Cannot use the tls instance "nulltls": plain TCP carries no attestation and is not supported');
  if (tlsName !== 'openssl') invalid(`Cannot use the tls instance "${tlsName}": unknown instance (openssl)`);
  const crypto = options.crypto ?? 'openssl';
  if (crypto !== 'openssl' && crypto !== 'nullcrypto') invalid(`Cannot use the crypto instance "${crypto}": unknown instance (openssl, nullcrypto)`);
  if (crypto === 'nullcrypto') log('info', 'crypto "nullcrypto" has no effect: node:crypto (OpenSSL) makes the keys');
}

/**
 * The endorsements of `-e` (docs/rats-tls.md, "Endorsements extension": Intel evidence only): the --collateral directory, or collateral
 * fetched from --pccs-url for each fresh quote. Returns the source and a cleanup for the fetch cache.
 */
export async function endorsementsOf(options: SampleOptions, attester: Attester): Promise<{ source: EndorsementsSource | undefined; cleanup: () => Promise<void> }> {
  const none = { source: undefined, cleanup: async () => undefined };
  if (options.endorsements !== true) return none;
  if (attester.tee !== 'sgx' && attester.tee !== 'tdx') {
    return invalid(`Cannot attach endorsements (-e): they are defined for Intel evidence (sgx_ecdsa, tdx_ecdsa), and the ${attester.tee} attester has none`);
  }
  if (options.pccsUrl !== undefined) {
    const cacheDir = await mkdtemp(join(tmpdir(), 'rats-tls-collateral-'));
    return {
      source: (evidence) => fetchIntelCollateralForQuote(evidence, { baseUrl: options.pccsUrl!, cacheDir }),
      cleanup: () => rm(cacheDir, { recursive: true, force: true }),
    };
  }
  if (options.collateral !== undefined) return { source: await collateralOf(options.collateral), cleanup: none.cleanup };
  return invalid('Cannot attach endorsements (-e): give --collateral DIR or --pccs-url URL (where the collateral for the quote comes from)');
}

function describePeer(socket: tls.TLSSocket): string {
  const peer = socket.ratsTls;
  if (peer === undefined) return 'not attested (one-way: only the server is verified)';
  if (peer.claims === undefined) return `unattested peer accepted (${peer.format})`;
  // The claims the peer was accepted on: every measurement and platform identifier its evidence carries.
  const c = peer.claims;
  const values = [...Object.entries(c.measurements), ...Object.entries(c.platform)].filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${String(v)}`);
  const facts = [`debug ${c.debug}`, `TCB ${c.tcbStatus ?? 'n/a'}`, ...(peer.fresh ? ['fresh (in-band nonce)'] : [])];
  return `verified ${c.tee} peer, ${values.join(', ')} (${facts.join(', ')})`;
}

/** A running sample server. */
export interface SampleServer {
  address: AddressInfo;
  close(): Promise<void>;
}

/** Starts the echo server; resolves once it listens. */
export async function runServer(options: SampleOptions, log: SampleLog = createSampleLog(options.logLevel)): Promise<SampleServer> {
  checkTransport(options, log);
  const attester = attesterOf(options);
  const verify = await verifyOf(options);
  const endorsements = await endorsementsOf(options, attester);
  const server = createServer({ attester, mutual: options.mutual === true, verify, ...(endorsements.source ? { endorsements: endorsements.source } : {}) }, (socket) => {
    log('info', `client ${socket.remoteAddress}:${socket.remotePort}: ${describePeer(socket)}`);
    socket.on('error', (err) => log('warn', `client connection: ${describeError(err)}`));
    socket.once('data', (data: Buffer) => {
      const request = data.subarray(0, SAMPLE_READ_LIMIT);
      log('debug', `received ${request.length} bytes`);
      socket.end(request);
    });
  });
  server.on('tlsClientError', (err) => log('error', `handshake or verification failed, connection dropped: ${describeError(err)}`));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.ip, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await endorsements.cleanup();
    throw err;
  }
  return {
    address: server.address() as AddressInfo,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await endorsements.cleanup();
    },
  };
}

/** What the client got. */
export interface SampleClientResult {
  ok: boolean;
  echo: string;
  peer: tls.TLSSocket['ratsTls'];
}

/** Connects, sends the message in one write, reads until the server closes, compares the echo. */
export async function runClient(options: SampleOptions, log: SampleLog = createSampleLog(options.logLevel)): Promise<SampleClientResult> {
  checkTransport(options, log);
  // The C client always presents a certificate (a mutual server requires one); ours too.
  const attester = attesterOf(options);
  const verify = await verifyOf(options);
  const endorsements = await endorsementsOf(options, attester);
  const identity = await createRatsTlsIdentity({ attester, ...(endorsements.source ? { endorsements: endorsements.source } : {}) }).catch(async (err: unknown) => {
    await endorsements.cleanup();
    throw err;
  });
  const message = options.verdictd === true ? JSON.stringify({ command: 'echo', data: SAMPLE_MESSAGE }) : SAMPLE_MESSAGE;
  try {
    return await new Promise<SampleClientResult>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connect({ host: options.ip, port: options.port, identity, verify }, () => {
        log('info', `server ${options.ip}:${options.port}: ${describePeer(socket)}`);
        socket.write(message);
      });
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.once('error', reject);
      socket.once('close', () => {
        const echo = Buffer.concat(chunks).toString();
        const expected = options.verdictd === true ? SAMPLE_MESSAGE : message;
        resolve({ ok: socket.ratsTls !== undefined && echo === expected, echo, peer: socket.ratsTls });
      });
    });
  } finally {
    identity.close();
    await endorsements.cleanup();
  }
}
