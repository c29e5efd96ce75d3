/**
 * The demo (README's first command): podman runs busybox containers through rune, exactly as it would
 * through runc, and rune's own view of them is shown alongside. Everything lives in a temp dir and is
 * removed at the end; no network is used (--network none, a locally built image).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
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
  } finally {
    await podmanReset(env);
    await removeTempDir(work);
  }
  console.log(failed ? '\nThe demo FAILED: see the output above.' : '\nThe demo finished: plain containers behaved as with runc, and the enclave container proved what it runs.');
  process.exitCode = failed ? 1 : 0;
}

await main();
