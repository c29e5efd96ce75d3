/**
 * issue #12 item 4 - secrets reach only attested enclave containers: podman runs sim enclave containers through
 * rune; verdictd (the built daemon, on a temp data dir and loopback) holds a secret and a policy whose reference
 * values come from `tee-tools measure`. The container that measures right finds the secret in
 * /run/secrets/<repo>/<type>/<tag> (tmpfs, 0400, its user's); another image is refused with the rule named; an
 * unreachable verdictd and a verdictd that is not the pinned one (the host impersonating it) fail the container
 * at create with nothing left behind; what the host relays is ciphertext.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createTcpServer, connect as tcpConnect, type Server } from 'node:net';
import path from 'node:path';
import {
  defaultRuntimeRoot, describeRun, isRunc, makeOciImage, makeTempDir, podmanEnv, podmanLoadImage, podmanReset, reapProcesses, removeTempDir,
  repoRoot, requireTools, run, runOk, runtimeBinary, type OciImage, type RunResult,
} from '../support/fixtures.ts';
import { createServer as createRatsTlsServer } from '../../src/rats-tls/server.ts';
import { createNullAttester } from '../../src/rats-tls/attesters/null.ts';
import { assemble, catFileWat } from '../unit/pal/wasi-programs.ts';

const DIST = (name: string): string => path.join(repoRoot, 'dist', name);
const SECRET_PATH = 'demo/db/password';
const READ_SECRET = `cat /run/secrets/${SECRET_PATH}; echo; stat -c 'mode=%a uid=%u' /run/secrets/${SECRET_PATH}; grep ' /run/secrets ' /proc/mounts`;

void describe('secrets for enclave containers: podman + rune + inclavared + verdictd', { timeout: 600_000, skip: isRunc() ? 'needs rune' : false }, () => {
  const runtime = runtimeBinary();
  const stateRoot = defaultRuntimeRoot(runtime);
  let tmp = '';
  let env: NodeJS.ProcessEnv = {};
  let verdictd: ChildProcess | undefined;
  let address = '';
  let management = '';
  let dataDir = '';
  let pin = '';
  let keyId = '';
  const secret = `s3cret-${randomBytes(12).toString('hex')}`;
  let good: OciImage;
  let other: OciImage;
  const servers: Server[] = [];

  const podman = (args: readonly string[]): Promise<RunResult> => run('podman', ['--runtime', runtime, ...args], { env, timeoutMs: 120_000 });
  const node = (script: string, args: string[]): Promise<RunResult> => run(process.execPath, [DIST(script), ...args], { env, timeoutMs: 120_000 });
  const verdict = async (args: string[]): Promise<string> => {
    const r = await node('verdict.mjs', [...args, '-c', management, '--data-dir', dataDir]);
    assert.equal(r.code, 0, describeRun('verdict', args, r));
    return r.stdout.trim();
  };
  const secretsEnv = (extra: Record<string, string> = {}): string[] =>
    Object.entries({ ENCLAVE_TYPE: 'sim', ENCLAVE_RUNTIME_PATH: 'sim', ENCLAVE_SECRETS: SECRET_PATH, ENCLAVE_VERDICTD: address, ENCLAVE_VERDICTD_KEY: pin, ...extra }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

  /** Starts verdictd and reads its addresses from its first lines. */
  async function startVerdictd(): Promise<void> {
    dataDir = path.join(tmp, 'verdictd');
    verdictd = spawn(process.execPath, [DIST('verdictd.mjs'), '--data-dir', dataDir, '--init', '--listen', '127.0.0.1:0', '--client-api', '127.0.0.1:0', '--kbs-listen', '127.0.0.1:0', '--attester', 'nullattester', '--log', path.join(tmp, 'verdictd.log')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      verdictd!.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (/management API on \S+\n/.test(out)) resolve();
      });
      verdictd!.once('exit', (code) => reject(new Error(`verdictd exited (${code}): ${out}`)));
    });
    address = /listening on (\S+)/.exec(out)![1]!;
    management = /management API on (\S+)/.exec(out)![1]!;
  }

  /**
   * The measurement tee-tools computes for `image` run by `podman run --hostname secrets` with the secrets
   * settings: podman adds TERM, container, HOSTNAME and, for root, HOME (for another user runc adds HOME when
   * it starts the process, after rune measured).
   */
  async function measure(image: OciImage, home?: string, settings: Record<string, string> = {}): Promise<string> {
    const podmanAdds = ['TERM=xterm', 'container=podman', 'HOSTNAME=secrets', ...(home !== undefined ? [`HOME=${home}`] : [])];
    const r = await node('tee-tools.mjs', ['measure', image.reference, ...[...secretsEnv(settings).filter((a) => a !== '-e'), ...podmanAdds].flatMap((e) => ['--env', e])]);
    assert.equal(r.code, 0, describeRun('tee-tools measure', [], r));
    return r.stdout.trim();
  }

  /** Every container rune knows and every registration inclavared holds. */
  async function leftovers(): Promise<{ rune: string[]; inclavared: unknown[] }> {
    const rune = (await readdir(stateRoot).catch(() => [] as string[])).filter((d) => !d.startsWith('.'));
    const registry = await readFile(path.join(String(env.INCLAVARED_ROOT), 'containers.json'), 'utf8').catch(() => '{"containers":[]}');
    return { rune, inclavared: (JSON.parse(registry) as { containers: unknown[] }).containers };
  }

  before(async () => {
    await requireTools([
      { bin: 'podman', pkg: 'podman' },
      { bin: 'umoci', pkg: 'umoci' },
      { bin: '/bin/busybox', pkg: 'busybox-static' },
    ]);
    tmp = await makeTempDir('rune-e2e-secrets-');
    env = await podmanEnv(tmp, { runtimeBinary: runtime });
    good = await makeOciImage(path.join(tmp, 'good'), { name: 'docker.io/inclavare/secrets-good:latest', cmd: ['sh', '-c', READ_SECRET] });
    other = await makeOciImage(path.join(tmp, 'other'), { name: 'docker.io/inclavare/secrets-other:latest', cmd: ['sh', '-c', `${READ_SECRET}; echo other`] });
    await podmanLoadImage(env, good);
    await podmanLoadImage(env, other);
    await startVerdictd();
    pin = await verdict(['identity']);
    assert.match(pin, /^sha256:[0-9a-f]{64}$/);
    // verdictd trusts this host's sim platform key and the good image's measurement, and holds the secret.
    const platformCert = path.join(tmp, 'platform.pem');
    await writeFile(platformCert, (await runOk(process.execPath, [DIST('inclavared.mjs'), 'platform-cert', '--data-dir', String(env.INCLAVARED_DATA_DIR)], { env })).stdout);
    keyId = await verdict(['trust', 'add-sim-key', platformCert]);
    const reference = path.join(tmp, 'reference.json');
    await writeFile(reference, JSON.stringify({ values: { measurement: [await measure(good, '/root'), await measure(good)], platformKeyId: [keyId] } }));
    await verdict(['reference', 'set', 'default', reference]);
    const secretFile = path.join(tmp, 'secret.txt');
    await writeFile(secretFile, secret);
    await verdict(['resource', 'set', SECRET_PATH, secretFile]);
  });

  after(async () => {
    for (const s of servers) s.close();
    if (tmp === '') return;
    if (process.env.KEEP_E2E) console.log(await readFile(path.join(tmp, 'verdictd.log'), 'utf8'));
    await podmanReset(env);
    verdictd?.kill('SIGTERM');
    await reapProcesses((p) => path.basename(p.argv[0] ?? '') === 'conmon' && p.argv.some((a) => a.startsWith(tmp)));
    await removeTempDir(tmp);
  });

  test('the container whose measurement is in the reference set gets the secret on a 0400 tmpfs file, as root and as another user', async () => {
    // podman adds an /etc/passwd entry for a user the image lacks, which changes the rootfs: --passwd=false keeps it as built.
    for (const user of [[], ['--user', '1000:1000', '--passwd=false']]) {
      const r = await podman(['run', '--rm', '--pull', 'never', '--network', 'none', '--hostname', 'secrets', ...user, ...secretsEnv(), good.reference]);
      assert.equal(r.code, 0, describeRun('podman run', user, r));
      const [value, stat, mount] = r.stdout.split('\n');
      assert.equal(value, secret);
      assert.equal(stat, `mode=400 uid=${user.length > 0 ? 1000 : 0}`);
      assert.match(mount ?? '', /^tmpfs \/run\/secrets tmpfs /);
    }
    assert.deepEqual(await leftovers(), { rune: [], inclavared: [] });
  });

  test('a container from another image is refused at create, naming the resource and the rule; nothing is left behind', async () => {
    const r = await podman(['run', '--rm', '--pull', 'never', '--network', 'none', '--hostname', 'secrets', ...secretsEnv(), other.reference]);
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, new RegExp(secret));
    assert.match(r.stderr, new RegExp(`Cannot get secret ${SECRET_PATH} from verdictd at ${address.replace(/\./g, '\\.')}`));
    assert.match(r.stderr, /measurement/);
    assert.deepEqual(await leftovers(), { rune: [], inclavared: [] });
    const audit = await readFile(path.join(dataDir, 'audit.log'), 'utf8');
    assert.match(audit, /"decision":"deny"/);
  });

  test('an unreachable verdictd fails the container at create, naming the address', async () => {
    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await podman(['run', '--rm', '--pull', 'never', '--network', 'none', '--hostname', 'secrets', ...secretsEnv({ ENCLAVE_VERDICTD: `127.0.0.1:${port}` }), good.reference]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`Cannot reach verdictd at 127\\.0\\.0\\.1:${port}`));
    assert.deepEqual(await leftovers(), { rune: [], inclavared: [] });
  });

  test('the host cannot impersonate verdictd: a server with another key is refused, and its forged secret never lands', async () => {
    const forged = 'forged-by-the-host';
    const fake = createRatsTlsServer({ attester: createNullAttester(), mutual: true, verify: { allowUnattested: true } }, (socket) => {
      socket.on('data', () => socket.write(JSON.stringify({ status: 'OK', data: { base64size: String(Buffer.from(forged).toString('base64').length) } }) + Buffer.from(forged).toString('base64')));
    });
    servers.push(fake);
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const fakeAddress = `127.0.0.1:${(fake.address() as { port: number }).port}`;
    const r = await podman(['run', '--rm', '--pull', 'never', '--network', 'none', '--hostname', 'secrets', ...secretsEnv({ ENCLAVE_VERDICTD: fakeAddress }), good.reference]);
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, new RegExp(forged));
    assert.match(r.stderr, new RegExp(`not the pinned ${pin}`));
    assert.deepEqual(await leftovers(), { rune: [], inclavared: [] });
  });

  test('what the host relays is ciphertext: a recording proxy on the way sees neither the secret nor its base64; the host keeps no copy', async () => {
    const recorded: Buffer[] = [];
    const [vHost, vPort] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    const proxy = createTcpServer((client) => {
      const upstream = tcpConnect(vPort, vHost);
      client.on('data', (c: Buffer) => recorded.push(Buffer.from(c)));
      upstream.on('data', (c: Buffer) => recorded.push(Buffer.from(c)));
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    servers.push(proxy);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const via = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    // The address is not measured: the same reference values hold through the proxy.
    const r = await podman(['run', '--rm', '--pull', 'never', '--network', 'none', '--hostname', 'secrets', ...secretsEnv({ ENCLAVE_VERDICTD: via }), good.reference]);
    assert.equal(r.code, 0, describeRun('podman run', [], r));
    assert.equal(r.stdout.split('\n')[0], secret);
    const wire = Buffer.concat(recorded);
    assert.ok(wire.length > 1000, `the proxy saw the session (${wire.length} bytes)`);
    for (const form of [secret, Buffer.from(secret).toString('base64')]) assert.equal(wire.indexOf(form), -1, `${form} crossed the host in clear`);
    // Nothing on the host side holds it: inclavared's state and log, rune's state, podman's storage metadata, verdictd's log.
    const grep = await run('grep', ['-rIl', '--', secret, String(env.INCLAVARED_ROOT), String(env.INCLAVARED_DATA_DIR), stateRoot, path.join(tmp, 'verdictd.log')], { env });
    assert.equal(grep.stdout.trim(), '', `the secret is in ${grep.stdout}`);
  });

  test('a wasm enclave container reads its secret through a preopen of /run/secrets', async () => {
    const wasmSettings = { ENCLAVE_RUNTIME_PATH: 'wasm', ENCLAVE_RUNTIME_ARGS: 'preopen=/run/secrets' };
    const image = await makeOciImage(path.join(tmp, 'wasm'), {
      name: 'docker.io/inclavare/secrets-wasm:latest',
      cmd: ['/app/cat.wasm'],
      files: { '/app/cat.wasm': { content: await assemble(catFileWat(SECRET_PATH)) } },
    });
    await podmanLoadImage(env, image);
    const reference = path.join(tmp, 'reference-wasm.json');
    const current = JSON.parse(await verdict(['reference', 'get', 'default', '--json'])) as { values: Record<string, string[]> };
    current.values.measurement!.push(await measure(image, '/root', wasmSettings));
    await writeFile(reference, JSON.stringify({ values: current.values }));
    await verdict(['reference', 'set', 'default', reference]);
    const r = await podman(['run', '--rm', '--pull', 'never', '--network', 'none', '--hostname', 'secrets', ...secretsEnv(wasmSettings), image.reference]);
    assert.equal(r.code, 0, describeRun('podman run (wasm)', [], r));
    assert.equal(r.stdout, secret);
  });

  test('a container whose evidence verdictd does not trust (its platform key removed) is refused, and told to look at verdictd', async () => {
    await verdict(['trust', 'remove-sim-key', keyId]);
    const r = await podman(['run', '--rm', '--pull', 'never', '--network', 'none', '--hostname', 'secrets', ...secretsEnv(), good.reference]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /verdictd .*refused this container's evidence/);
    assert.deepEqual(await leftovers(), { rune: [], inclavared: [] });
  });
});
