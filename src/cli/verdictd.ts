/**
 * verdictd's main: parses the flags (the original Verdictd's where they still mean something), starts the
 * daemon (src/verdictd/daemon.ts) and serves until SIGTERM/SIGINT. Errors are one line, `verdictd: <message>`,
 * and the exit status of their class (docs/errors.md).
 */
import { Command, Option } from 'commander';
import { isIP } from 'node:net';
import { describeError } from '../errors/errors.ts';
import { attesterOf, checkTransport, createSampleLog, verifierTeeOf } from '../rats-tls/sample.ts';
import { verdictdError } from '../verdictd/codes.ts';
import { directoryCollateralSource } from '../verdictd/collateral.ts';
import { startVerdictd } from '../verdictd/daemon.ts';
import { readKbsAdminKey } from '../verdictd/kbs/admin.ts';
import { createKbsServer, DEFAULT_KBS_LISTEN } from '../verdictd/kbs/server.ts';
import { managedManagementServer } from '../verdictd/management/server.ts';
import { createVerdictdLog } from '../verdictd/log.ts';
import { runProgram, type SetResult } from './run-program.ts';

declare const RUNE_VERSION: string | undefined;
const VERSION = typeof RUNE_VERSION === 'string' ? RUNE_VERSION : '0.0.0-dev';

/** Defaults. */
export const DEFAULT_DATA_DIR = '/var/lib/verdictd';
export const DEFAULT_LISTEN = '127.0.0.1:1234';
export const DEFAULT_CLIENT_API = '127.0.0.1:60000';

interface Flags {
  dataDir: string;
  store: string;
  init?: boolean;
  masterKeyFile?: string;
  listen: string;
  allowRemote?: boolean;
  attester?: string;
  verifier: string;
  tls: string;
  crypto: string;
  mutual?: boolean;
  clientApi: string;
  kbsListen: string;
  kbsAdminKey?: string;
  policy: string;
  collateralDir?: string;
  log?: string;
  debug?: boolean;
}

/** A listen address: `host:port`, `[v6]:port`; the port may be 0 (any). */
export interface ListenAddress {
  host: string;
  port: number;
}

function usage(message: string): never {
  throw verdictdError('VERDICTD_ERR_USAGE', message);
}

/** Parses `host:port` or `[v6]:port` (the original's form). */
export function parseListenAddress(text: string, flag: string): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) usage(`Cannot use ${flag} ${JSON.stringify(text)}: give HOST:PORT or [IPv6]:PORT, e.g. ${DEFAULT_LISTEN}`);
  return { host: m[1]!, port };
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || /^::ffff:127\./i.test(host);
}

async function serve(flags: Flags): Promise<number> {
  const eaaAddress = parseListenAddress(flags.listen, '--listen');
  const clientApi = parseListenAddress(flags.clientApi, '--client-api');
  const kbsAddress = flags.kbsListen === 'off' ? undefined : parseListenAddress(flags.kbsListen, '--kbs-listen');
  const listeners: [string, ListenAddress][] = [['--listen', eaaAddress], ['--client-api', clientApi], ...(kbsAddress ? [['--kbs-listen', kbsAddress] as [string, ListenAddress]] : [])];
  for (const [flag, address] of listeners) {
    if (!isLoopback(address.host) && flags.allowRemote !== true) {
      usage(`Cannot listen on ${address.host} (${flag}): it is not a loopback address; give --allow-remote to serve other machines (enclaves elsewhere)`);
    }
  }
  const tee = verifierTeeOf(flags.verifier);
  if (tee === null) {
    usage('Cannot use the verifier "nullverifier": verdictd releases secrets only to attested clients, so it always verifies them (auto, sim, sgx_ecdsa, sgx_ecdsa_qve, tdx_ecdsa, sev_snp)');
  }
  const log = createVerdictdLog({ ...(flags.log !== undefined ? { path: flags.log } : {}), debug: flags.debug === true });
  checkTransport({ tls: flags.tls, crypto: flags.crypto }, createSampleLog('info', (line) => log.info(line.trim())));
  const attester = attesterOf({ ...(flags.attester !== undefined ? { attester: flags.attester } : {}) });
  const collateral = flags.collateralDir === undefined ? undefined : await directoryCollateralSource(flags.collateralDir);
  const kbsAdminKey = flags.kbsAdminKey === undefined ? undefined : readKbsAdminKey(flags.kbsAdminKey);
  // Handlers first, so a signal during startup still stops cleanly.
  let signalled: (signal: NodeJS.Signals) => void = () => {};
  const stopRequest = new Promise<NodeJS.Signals>((resolve) => {
    signalled = resolve;
  });
  process.once('SIGTERM', signalled);
  process.once('SIGINT', signalled);
  process.on('SIGHUP', () => {});
  const daemon = await startVerdictd({
    dataDir: flags.dataDir,
    store: flags.store,
    ...(flags.init === true ? { init: true } : {}),
    ...(flags.masterKeyFile !== undefined ? { masterKeyFile: flags.masterKeyFile } : {}),
    eaa: { host: eaaAddress.host, port: eaaAddress.port, attester, ...(tee ? { expected: { tee } } : {}) },
    policy: flags.policy,
    ...(collateral ? { collateral } : {}),
    log,
    // The management API (gRPC, token in the data dir), started after the EAA listener, stopped before it.
    servers: ({ store, broker, eaa, identity }) => [
      // Then the KBS front end (HTTP), on the same broker and store.
      ...(kbsAddress ? [createKbsServer({ store, broker, log, host: kbsAddress.host, port: kbsAddress.port, policy: flags.policy, ...(kbsAdminKey ? { adminKey: kbsAdminKey } : {}) })] : []),
      managedManagementServer({
        store,
        broker,
        identity,
        // A trust change applies to the next handshake, not after the periodic re-read.
        onTrustChange: () => eaa.refreshTrust(),
        dataDir: flags.dataDir,
        address: flags.clientApi,
        ...(flags.allowRemote === true ? { allowRemote: true } : {}),
        log: (line) => log.info(line),
      }),
    ],
  });
  const eaa = daemon.addresses.get('eaa')!;
  const shown = eaa.address.includes(':') ? `[${eaa.address}]` : eaa.address;
  const management = daemon.addresses.get('management')!;
  const managementShown = management.family === 'unix' ? management.address : `${management.address.includes(':') ? `[${management.address}]` : management.address}:${management.port}`;
  const kbs = daemon.addresses.get('kbs');
  const kbsShown = kbs === undefined ? undefined : `${kbs.address.includes(':') ? `[${kbs.address}]` : kbs.address}:${kbs.port}`;
  log.info(
    `serving EAA on ${shown}:${eaa.port} (attester ${attester.tee}, mutual attestation, policy "${flags.policy}"); management API on ${managementShown}; ${kbsShown === undefined ? 'KBS off' : `KBS on ${kbsShown} (admin endpoints ${kbsAdminKey ? 'on' : 'off'})`}; identity ${daemon.identity.pin}`,
  );
  // The first three lines are what scripts read (docs/verdictd.md); the KBS line comes after them.
  process.stdout.write(`listening on ${shown}:${eaa.port}\nmanagement API on ${managementShown}\nidentity ${daemon.identity.pin}\n${kbsShown === undefined ? '' : `KBS on ${kbsShown}\n`}`);
  const signal = await stopRequest;
  log.info(`received ${signal}, stopping`);
  try {
    await daemon.close();
    return 0;
  } catch (err) {
    log.error(`cannot stop cleanly: ${describeError(err)}`);
    return 1;
  }
}

function buildProgram(setResult: SetResult): Command {
  const program = new Command('verdictd')
    .description(
      [
        'Verifier and key broker: releases keys and resources only to clients whose TEE evidence verifies and passes the policy.',
        '',
        'Serves today: the EAA protocol over mutual RATS-TLS (version, echo, Get KEK, Decrypt, Get Resource Info, Get Resource),',
        'the gRPC management API on --client-api (loopback, bearer token in <data-dir>/admin-token; the `verdict` CLI talks to it),',
        'and on the same listener the ocicrypt key provider (keyprovider.KeyProviderService: WrapKey for skopeo, no token;',
        'UnWrapKey is refused there: attested clients unwrap with EAA Decrypt, as inclavare-keyprovider does),',
        "CoCo Trustee's KBS protocol on --kbs-listen (HTTP: /kbs/v0/auth, attest, resource; EAR tokens; resources as JWE),",
        "every release and denial in the store's audit log (`verdict audit`). See docs/verdictd.md.",
        '',
        'The store is the data directory (default) or, with --store postgres://USER@HOST:PORT/DB, a PostgreSQL database that',
        'several verdictd replicas share; each replica then has its own --data-dir (admin token, lock) and a copy of the one',
        'master key file (--master-key-file): the first replica creates it with --init, a replica with another key is refused.',
        '',
        'Its RATS-TLS certificate is made under one identity key, sealed in the store and created at the first start; clients pin',
        'its public key. At start it prints `listening on HOST:PORT`, `management API on HOST:PORT`, then `identity sha256:<hex>` (the pin;',
        'also `verdict identity`), then `KBS on HOST:PORT` unless --kbs-listen off.',
      ].join('\n'),
    )
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--data-dir <dir>', 'the embedded store (keys and resources encrypted, policies, reference values, audit log), the admin token and the lock', DEFAULT_DATA_DIR)
    .option('--store <where>', 'embedded (in --data-dir), or postgres://USER[:PASSWORD]@HOST:PORT/DATABASE shared by replicas', 'embedded')
    .option('--init', 'create the store and its master key if there is none (first start only; with PostgreSQL, the first replica)')
    .option('--master-key-file <file>', 'the master key file (default <data-dir>/master.key); every PostgreSQL replica needs a copy of the same one')
    .option('-l, --listen <addr>', 'EAA (RATS-TLS) address, HOST:PORT (port 0: any)', DEFAULT_LISTEN)
    .option('--allow-remote', 'allow non-loopback addresses for --listen, --client-api and --kbs-listen')
    .option('--attester <name>', "verdictd's own evidence: sim (with $INCLAVARE_ATTESTATION_SOCKET), tdx_ecdsa, sev_snp, sgx_ecdsa, nullattester (default: sim when available, else nullattester)")
    .option('--verifier <name>', "the clients' TEE: auto (any), sim, sgx_ecdsa, sgx_ecdsa_qve, tdx_ecdsa, sev_snp (nullverifier is refused)", 'auto')
    .option('--tls <name>', 'TLS instance: openssl (nulltls is refused)', 'openssl')
    .option('--crypto <name>', 'crypto instance: openssl, nullcrypto (no effect)', 'openssl')
    .addOption(new Option('-m, --mutual', 'accepted for compatibility: clients are always attested (mutual RATS-TLS)'))
    .option('--client-api <addr>', 'management API address, HOST:PORT (gRPC; loopback unless --allow-remote)', DEFAULT_CLIENT_API)
    .option('--kbs-listen <addr>', 'KBS (HTTP) address, HOST:PORT, or `off` (loopback unless --allow-remote; put TLS in front of it beyond loopback)', DEFAULT_KBS_LISTEN)
    .option('--kbs-admin-key <file>', 'public key (PEM, Ed25519 or P-256) whose JWTs authorise the KBS admin endpoints (policies, reference values, resource upload); without it they are refused')
    .option('--policy <name>', 'the policy that decides releases (a stored policy, else allow-all, deny-all or default)', 'default')
    .option('--collateral-dir <dir>', 'Intel collateral for SGX/TDX clients whose evidence does not carry it: a directory as `tee-tools collateral fetch` writes (tcb_info.json, qe_identity.json, CRLs, issuer chains), re-read as it changes')
    .option('--log <file>', 'log file (JSON lines; default stderr); never holds a key or resource value')
    .option('--debug', 'log debug lines')
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .action((flags: Flags) => {
      setResult(serve(flags));
    });
  return program;
}

/** Runs verdictd with `argv` (without node and script); resolves to the exit status. */
export function main(argv: string[]): Promise<number> {
  return runProgram('verdictd', argv, buildProgram);
}

process.exitCode = await main(process.argv.slice(2));
