/**
 * The daemon in-process, on unix sockets in a temp dir: control API, attestation sockets, isolation between
 * containers, persistence across a restart, tdx evidence through a fake configfs.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSimEvidence } from '../../../src/attestation/sim/parse.ts';
import { verifySimEvidence } from '../../../src/attestation/sim/verify.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { getPlatformCert, registerContainer, requestEvidence, requestTee, unregisterContainer, ensureDaemon, defaultInclavaredCommand } from '../../../src/attestation-socket/client.ts';
import { INCLAVARED_ERROR_CODES } from '../../../src/attestation-socket/codes.ts';
import { startDaemon, type Daemon } from '../../../src/inclavared/daemon.ts';
import { errorOf, FAKE_QUOTE_MARKER, FakeConfigfs, httpRequest, tempDir } from './support.ts';

const TSM = '/fake/tsm/report';
const measurementOf = (text: string): Buffer => createHash('sha384').update(text).digest();

describe('inclavared daemon', () => {
  let work: string;
  let root: string;
  let dataDir: string;
  let daemon: Daemon;
  const tsm = new FakeConfigfs(TSM);
  const start = (): Promise<Daemon> => startDaemon({ root, dataDir, tsmPath: TSM, tsmFs: tsm });

  before(async () => {
    work = tempDir();
    root = join(work, 'r');
    dataDir = join(work, 'data');
    daemon = await start();
  });
  after(async () => {
    await daemon.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('the control socket is mode 0600 in a 0700 root, and the platform key 0600 in the data dir', () => {
    assert.equal(lstatSync(join(root, 'control.sock')).mode & 0o777, 0o600);
    assert.ok(lstatSync(join(root, 'control.sock')).isSocket());
    assert.equal(statSync(root).mode & 0o777, 0o700);
    assert.equal(statSync(join(dataDir, 'platform-key.pem')).mode & 0o777, 0o600);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
  });

  test('ensureDaemon() returns at once when the daemon answers; by default it would run dist/inclavared.mjs with this node', async () => {
    await ensureDaemon({ root, dataDir, inclavaredCommand: ['/nonexistent/inclavared'] });
    assert.deepEqual(defaultInclavaredCommand(), [process.execPath, fileURLToPath(new URL('../../../dist/inclavared.mjs', import.meta.url))]);
  });

  test('POST /v1/containers creates ROOT/containers/ID/attest.sock (0666) and answers 201 with its paths', async () => {
    const paths = await registerContainer(root, { id: 'reg', measurement: measurementOf('reg'), tee: 'sim' });
    assert.deepEqual(paths, { socketDir: join(root, 'containers', 'reg'), socket: join(root, 'containers', 'reg', 'attest.sock') });
    assert.ok(lstatSync(paths.socket).isSocket());
    assert.equal(lstatSync(paths.socket).mode & 0o777, 0o666);
    assert.deepEqual(await requestTee(paths.socket), { tee: 'sim', evidenceFormat: 'sim' });
    const res = await httpRequest(join(root, 'control.sock'), 'POST', '/v1/containers', JSON.stringify({ id: 'reg2', measurement: 'cd'.repeat(48), tee: 'wasm' }));
    assert.equal(res.status, 201);
    assert.equal(res.headers['content-type'], 'application/json');
  });

  test('sim evidence from the socket verifies with the platform certificate and carries the registered measurement and the report data', async () => {
    const measurement = measurementOf('entrypoint=/bin/app');
    const { socket } = await registerContainer(root, { id: 'verify', measurement, tee: 'sim' });
    const reportData = randomBytes(64);
    const answer = await requestEvidence(socket, reportData);
    assert.equal(answer.tee, 'sim');
    const cert = await getPlatformCert(root);
    assert.equal(cert, daemon.platform.certPem);
    const claims = verifySimEvidence(answer.evidence, { trustedPlatformKeys: [cert], at: new Date() });
    assert.equal(claims.tee, 'sim');
    assert.equal(claims.measurements.measurement, measurement.toString('hex'));
    assert.equal(claims.reportData, reportData.toString('hex'));
  });

  test('short report data is zero-padded to 64 bytes', async () => {
    const { socket } = await registerContainer(root, { id: 'short', measurement: measurementOf('short'), tee: 'sim' });
    const evidence = parseSimEvidence((await requestEvidence(socket, Buffer.from('abc'))).evidence);
    assert.deepEqual(Buffer.from(evidence.reportData), Buffer.concat([Buffer.from('abc'), Buffer.alloc(61)]));
  });

  test('a wasm container gets sim evidence: GET /v1/tee says wasm, the evidence format is sim', async () => {
    const { socket } = await registerContainer(root, { id: 'wasm1', measurement: measurementOf('module'), tee: 'wasm' });
    assert.deepEqual(await requestTee(socket), { tee: 'wasm', evidenceFormat: 'sim' });
    const answer = await requestEvidence(socket, Buffer.alloc(0));
    assert.equal(answer.tee, 'sim');
    assert.deepEqual(Buffer.from(parseSimEvidence(answer.evidence).measurement), measurementOf('module'));
  });

  test('a container can never obtain evidence for another container\'s measurement', async () => {
    const a = await registerContainer(root, { id: 'iso-a', measurement: measurementOf('A'), tee: 'sim' });
    const b = await registerContainer(root, { id: 'iso-b', measurement: measurementOf('B'), tee: 'sim' });
    for (const [socket, mine] of [[a.socket, 'A'], [b.socket, 'B']] as const) {
      for (let i = 0; i < 3; i++) {
        const evidence = parseSimEvidence((await requestEvidence(socket, randomBytes(32))).evidence);
        assert.deepEqual(Buffer.from(evidence.measurement), measurementOf(mine));
      }
      // Asking for the other measurement is refused, never obeyed.
      const other = measurementOf(mine === 'A' ? 'B' : 'A').toString('hex');
      const res = await httpRequest(socket, 'POST', '/v1/evidence', JSON.stringify({ reportData: '00', measurement: other }));
      assert.equal(res.status, 400);
      assert.equal(errorOf(res).code, INCLAVARED_ERROR_CODES.BAD_REQUEST);
      assert.match(errorOf(res).message, /unknown member "measurement"/);
    }
  });

  test('the attestation socket rejects bad requests with 4xx JSON errors and keeps serving', async () => {
    const { socket } = await registerContainer(root, { id: 'bad', measurement: measurementOf('bad'), tee: 'sim' });
    const cases: [string, string, string | undefined, number, string][] = [
      ['POST', '/v1/evidence', 'not json', 400, INCLAVARED_ERROR_CODES.BAD_REQUEST],
      ['POST', '/v1/evidence', JSON.stringify({ reportData: '00'.repeat(65) }), 400, INCLAVARED_ERROR_CODES.BAD_REQUEST],
      ['POST', '/v1/evidence', JSON.stringify({ reportData: 'a'.repeat(5000) }), 400, INCLAVARED_ERROR_CODES.TOO_LARGE],
      ['GET', '/v1/evidence', undefined, 404, INCLAVARED_ERROR_CODES.NO_ROUTE],
      ['POST', '/v1/containers', JSON.stringify({ id: 'x', measurement: '00'.repeat(48), tee: 'sim' }), 404, INCLAVARED_ERROR_CODES.NO_ROUTE],
      ['GET', '/v1/platform-cert', undefined, 404, INCLAVARED_ERROR_CODES.NO_ROUTE],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await httpRequest(socket, method, path, body);
      assert.equal(res.status, status, `${method} ${path}`);
      assert.equal(errorOf(res).code, code);
    }
    assert.equal((await requestTee(socket)).tee, 'sim');
  });

  test('registering an id twice is a 409, and bad registrations are 400s that create nothing', async () => {
    await registerContainer(root, { id: 'dup', measurement: measurementOf('dup'), tee: 'sim' });
    await assert.rejects(
      registerContainer(root, { id: 'dup', measurement: measurementOf('other'), tee: 'sim' }),
      (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.ALREADY_REGISTERED) && err.mapping.httpStatus === 409,
    );
    for (const id of ['..', 'a/b', '', 'x y']) {
      await assert.rejects(registerContainer(root, { id, measurement: measurementOf('x'), tee: 'sim' }), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.INVALID_ID));
    }
    await assert.rejects(registerContainer(root, { id: 'm', measurement: 'zz', tee: 'sim' }), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.BAD_REQUEST));
    assert.ok(!existsSync(join(root, 'containers', 'm')));
  });

  test('an id whose socket path would exceed 107 bytes is refused with a clear error', async () => {
    const id = 'x'.repeat(120 - join(root, 'containers', '', 'attest.sock').length);
    await assert.rejects(
      registerContainer(root, { id, measurement: measurementOf('long'), tee: 'sim' }),
      (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.SOCKET_PATH_TOO_LONG) && /limited to 107/.test(err.message) && err.mapping.httpStatus === 400,
    );
    assert.ok(!existsSync(join(root, 'containers', id)));
  });

  test('DELETE /v1/containers/ID closes the socket and removes its directory; unknown ids are 404', async () => {
    const { socket, socketDir } = await registerContainer(root, { id: 'del', measurement: measurementOf('del'), tee: 'sim' });
    await unregisterContainer(root, 'del');
    assert.ok(!existsSync(socketDir));
    await assert.rejects(requestTee(socket), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.UNAVAILABLE));
    await assert.rejects(unregisterContainer(root, 'del'), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.NOT_REGISTERED) && err.mapping.httpStatus === 404);
    // The id can be registered again afterwards.
    await registerContainer(root, { id: 'del', measurement: measurementOf('del2'), tee: 'sim' });
    // Every character runc allows in an id survives the trip through the URL.
    const odd = await registerContainer(root, { id: 'a+b.c_d-e', measurement: measurementOf('odd'), tee: 'sim' });
    await unregisterContainer(root, 'a+b.c_d-e');
    assert.ok(!existsSync(odd.socketDir));
    const res = await httpRequest(join(root, 'control.sock'), 'DELETE', '/v1/containers/%2e%2e');
    assert.equal(res.status, 400);
    assert.equal(errorOf(res).code, INCLAVARED_ERROR_CODES.INVALID_ID);
  });

  test('a tdx container gets the node quote from configfs-tsm with report_data = SHA-512(measurement ‖ report data)', async () => {
    const measurement = measurementOf('tdx-workload');
    const { socket } = await registerContainer(root, { id: 'td', measurement, tee: 'tdx' });
    assert.deepEqual(await requestTee(socket), { tee: 'tdx', evidenceFormat: 'tdx' });
    const reportData = randomBytes(64);
    const answer = await requestEvidence(socket, reportData);
    assert.equal(answer.tee, 'tdx');
    const bound = createHash('sha512').update(measurement).update(reportData).digest();
    assert.deepEqual(Buffer.from(answer.evidence), Buffer.concat([FAKE_QUOTE_MARKER, bound]));
    assert.equal(tsm.reports.size, 0);
    // An snp container on this (tdx) node: configfs-tsm's provider does not match.
    const snp = await registerContainer(root, { id: 'sn', measurement, tee: 'snp' });
    const res = await httpRequest(snp.socket, 'POST', '/v1/evidence', '{"reportData":""}');
    assert.equal(res.status, 412);
    assert.equal(errorOf(res).code, INCLAVARED_ERROR_CODES.TSM_PROVIDER);
  });

  test('a second daemon on the same root refuses to start', async () => {
    await assert.rejects(start(), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.ALREADY_RUNNING));
    assert.equal((await requestTee(join(root, 'containers', 'reg', 'attest.sock'))).tee, 'sim');
  });

  test('registrations survive a restart: the new daemon re-opens every socket in the same directory', async () => {
    const measurement = measurementOf('persist');
    const { socket } = await registerContainer(root, { id: 'persist', measurement, tee: 'sim' });
    const before = daemon.containers().map((c) => c.id).sort();
    await daemon.close();
    assert.ok(!existsSync(join(root, 'control.sock')));
    assert.ok(!existsSync(join(root, 'inclavared.pid')));
    assert.ok(existsSync(join(root, 'containers', 'persist')), 'the bind-mounted directory stays');
    // A crashed daemon leaves its socket files behind: the next one replaces them.
    writeFileSync(join(root, 'control.sock'), 'stale');
    writeFileSync(socket, 'stale');
    daemon = await start();
    assert.deepEqual(daemon.containers().map((c) => c.id).sort(), before);
    const evidence = parseSimEvidence((await requestEvidence(socket, Buffer.from('after restart'))).evidence);
    assert.deepEqual(Buffer.from(evidence.measurement), measurement);
    const registry = JSON.parse(readFileSync(join(root, 'containers.json'), 'utf8')) as { containers: { id: string }[] };
    assert.ok(registry.containers.some((c) => c.id === 'persist'));
    await assert.rejects(registerContainer(root, { id: 'persist', measurement, tee: 'sim' }), (err) => isInclavareError(err, INCLAVARED_ERROR_CODES.ALREADY_REGISTERED));
  });

  test('a connection that sends garbage gets a 400 and the daemon keeps serving', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(join(root, 'control.sock'));
      let out = '';
      s.on('data', (d) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', reject);
      s.end('\x00\x01 not http at all\r\n\r\n');
    });
    assert.match(raw, /^HTTP\/1\.1 400/);
    assert.match(await getPlatformCert(root), /BEGIN CERTIFICATE/);
  });

  test('a client that never finishes its request is cut off by the request timeout', { timeout: 10_000 }, async () => {
    const short = tempDir();
    const d = await startDaemon({ root: join(short, 'r'), dataDir, limits: { maxBodyBytes: 4096, maxHeaderBytes: 8192, requestTimeoutMs: 300, maxConnections: 8 } });
    try {
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const t0 = Date.now();
        const s = connect(d.paths.controlSocket);
        s.on('connect', () => s.write('POST /v1/containers HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{'));
        s.on('data', () => {});
        s.on('close', () => resolve(Date.now() - t0));
        s.on('error', reject);
      });
      assert.ok(closedAfter < 5000, `closed after ${closedAfter} ms`);
    } finally {
      await d.close();
      rmSync(short, { recursive: true, force: true });
    }
  });

  test('issue #16 - a restarted daemon removes socket directories its registry does not name (a crash between socket and registry)', async () => {
    const other = tempDir();
    const r = join(other, 'r');
    let d = await startDaemon({ root: r, dataDir });
    try {
      await registerContainer(r, { id: 'kept', measurement: measurementOf('kept'), tee: 'sim' });
      await d.close();
      // What a daemon killed after opening a socket (before saving the registry) leaves.
      mkdirSync(join(r, 'containers', 'half-done'));
      writeFileSync(join(r, 'containers', 'half-done', 'attest.sock'), 'stale');
      d = await startDaemon({ root: r, dataDir });
      assert.deepEqual(readdirSync(join(r, 'containers')), ['kept']);
      assert.equal((await requestTee(join(r, 'containers', 'kept', 'attest.sock'))).tee, 'sim');
    } finally {
      await d.close();
      rmSync(other, { recursive: true, force: true });
    }
  });

  test('issue #16 - closeIfIdle() stops only a daemon without registered containers, and a register after it is refused as unavailable', async () => {
    const other = tempDir();
    const r = join(other, 'r');
    const d = await startDaemon({ root: r, dataDir });
    try {
      await registerContainer(r, { id: 'busy', measurement: measurementOf('busy'), tee: 'sim' });
      assert.equal(await d.closeIfIdle(), false);
      assert.equal((await requestTee(join(r, 'containers', 'busy', 'attest.sock'))).tee, 'sim');
      await unregisterContainer(r, 'busy');
      const racing = registerContainer(r, { id: 'late', measurement: measurementOf('late'), tee: 'sim' }).then(
        () => 'registered',
        (err: unknown) => (isInclavareError(err, INCLAVARED_ERROR_CODES.UNAVAILABLE) ? 'unavailable' : `other: ${String(err)}`),
      );
      const stopped = await d.closeIfIdle();
      const outcome = await racing;
      // The register either ran first (then the daemon was not idle) or was refused: never both.
      assert.ok((outcome === 'registered' && !stopped) || (outcome === 'unavailable' && stopped), `${outcome}, stopped ${stopped}`);
      if (!stopped) assert.equal(await d.closeIfIdle(), false);
      else assert.ok(!existsSync(join(r, 'inclavared.pid')));
    } finally {
      await d.close();
      rmSync(other, { recursive: true, force: true });
    }
  });
});
