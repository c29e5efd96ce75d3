/**
 * The demo (README's first command): podman runs a container through rune; then the main story: verdictd
 * releases a secret only to the sim enclave container whose measurement (computed from its image beforehand)
 * it was told, and refuses a container from another image, naming the rule. Then more of rune: plain
 * containers through their lifecycle, an enclave container's evidence, and a RATS-TLS client outside
 * verifying a server inside one. Every step's exit status *and* output are
 * checked (a step that exits 0 but prints the wrong thing fails the demo, naming the step). Everything lives
 * in a temp dir and is removed at the end; no network is used beyond loopback (a locally built image).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeOciImage, podmanEnv, podmanLoadImage, podmanReset, removeTempDir, repoRoot, type OciImage } from '../test/support/fixtures.ts';

const RUNE = join(repoRoot, 'dist/rune');
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

/** A check of a step's combined output: a pattern it must match, or a function returning what is wrong. */
type Check = RegExp | ((output: string) => string | undefined);

class DemoFailure extends Error {}

/**
 * Shows a command, runs it, shows its output and exit status, and checks both: the status must be `status`
 * (default 0) and the output must pass every check. Returns the output (stdout and stderr).
 */
function step(title: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; status?: number; checks?: Check[] } = {}): string {
  console.log(`\n${bold(`## ${title}`)}\n$ ${[cmd, ...args].map((a) => (/[\s;'"$]/.test(a) ? `'${a}'` : a)).join(' ')}`);
  const res = spawnSync(cmd, args, { env: opts.env ?? process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const output = `${res.stdout ?? ''}${res.stderr ?? ''}`;
  process.stdout.write(output.endsWith('\n') || output === '' ? output : `${output}\n`);
  console.log(`(exit status ${res.status ?? res.signal ?? res.error?.message})`);
  const want = opts.status ?? 0;
  if (res.status !== want) throw new DemoFailure(`"${title}": expected exit status ${want}, got ${res.status ?? res.signal ?? res.error?.message}`);
  for (const check of opts.checks ?? []) {
    const problem = check instanceof RegExp ? (check.test(output) ? undefined : `its output does not match ${check}`) : check(output);
    if (problem !== undefined) throw new DemoFailure(`"${title}": ${problem}`);
  }
  return output;
}

/** Waits until `podman logs NAME` matches `pattern` (the workload writes asynchronously). */
function waitForLogs(env: NodeJS.ProcessEnv, name: string, pattern: RegExp): void {
  const deadline = Date.now() + 20_000;
  let printed = '';
  while (Date.now() < deadline) {
    const res = spawnSync('podman', ['logs', name], { env, encoding: 'utf8' });
    printed = res.stdout + res.stderr;
    if (pattern.test(printed)) return;
    spawnSync('sleep', ['0.1']);
  }
  // What the container printed last, and its state (a workload that exited says so with its status).
  const state = spawnSync('podman', ['inspect', '--format', '{{.State.Status}} (exit code {{.State.ExitCode}}) {{.State.Error}}', name], { env, encoding: 'utf8' });
  const tail = printed.trim().split('\n').slice(-20).join('\n      ');
  throw new DemoFailure(`container ${name} did not print ${pattern} within 20 s; it is ${`${state.stdout}${state.stderr}`.trim()}; it printed:\n      ${tail}`);
}

/** The containers of a `rune list --format json` output (`null` when there are none, as with runc). */
function listed(output: string): { id: string; status: string }[] {
  return (JSON.parse(output) as { id: string; status: string }[] | null) ?? [];
}

/** Checks a `rune list --format json` output for the container's status. */
function hasStatus(id: string, status: string): Check {
  return (output) => {
    const entry = listed(output).find((c) => c.id === id);
    if (entry === undefined) return `rune list does not show container ${id}`;
    return entry.status === status ? undefined : `rune list shows ${id} ${entry.status}, expected ${status}`;
  };
}

const CONTAINER_ID = /^([0-9a-f]{64})$/m;
const idOf = (output: string): string => CONTAINER_ID.exec(output)![1]!;

const node = (script: string): string => join(repoRoot, 'dist', script);

/** Writes this host's inclavared platform certificate (the trust anchor of its sim evidence) into `work`. */
function writePlatformCert(work: string, env: NodeJS.ProcessEnv): string {
  const file = join(work, 'platform-cert.pem');
  writeFileSync(file, spawnSync(process.execPath, [node('inclavared.mjs'), 'platform-cert', '--data-dir', String(env.INCLAVARED_DATA_DIR)], { encoding: 'utf8' }).stdout);
  return file;
}

/** Starts verdictd in the background; resolves once it printed its addresses and identity (shown as a step). */
async function startVerdictd(dataDir: string, logFile: string): Promise<{ child: ChildProcess; eaa: string; management: string; pin: string }> {
  const args = [node('verdictd.mjs'), '--data-dir', dataDir, '--init', '--listen', '127.0.0.1:0', '--client-api', '127.0.0.1:0', '--kbs-listen', 'off', '--log', logFile];
  console.log(`\n${bold('## verdictd, the verifier and key broker, on a new data directory (its store and master key are created; port 0: any free port)')}`);
  console.log(`$ node ${args.join(' ')} &`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DemoFailure(`"verdictd": no identity line within 20 s: ${out}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (/^identity \S+$/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new DemoFailure(`"verdictd": it exited with status ${code}: ${out}`));
    });
  });
  process.stdout.write(out);
  const eaa = /^listening on (\S+)$/m.exec(out)?.[1];
  const management = /^management API on (\S+)$/m.exec(out)?.[1];
  const pin = /^identity (sha256:[0-9a-f]{64})$/m.exec(out)?.[1];
  if (eaa === undefined || management === undefined || pin === undefined) throw new DemoFailure(`"verdictd": its first lines lack the addresses or the identity: ${out}`);
  return { child, eaa, management, pin };
}

/**
 * The main story: verdictd releases a secret only to the enclave container whose measurement it was told
 * (computed from the image before it runs); a container from another image is refused with the rule named.
 */
async function secretsStory(work: string, env: NodeJS.ProcessEnv, podman: (args: string[]) => string[], stop: (child: ChildProcess) => void): Promise<void> {
  const secretPath = 'demo/db/password';
  const secret = `correct-horse-${randomBytes(4).toString('hex')}`;
  const script = `echo "the enclave received: $(cat /run/secrets/${secretPath})"`;
  const app = await makeOciImage(join(work, 'app'), { name: 'docker.io/inclavare/app:latest', cmd: ['sh', '-c', script] });
  const other = await makeOciImage(join(work, 'other'), { name: 'docker.io/inclavare/other:latest', cmd: ['sh', '-c', `${script}; echo "and sends it elsewhere"`] });
  await podmanLoadImage(env, app);
  await podmanLoadImage(env, other);

  const verdictd = await startVerdictd(join(work, 'verdictd'), join(work, 'verdictd.log'));
  stop(verdictd.child);
  const verdict = (args: string[]): string[] => [node('verdict.mjs'), ...args, '-c', verdictd.management, '--data-dir', join(work, 'verdictd')];
  step("verdict identity: the pin of verdictd's key, which containers will insist on", process.execPath, verdict(['identity']), { checks: [new RegExp(`^${verdictd.pin}$`, 'm')] });

  // The settings every container of the app gets, and what podman adds to the env (both are measured).
  const settings = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim', `ENCLAVE_SECRETS=${secretPath}`, `ENCLAVE_VERDICTD=${verdictd.eaa}`, `ENCLAVE_VERDICTD_KEY=${verdictd.pin}`];
  const podmanAdds = ['TERM=xterm', 'container=podman', 'HOSTNAME=app', 'HOME=/root'];
  const measured = step('tee-tools measure: the measurement rune will compute for the app image with those settings, before anything runs',
    process.execPath, [node('tee-tools.mjs'), 'measure', app.reference, ...[...settings, ...podmanAdds].flatMap((e) => ['--env', e])], { env, checks: [/^[0-9a-f]{96}$/m] }).trim();

  const platformCert = writePlatformCert(work, env);
  const keyId = step("verdict trust add-sim-key: trust this host's sim platform key (inclavared's)", process.execPath, verdict(['trust', 'add-sim-key', platformCert]),
    { checks: [/^[0-9a-f]{64}$/m] }).trim();
  const reference = join(work, 'reference.json');
  writeFileSync(reference, JSON.stringify({ values: { platformKeyId: [keyId] } }));
  step('verdict reference set: the platform key the default policy accepts ...', process.execPath, verdict(['reference', 'set', 'default', reference]));
  step('... and the app image\'s measurement, computed from the image with tee-tools measure\'s code (the same value)', process.execPath,
    verdict(['reference', 'set', 'default', '--from-image', app.reference, ...[...settings, ...podmanAdds].flatMap((e) => ['--env', e])]),
    { env, checks: [new RegExp(measured)] });
  const secretFile = join(work, 'secret.txt');
  writeFileSync(secretFile, secret, { mode: 0o600 });
  step('verdict resource set: the secret (stored encrypted under the master key)', process.execPath, verdict(['resource', 'set', secretPath, secretFile]));
  step("verdict policy get default: the shipped strict policy that judges every request", process.execPath, verdict(['policy', 'get', 'default']),
    { checks: [/"name": "measurement"/] });

  const run = (image: OciImage): string[] => podman(['run', '--rm', '--network', 'none', '--pull', 'never', '--hostname', 'app', ...settings.flatMap((e) => ['-e', e]), image.reference]);
  step('podman runs the app as a sim enclave container: before its workload starts, the enclave attests to verdictd over RATS-TLS and receives the secret',
    'podman', run(app), { env, checks: [new RegExp(`^the enclave received: ${secret}$`, 'm')] });
  step('a container from another image asks for the same secret: refused at create, with the rule that failed; its workload never runs', 'podman', run(other), {
    env,
    status: 126,
    checks: [
      new RegExp(`Cannot get secret ${secretPath} from verdictd at ${verdictd.eaa.replace(/\./g, '\\.')}: .*rule "measurement"`),
      (out) => (out.includes(secret) ? 'the refused container printed the secret' : undefined),
    ],
  });
  step("verdictd's audit log: the release and the denial, with the rule and a digest of the claims (never the secret)", 'tail', ['-n', '4', join(work, 'verdictd', 'audit.log')], {
    checks: [/"decision":"allow"/, /"decision":"deny".*"measurement"/, (out) => (out.includes(secret) ? 'the audit log holds the secret' : undefined)],
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'inclavare-demo-'));
  const env = await podmanEnv(join(work, 'podman'), { runtimeBinary: RUNE });
  const podman = (args: string[]): string[] => ['--runtime', RUNE, ...args];
  let failure: string | undefined;
  const background: ChildProcess[] = [];
  try {
    step('rune, a drop-in OCI runtime for runc', RUNE, ['--version'], { checks: [/^rune version \d+\.\d+\.\d+/m, /^backend: .*runc version/m] });
    const image = await makeOciImage(join(work, 'image'), { name: 'docker.io/inclavare/busybox:latest', cmd: ['sh'] });
    await podmanLoadImage(env, image);

    step('podman runs a container through rune; its exit code comes back', 'podman',
      podman(['run', '--rm', '--network', 'none', '--pull', 'never', image.reference, 'sh', '-c',
        'echo "Hello from a container run by rune (hostname $(hostname), kernel $(uname -r))"; exit 3']),
      { env, status: 3, checks: [/^Hello from a container run by rune \(hostname [0-9a-f]{12}, kernel \S+\)$/m] });

    await secretsStory(work, env, podman, (child) => background.push(child));

    const demo = idOf(step('a detached container', 'podman', podman(['run', '-d', '--name', 'demo', '--network', 'none', '--pull', 'never',
      image.reference, 'sh', '-c', 'trap "echo stopping; exit 0" TERM; while true; do sleep 0.2; done']), { env, checks: [CONTAINER_ID] }));
    step("rune's own state: one directory per container under /run/rune", RUNE, ['list'], { checks: [new RegExp(`^${demo}\\s+\\d+\\s+running\\s`, 'm')] });
    // PID 1 seen from the exec must be the container's own sh: an exec that landed outside the container
    // (in the host's PID namespace) would see the host's init here.
    step('podman exec goes through rune exec', 'podman', podman(['exec', 'demo', 'sh', '-c', 'echo "exec: pid 1 is $(cat /proc/1/comm)"']),
      { env, checks: [/^exec: pid 1 is sh$/m] });
    step('podman pause / unpause', 'podman', podman(['pause', 'demo']), { env, checks: [/^demo$/m] });
    step('state while paused', RUNE, ['list', '--format', 'json'], { checks: [hasStatus(demo, 'paused')] });
    step('unpause', 'podman', podman(['unpause', 'demo']), { env, checks: [/^demo$/m] });
    step('running again', RUNE, ['list', '--format', 'json'], { checks: [hasStatus(demo, 'running')] });
    step('podman stop: SIGTERM through rune kill', 'podman', podman(['stop', '--time', '5', 'demo']), { env, checks: [/^demo$/m] });
    step('the workload saw the signal (its TERM trap ran)', 'podman', ['logs', 'demo'], { env, checks: [/^stopping$/m] });
    step('podman rm: rune delete removes its state', 'podman', podman(['rm', 'demo']), { env, checks: [/^demo$/m] });
    step("rune's state is empty again", RUNE, ['list', '--format', 'json'],
      { checks: [(out) => (listed(out).some((c) => c.id === demo) ? `rune list still shows ${demo}` : undefined)] });

    // The confidential-container story: the same container, run inside a software enclave.
    const enclave = idOf(step('a sim enclave container: same image, two env vars; PID 1 is init-runelet, the workload runs in the enclave runtime',
      'podman', podman(['run', '-d', '--name', 'enclave', '--network', 'none', '--pull', 'never',
        '-e', 'ENCLAVE_TYPE=sim', '-e', 'ENCLAVE_RUNTIME_PATH=sim', image.reference,
        'sh', '-c', 'echo "PID 1: $(tr "\\0" " " < /proc/1/cmdline)"; echo "attestation socket: $INCLAVARE_ATTESTATION_SOCKET"; while true; do sleep 0.2; done']),
      { env, checks: [CONTAINER_ID] }));
    waitForLogs(env, 'enclave', /^attestation socket:/m);
    step('its output', 'podman', ['logs', 'enclave'], {
      env,
      checks: [/^PID 1: \/\.rune\/lib\/ld-linux-x86-64\.so\.2 --library-path \/\.rune\/lib \/\.rune\/init-runelet-sim $/m, /^attestation socket: \/\S+$/m],
    });
    const measurement = (JSON.parse(readFileSync(join('/run/rune', enclave, 'enclave.json'), 'utf8')) as { measurement: string }).measurement;
    const evidence = join(work, 'evidence.bin');
    const nonce = randomBytes(32).toString('hex');
    step("rune attest: evidence from the container's attestation socket, bound to its measurement and a verifier nonce",
      RUNE, ['attest', enclave, '--report-data', nonce, '--out', evidence], {
        checks: [new RegExp(`^sim evidence \\(\\d+ bytes\\) for measurement ${measurement} written to `, 'm'),
          () => (statSync(evidence, { throwIfNoEntry: false })?.size ? undefined : `${evidence} is missing or empty`)],
      });
    const cert = writePlatformCert(work, env);
    step("tee-tools verifies it against this host's inclavared platform certificate", process.execPath,
      [join(repoRoot, 'dist/tee-tools.mjs'), 'verify', evidence, '--tee', 'sim', '--trust-anchor', cert],
      { checks: [/^verified: sim evidence/m, new RegExp(`^\\s+measurement: ${measurement}$`, 'm'), new RegExp(`^\\s+reportData: ${nonce}`, 'm')] });
    step('stop and remove it', 'podman', podman(['rm', '--force', '--time', '5', 'enclave']), { env, checks: [/^enclave$/m] });

    // Attested TLS: a server in a sim enclave container, a client outside that trusts only what it verified.
    // The workload runs the RATS-TLS sample on the host's node that rune injected under /.rune (the image has
    // no Node.js); it listens on the host's loopback (--network host, 127.0.0.1 only).
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const serve = `exec /.rune/lib/ld-linux-x86-64.so.2 --library-path /.rune/lib /.rune/node /app/rats-tls.mjs server -a sim -v nullverifier -i 127.0.0.1 -p ${port} -l info`;
    const tlsId = idOf(step("a RATS-TLS server in a sim enclave container (its certificate carries evidence from the container's attestation socket)",
      'podman', podman(['run', '-d', '--name', 'tls-enclave', '--network', 'host', '--pull', 'never',
        '-e', 'ENCLAVE_TYPE=sim', '-e', 'ENCLAVE_RUNTIME_PATH=sim', '-v', `${join(repoRoot, 'dist')}:/app:ro`, image.reference, 'sh', '-c', serve]),
      { env, checks: [CONTAINER_ID] }));
    const tlsMeasurement = (JSON.parse(readFileSync(join('/run/rune', tlsId, 'enclave.json'), 'utf8')) as { measurement: string }).measurement;
    waitForLogs(env, 'tls-enclave', /listening/);
    step('the client verifies the server before sending a byte: evidence, platform key, binding to the TLS key, and the measurement rune computed',
      process.execPath, [join(repoRoot, 'dist/rats-tls.mjs'), 'client', '-v', 'sim', '--trust-anchor', cert, '--expect-measurement', tlsMeasurement, '-i', '127.0.0.1', '-p', port, '-l', 'info'],
      { checks: [new RegExp(`verified sim peer, measurement ${tlsMeasurement}`), /Hello and welcome to RATS-TLS!/] });
    step('a client expecting another measurement is refused', process.execPath,
      [join(repoRoot, 'dist/rats-tls.mjs'), 'client', '-v', 'sim', '--trust-anchor', cert, '--expect-measurement', '00'.repeat(48), '-i', '127.0.0.1', '-p', port],
      { status: 1, checks: [new RegExp(`Cannot trust the peer: measurements\\.measurement is ${tlsMeasurement}, expected 0{96}`), (out) => (out.includes('Hello and welcome') ? 'the refused client still received the server\'s message' : undefined)] });
    step('stop and remove it', 'podman', podman(['rm', '--force', '--time', '5', 'tls-enclave']), { env, checks: [/^tls-enclave$/m] });
  } catch (err) {
    failure = err instanceof DemoFailure ? err.message : `${(err as Error).stack ?? String(err)}`;
  } finally {
    for (const child of background) child.kill('SIGTERM');
    await podmanReset(env);
    await removeTempDir(work);
  }
  if (failure !== undefined) {
    console.log(`\nThe demo FAILED at ${failure}`);
    process.exitCode = 1;
  } else {
    console.log('\nThe demo finished: every step printed what it should. verdictd released the secret only to the enclave container it was told about and refused the other with the rule; plain containers behaved as with runc; enclave containers proved what they run.');
  }
}

await main();
