/**
 * The demo (README's first command): podman runs busybox containers through rune, exactly as it would
 * through runc, and rune's own view of them is shown alongside. Everything lives in a temp dir and is
 * removed at the end; no network is used (--network none, a locally built image).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeOciImage, podmanEnv, podmanLoadImage, podmanReset, removeTempDir, repoRoot } from '../test/support/fixtures.ts';

const RUNE = join(repoRoot, 'dist/rune');
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

/** Shows a command, runs it with its output on the terminal, returns its exit status. */
function step(title: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  console.log(`\n${bold(`## ${title}`)}\n$ ${[cmd, ...args].map((a) => (/[\s;'"$]/.test(a) ? `'${a}'` : a)).join(' ')}`);
  const res = spawnSync(cmd, args, { stdio: 'inherit', env });
  console.log(`(exit status ${res.status})`);
  return res.status ?? 1;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'inclavare-demo-'));
  const env = await podmanEnv(join(work, 'podman'), { runtimeBinary: RUNE });
  let failed = false;
  try {
    step('rune, a drop-in OCI runtime for runc', RUNE, ['--version']);
    const image = await makeOciImage(join(work, 'image'), { name: 'docker.io/inclavare/busybox:latest', cmd: ['sh'] });
    await podmanLoadImage(env, image);
    const podman = (args: string[]): string[] => ['--runtime', RUNE, ...args];

    const code = step('podman runs a container through rune; its exit code comes back', 'podman',
      podman(['run', '--rm', '--network', 'none', '--pull', 'never', image.reference, 'sh', '-c',
        'echo "Hello from a container run by rune (hostname $(hostname), kernel $(uname -r))"; exit 3']), env);
    failed ||= code !== 3;

    failed ||= step('a detached container', 'podman', podman(['run', '-d', '--name', 'demo', '--network', 'none', '--pull', 'never',
      image.reference, 'sh', '-c', 'trap "echo stopping; exit 0" TERM; while true; do sleep 0.2; done']), env) !== 0;
    failed ||= step("rune's own state: one directory per container under /run/rune", RUNE, ['list']) !== 0;
    failed ||= step('podman exec goes through rune exec', 'podman', podman(['exec', 'demo', 'sh', '-c', 'echo "exec: pid 1 is $(cat /proc/1/comm)"']), env) !== 0;
    failed ||= step('podman pause / unpause', 'podman', podman(['pause', 'demo']), env) !== 0;
    step('state while paused', RUNE, ['list', '--format', 'json']);
    failed ||= step('unpause', 'podman', podman(['unpause', 'demo']), env) !== 0;
    failed ||= step('podman stop: SIGTERM through rune kill', 'podman', podman(['stop', '--time', '5', 'demo']), env) !== 0;
    step('the workload saw the signal', 'podman', ['logs', 'demo'], env);
    failed ||= step('podman rm: rune delete removes its state', 'podman', podman(['rm', 'demo']), env) !== 0;
    step("rune's state is empty again", RUNE, ['list']);

    // The confidential-container story: the same container, run inside a software enclave.
    failed ||= step('a sim enclave container: same image, two env vars; PID 1 is init-runelet, the workload runs in the enclave runtime',
      'podman', podman(['run', '-d', '--name', 'enclave', '--network', 'none', '--pull', 'never',
        '-e', 'ENCLAVE_TYPE=sim', '-e', 'ENCLAVE_RUNTIME_PATH=sim', image.reference,
        'sh', '-c', 'echo "PID 1: $(tr "\\0" " " < /proc/1/cmdline)"; echo "attestation socket: $INCLAVARE_ATTESTATION_SOCKET"; while true; do sleep 0.2; done']), env) !== 0;
    const id = spawnSync('podman', ['inspect', '--format', '{{.Id}}', 'enclave'], { env, encoding: 'utf8' }).stdout.trim();
    step('its output', 'podman', ['logs', 'enclave'], env);
    const evidence = join(work, 'evidence.bin');
    const nonce = randomBytes(32).toString('hex');
    failed ||= step('rune attest: evidence from the container\'s attestation socket, bound to its measurement and a verifier nonce',
      RUNE, ['attest', id, '--report-data', nonce, '--out', evidence]) !== 0;
    const cert = join(work, 'platform-cert.pem');
    writeFileSync(cert, spawnSync(process.execPath, [join(repoRoot, 'dist/inclavared.mjs'), 'platform-cert', '--data-dir', String(env.INCLAVARED_DATA_DIR)], { encoding: 'utf8' }).stdout);
    failed ||= step("tee-tools verifies it against this host's inclavared platform certificate", process.execPath,
      [join(repoRoot, 'dist/tee-tools.mjs'), 'verify', evidence, '--tee', 'sim', '--trust-anchor', cert]) !== 0;
    failed ||= step('stop and remove it', 'podman', podman(['rm', '--force', '--time', '5', 'enclave']), env) !== 0;

    // Attested TLS: a server in a sim enclave container, a client outside that trusts only what it verified.
    // The workload runs the RATS-TLS sample on the host's node that rune injected under /.rune (the image has
    // no Node.js); it listens on the host's loopback (--network host, 127.0.0.1 only).
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const serve = `exec /.rune/lib/ld-linux-x86-64.so.2 --library-path /.rune/lib /.rune/node /app/rats-tls.mjs server -a sim -v nullverifier -i 127.0.0.1 -p ${port} -l info`;
    failed ||= step('a RATS-TLS server in a sim enclave container (its certificate carries evidence from the container\'s attestation socket)',
      'podman', podman(['run', '-d', '--name', 'tls-enclave', '--network', 'host', '--pull', 'never',
        '-e', 'ENCLAVE_TYPE=sim', '-e', 'ENCLAVE_RUNTIME_PATH=sim', '-v', `${join(repoRoot, 'dist')}:/app:ro`, image.reference, 'sh', '-c', serve]), env) !== 0;
    const tlsId = spawnSync('podman', ['inspect', '--format', '{{.Id}}', 'tls-enclave'], { env, encoding: 'utf8' }).stdout.trim();
    const measurement = (JSON.parse(readFileSync(join('/run/rune', tlsId, 'enclave.json'), 'utf8')) as { measurement: string }).measurement;
    for (let i = 0; i < 100 && !((r) => r.stdout + r.stderr)(spawnSync('podman', ['logs', 'tls-enclave'], { env, encoding: 'utf8' })).includes('listening'); i++) spawnSync('sleep', ['0.1']);
    failed ||= step('the client verifies the server before sending a byte: evidence, platform key, binding to the TLS key, and the measurement rune computed',
      process.execPath, [join(repoRoot, 'dist/rats-tls.mjs'), 'client', '-v', 'sim', '--trust-anchor', cert, '--expect-measurement', measurement, '-i', '127.0.0.1', '-p', port, '-l', 'info']) !== 0;
    step('a client expecting another measurement is refused', process.execPath,
      [join(repoRoot, 'dist/rats-tls.mjs'), 'client', '-v', 'sim', '--trust-anchor', cert, '--expect-measurement', '00'.repeat(48), '-i', '127.0.0.1', '-p', port]);
    failed ||= step('stop and remove it', 'podman', podman(['rm', '--force', '--time', '5', 'tls-enclave']), env) !== 0;
  } finally {
    await podmanReset(env);
    await removeTempDir(work);
  }
  console.log(failed ? '\nThe demo FAILED: see the output above.' : '\nThe demo finished: plain containers behaved as with runc, and the enclave container proved what it runs.');
  process.exitCode = failed ? 1 : 0;
}

await main();
