/**
 * The built daemon (dist/inclavared.mjs, `npm run build`): started as users and rune start it, on unix
 * sockets in temp dirs; registration, evidence, a restart that keeps the sockets, deletion.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifySimEvidence } from '../../src/attestation/sim/verify.ts';
import { isInclavareError } from '../../src/errors/errors.ts';
import { bindMeasurement, ensureDaemon, getPlatformCert, registerContainer, requestEvidence, requestTee, unregisterContainer } from '../../src/attestation-socket/client.ts';
import { INCLAVARED_ERROR_CODES } from '../../src/attestation-socket/codes.ts';

const repo = new URL('../..', import.meta.url).pathname;
const INCLAVARED = join(repo, 'dist/inclavared.mjs');

let work: string;
/** Daemons this file started, killed in after() whatever happens. */
const pids = new Set<number>();

before(() => {
  assert.ok(existsSync(INCLAVARED), 'dist/inclavared.mjs is missing: run `npm run build` first');
  work = mkdtempSync(join(tmpdir(), 'incl-it-'));
});
after(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

const inclavared = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const res = spawnSync(process.execPath, [INCLAVARED, ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
};

async function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts `inclavared serve` in the foreground (as a service manager would) and waits for its socket. */
async function serve(root: string, dataDir: string): Promise<ChildProcess> {
  const logFd = openSync(join(work, 'serve.log'), 'a');
  const child = spawn(process.execPath, [INCLAVARED, 'serve', '--root', root, '--data-dir', dataDir], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  pids.add(child.pid!);
  await waitFor(() => existsSync(join(root, 'control.sock')), 'the control socket');
  return child;
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const code = await exited;
  pids.delete(child.pid!);
  return code;
}

test('inclavared platform-cert prints the PEM certificate, creating the key with mode 0600', () => {
  const dataDir = join(work, 'pc-data');
  const res = inclavared(['platform-cert', '--data-dir', dataDir]);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
  assert.equal(statSync(join(dataDir, 'platform-key.pem')).mode & 0o777, 0o600);
  assert.equal(inclavared(['platform-cert', '--data-dir', dataDir]).stdout, res.stdout, 'the same certificate every time');
});

test('inclavared reports bad usage and failures in one line', () => {
  const bad = inclavared(['serve', '--no-such-flag']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^inclavared: unknown option '--no-such-flag' \(see inclavared --help\)\n$/);
  const fail = inclavared(['serve', '--root', join(work, 'x'.repeat(120)), '--data-dir', join(work, 'd')]);
  assert.equal(fail.status, 1);
  assert.match(fail.stderr, /^inclavared: Cannot create the control socket: .* unix socket paths are limited to 107.*\n$/);
});

test('the built daemon serves evidence, keeps its sockets across a restart, and removes them on delete', async () => {
  const root = join(work, 'r');
  const dataDir = join(work, 'd');
  let daemon = await serve(root, dataDir);
  assert.equal(statSync(join(root, 'control.sock')).mode & 0o777, 0o600);

  const measurement = createHash('sha384').update('integration').digest();
  const { socket, socketDir } = await registerContainer(root, { id: 'it-1', measurement, tee: 'sim' });
  const cert = await getPlatformCert(root);
  assert.equal(cert, readFileSync(join(dataDir, 'platform-cert.pem'), 'utf8'));
  const check = async (): Promise<void> => {
    const reportData = randomBytes(64);
    const answer = await requestEvidence(socket, reportData);
    const claims = verifySimEvidence(answer.evidence, { trustedPlatformKeys: [cert], at: new Date() });
    assert.equal(claims.measurements.measurement, measurement.toString('hex'));
    assert.equal(claims.reportData, reportData.toString('hex'));
  };
  await check();

  assert.equal(await stop(daemon), 0);
  assert.ok(existsSync(socketDir), 'the socket directory (bind-mounted by rune) survives the daemon');
  daemon = await serve(root, dataDir);
  await check();
  assert.equal(await getPlatformCert(root), cert, 'the same platform key after a restart');

  await unregisterContainer(root, 'it-1');
  assert.ok(!existsSync(socketDir));
  await assert.rejects(requestTee(socket), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.UNAVAILABLE));
  assert.equal(await stop(daemon), 0);
  assert.ok(!existsSync(join(root, 'control.sock')));
});

test('issue #15 - a pending registration: its socket refuses evidence until the measurement is bound, once; it survives a restart', async () => {
  const root = join(work, 'pending');
  const dataDir = join(work, 'd');
  let daemon = await serve(root, dataDir);
  const { socket } = await registerContainer(root, { id: 'pending-1', tee: 'sim' });
  const pending = (err: unknown): boolean => isInclavareError(err, INCLAVARED_ERROR_CODES.MEASUREMENT_PENDING) && /measurement is not bound yet/.test((err as Error).message);
  await assert.rejects(requestEvidence(socket, randomBytes(32)), pending);
  assert.equal((await requestTee(socket)).tee, 'sim', 'what the socket is for is known already');
  // A restart keeps the pending registration (the registry has it without a measurement).
  assert.equal(await stop(daemon), 0);
  daemon = await serve(root, dataDir);
  await assert.rejects(requestEvidence(socket, randomBytes(32)), pending);

  const measurement = createHash('sha384').update('pending').digest();
  await bindMeasurement(root, 'pending-1', measurement);
  await bindMeasurement(root, 'pending-1', measurement.toString('hex')); // the same again: fine
  await assert.rejects(bindMeasurement(root, 'pending-1', createHash('sha384').update('other').digest()), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.MEASUREMENT_BOUND) && /never changes/.test((err as Error).message));
  await assert.rejects(bindMeasurement(root, 'no-such', measurement), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.NOT_REGISTERED));
  const cert = await getPlatformCert(root);
  const evidenceBinds = async (): Promise<void> => {
    const claims = verifySimEvidence((await requestEvidence(socket, randomBytes(32))).evidence, { trustedPlatformKeys: [cert], at: new Date() });
    assert.equal(claims.measurements.measurement, measurement.toString('hex'));
  };
  await evidenceBinds();
  // A container registered with its measurement cannot be re-bound either.
  await registerContainer(root, { id: 'bound-1', tee: 'sim', measurement });
  await assert.rejects(bindMeasurement(root, 'bound-1', createHash('sha384').update('other').digest()), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.MEASUREMENT_BOUND));
  assert.equal(await stop(daemon), 0);
  daemon = await serve(root, dataDir);
  await evidenceBinds();
  await unregisterContainer(root, 'pending-1');
  await unregisterContainer(root, 'bound-1');
  assert.equal(await stop(daemon), 0);
});

test('ensureDaemon() starts a detached daemon that outlives its caller, once, and logs under ROOT', async () => {
  const root = join(work, 'e');
  const dataDir = join(work, 'ed');
  const command = [process.execPath, INCLAVARED];
  // Two rune processes creating containers at once: both succeed, one daemon serves.
  await Promise.all([ensureDaemon({ root, dataDir, inclavaredCommand: command }), ensureDaemon({ root, dataDir, inclavaredCommand: command })]);
  const pid = Number(readFileSync(join(root, 'inclavared.pid'), 'utf8'));
  pids.add(pid);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  assert.equal(Number(stat[3]), pid, 'the daemon leads its own session (setsid)');
  assert.ok(existsSync(join(root, 'inclavared.log')));

  const { socket } = await registerContainer(root, { id: 'e-1', measurement: randomBytes(48), tee: 'wasm' });
  assert.equal((await requestTee(socket)).tee, 'wasm');
  await ensureDaemon({ root, dataDir, inclavaredCommand: ['/nonexistent'] }); // answers: nothing started
  await unregisterContainer(root, 'e-1');

  process.kill(pid, 'SIGTERM');
  await waitFor(() => !existsSync(join(root, 'inclavared.pid')), 'the daemon to stop');
  pids.delete(pid);
});

test('ensureDaemon() fails within its timeout with the daemon\'s own error when it cannot start', async () => {
  const root = join(work, 'f');
  const start = Date.now();
  await assert.rejects(
    ensureDaemon({ root, dataDir: '/proc/no-such-dir', inclavaredCommand: [process.execPath, INCLAVARED], timeoutMs: 3000 }),
    (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.UNAVAILABLE) && /exited with status 1/.test(err.message) && /data directory/.test(err.message),
  );
  assert.ok(Date.now() - start < 4000);
});
