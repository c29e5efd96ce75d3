/**
 * The demo (README's first command): podman runs busybox containers through rune, exactly as it would
 * through runc, and rune's own view of them is shown alongside; then a sim enclave container proves what it
 * runs, and a RATS-TLS client outside verifies a server inside one. Every step's exit status *and* output are
 * checked (a step that exits 0 but prints the wrong thing fails the demo, naming the step). Everything lives
 * in a temp dir and is removed at the end; no network is used beyond loopback (a locally built image).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeOciImage, podmanEnv, podmanLoadImage, podmanReset, removeTempDir, repoRoot } from '../test/support/fixtures.ts';

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
  for (let i = 0; i < 100; i++) {
    const res = spawnSync('podman', ['logs', name], { env, encoding: 'utf8' });
    if (pattern.test(res.stdout + res.stderr)) return;
    spawnSync('sleep', ['0.1']);
  }
  throw new DemoFailure(`container ${name} did not print ${pattern} within 10 s`);
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

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'inclavare-demo-'));
  const env = await podmanEnv(join(work, 'podman'), { runtimeBinary: RUNE });
  const podman = (args: string[]): string[] => ['--runtime', RUNE, ...args];
  let failure: string | undefined;
  try {
    step('rune, a drop-in OCI runtime for runc', RUNE, ['--version'], { checks: [/^rune version \d+\.\d+\.\d+/m, /^backend: .*runc version/m] });
    const image = await makeOciImage(join(work, 'image'), { name: 'docker.io/inclavare/busybox:latest', cmd: ['sh'] });
    await podmanLoadImage(env, image);

    step('podman runs a container through rune; its exit code comes back', 'podman',
      podman(['run', '--rm', '--network', 'none', '--pull', 'never', image.reference, 'sh', '-c',
        'echo "Hello from a container run by rune (hostname $(hostname), kernel $(uname -r))"; exit 3']),
      { env, status: 3, checks: [/^Hello from a container run by rune \(hostname [0-9a-f]{12}, kernel \S+\)$/m] });

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
      checks: [/^PID 1: \/\.rune\/lib\/ld-linux-x86-64\.so\.2 --library-path \/\.rune\/lib \/\.rune\/node (--\S+ )*\/\.rune\/init-runelet\.mjs/m, /^attestation socket: \/\S+$/m],
    });
    const measurement = (JSON.parse(readFileSync(join('/run/rune', enclave, 'enclave.json'), 'utf8')) as { measurement: string }).measurement;
    const evidence = join(work, 'evidence.bin');
    const nonce = randomBytes(32).toString('hex');
    step("rune attest: evidence from the container's attestation socket, bound to its measurement and a verifier nonce",
      RUNE, ['attest', enclave, '--report-data', nonce, '--out', evidence], {
        checks: [new RegExp(`^sim evidence \\(\\d+ bytes\\) for measurement ${measurement} written to `, 'm'),
          () => (statSync(evidence, { throwIfNoEntry: false })?.size ? undefined : `${evidence} is missing or empty`)],
      });
    const cert = join(work, 'platform-cert.pem');
    writeFileSync(cert, spawnSync(process.execPath, [join(repoRoot, 'dist/inclavared.mjs'), 'platform-cert', '--data-dir', String(env.INCLAVARED_DATA_DIR)], { encoding: 'utf8' }).stdout);
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
    await podmanReset(env);
    await removeTempDir(work);
  }
  if (failure !== undefined) {
    console.log(`\nThe demo FAILED at ${failure}`);
    process.exitCode = 1;
  } else {
    console.log('\nThe demo finished: every step printed what it should; plain containers behaved as with runc, and the enclave container proved what it runs.');
  }
}

await main();
