/**
 * The built verdictd (dist/verdictd.mjs) as users start it, for the benchmark and the long fuzz run: a child on
 * a temp data dir (`--init`) and random loopback ports, configured through its management API the way
 * docs/verdictd.md's example does with `verdict` (trust a sim platform key, a `default` reference set, keys),
 * and attested EAA connections to it with sim evidence signed by that platform key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type tls from 'node:tls';
import { createSimEvidence } from '../../src/attestation/sim/create.ts';
import { createLocalSimAttester } from '../../src/rats-tls/attesters/sim-local.ts';
import { connect } from '../../src/rats-tls/client.ts';
import { createRatsTlsIdentity, type RatsTlsIdentity } from '../../src/rats-tls/identity.ts';
import type { RatsTlsVerifyOptions } from '../../src/rats-tls/options.ts';
import { FrameReader } from '../../src/verdictd/eaa/framing.ts';
import { ManagementClient } from '../../src/verdictd/management/client.ts';
import { adminTokenPath, readAdminToken } from '../../src/verdictd/management/token.ts';
import { repoRoot } from './fixtures.ts';

export const VERDICTD = join(repoRoot, 'dist/verdictd.mjs');

/** A running verdictd child and what it was configured with. */
export interface ConfiguredVerdictd {
  child: ChildProcess;
  dataDir: string;
  port: number;
  managementPort: number;
  /** The KBS listener's port. */
  kbsPort: number;
  management: ManagementClient;
  /** A resource set through the management API, released by the `default` policy to the configured sim clients. */
  resource: { path: string; value: Buffer };
  /** Sim evidence of the configured measurement over `reportData`, signed by the trusted platform key (a KBS client's). */
  simEvidence(reportData: Uint8Array): Uint8Array;
  /** Created keys: kid → value. */
  keys: Map<string, Buffer>;
  /** Makes a client identity whose sim evidence passes the `default` policy. */
  identity(): Promise<RatsTlsIdentity>;
  /** Ends the management channel and the identities, SIGTERMs the child and resolves to its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node dist/verdictd.mjs ARGS` and resolves to the EAA, management and KBS ports it prints. The KBS
 * listener is on a random loopback port unless ARGS give --kbs-listen (`off`: `kbsPort` is undefined).
 */
export async function spawnVerdictd(args: string[], nodeArgs: string[] = []): Promise<{ child: ChildProcess; port: number; managementPort: number; kbsPort: number | undefined; pin: string; lines: string[] }> {
  const kbsArg = args.indexOf('--kbs-listen');
  const kbsOff = kbsArg >= 0 && args[kbsArg + 1] === 'off';
  const child = spawn(process.execPath, [...nodeArgs, VERDICTD, ...args, ...(kbsArg >= 0 ? [] : ['--kbs-listen', '127.0.0.1:0'])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  let pin: string | undefined;
  for await (const line of createInterface({ input: child.stdout! })) {
    lines.push(line);
    pin ??= /^identity (sha256:[0-9a-f]{64})$/.exec(line)?.[1];
    const kbsPort = /^KBS on 127\.0\.0\.1:(\d+)$/.exec(line)?.[1];
    if (pin === undefined || (!kbsOff && kbsPort === undefined)) continue;
    const port = lines.map((l) => /^listening on 127\.0\.0\.1:(\d+)$/.exec(l)?.[1]).find(Boolean);
    const managementPort = lines.map((l) => /^management API on 127\.0\.0\.1:(\d+)$/.exec(l)?.[1]).find(Boolean);
    if (port === undefined || managementPort === undefined) break;
    return { child, port: Number(port), managementPort: Number(managementPort), kbsPort: kbsPort === undefined ? undefined : Number(kbsPort), pin, lines };
  }
  throw new Error(`verdictd exited without printing its addresses and identity (${JSON.stringify(lines)}): ${stderr}`);
}

/**
 * Starts verdictd with `--init` on `dataDir` (logging to `logFile`), then through the management API trusts a
 * fresh sim platform key, names one measurement and that key in the `default` reference set, and creates
 * `keys` keys. `nodeArgs` go to node before the script (`--cpu-prof`). Resolves once an attested client is released a key (the EAA front end re-reads trust every 5 s).
 */
export async function startConfiguredVerdictd(options: { dataDir: string; logFile: string; keys?: number; nodeArgs?: string[] }): Promise<ConfiguredVerdictd> {
  const { child, port, managementPort, kbsPort } = await spawnVerdictd(['--data-dir', options.dataDir, '--init', '-l', '127.0.0.1:0', '--client-api', '127.0.0.1:0', '--log', options.logFile], options.nodeArgs);
  const management = new ManagementClient(`127.0.0.1:${managementPort}`, { token: readAdminToken(adminTokenPath(options.dataDir)) });
  const platform = generateKeyPairSync('ed25519');
  const measurement = createHash('sha384').update('verdictd-bench-image').digest();
  const { platformKeyId } = await management.call('TrustService/AddSimPlatformKey', { pem: platform.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
  await management.call('ReferenceService/SetReference', { name: 'default', content: JSON.stringify({ values: { measurement: [measurement.toString('hex')], platformKeyId: [platformKeyId] } }) });
  const resource = { path: 'bench/kbs/secret', value: Buffer.from('a resource released through KBS') };
  await management.call('ResourceService/SetResource', { path: resource.path, data: resource.value });
  const keys = new Map<string, Buffer>();
  for (let i = 0; i < (options.keys ?? 2); i++) {
    const { uuid } = await management.call('KeyManagerService/CreateKey', {});
    keys.set(uuid, Buffer.from((await management.call('KeyManagerService/GetKey', { uuid })).key));
  }
  const identities: RatsTlsIdentity[] = [];
  const identity = async (): Promise<RatsTlsIdentity> => {
    const id = await createRatsTlsIdentity({ attester: createLocalSimAttester({ platformKey: platform.privateKey, measurement }) });
    identities.push(id);
    return id;
  };
  const daemon: ConfiguredVerdictd = {
    child,
    dataDir: options.dataDir,
    port,
    managementPort,
    kbsPort: kbsPort!,
    management,
    resource,
    simEvidence: (reportData) => createSimEvidence({ measurement, reportData, platformKey: platform.privateKey, at: new Date() }),
    keys,
    identity,
    async stop() {
      management.close();
      for (const id of identities) id.close();
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      return exited;
    },
  };
  const probe = await identity();
  const [kid, value] = [...keys][0]!;
  for (let tries = 0; ; tries++) {
    const answer = await eaaExchange(connectAttested(port, probe), JSON.stringify({ command: 'Get KEK', kids: [kid] })).catch(() => undefined);
    if (answer === JSON.stringify({ status: 'OK', data: { [kid]: value.toString('base64') } })) return daemon;
    if (tries >= 100) {
      await daemon.stop();
      throw new Error(`verdictd does not release keys to the configured sim client: ${answer}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One object for every connection, as a real client keeps its options: its verdict cache (per object) then works. */
const CLIENT_VERIFY: RatsTlsVerifyOptions = { allowUnattested: true };

/** A fresh attested EAA connection to 127.0.0.1:`port` (verdictd runs without a TEE: its certificate is unattested). */
export function connectAttested(port: number, id: RatsTlsIdentity, callback?: () => void): tls.TLSSocket {
  return connect({ host: '127.0.0.1', port, identity: id, verify: CLIENT_VERIFY }, callback);
}

/**
 * Once `socket` is connected, sends `request` (one write), resolves to the text of the first whole JSON answer,
 * and closes the connection; rejects if the connection fails or closes without an answer.
 */
export function eaaExchange(socket: tls.TLSSocket, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader({ maxFrameBytes: 1 << 20 });
    let answer: string | undefined;
    socket.once('secureConnect', () => socket.write(request));
    socket.on('data', (d: Buffer) => {
      for (const e of reader.push(d)) {
        if (answer === undefined && e.kind === 'request') {
          answer = e.text;
          socket.end();
        }
      }
    });
    socket.once('error', reject);
    socket.once('close', () => (answer === undefined ? reject(new Error('the connection closed without an answer')) : resolve(answer)));
  });
}

/**
 * Sends `frames` (one write each) on a fresh attested connection, half-closes, and resolves to every byte the
 * server sent.
 */
export function eaaRaw(port: number, id: RatsTlsIdentity, frames: readonly (string | Buffer)[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connectAttested(port, id, () => {
      for (const f of frames) socket.write(f);
      socket.end();
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}
