/**
 * init-runelet: PID 1 of an enclave container. It never exec()s the workload: it loads the enclave runtime
 * through the PAL API and runs the workload inside it (reference/runtime.md "Lifecycle").
 *
 *   1. load the runtime named in /.rune/enclave.json and call init (this happens during `rune create`:
 *      rune starts PID 1 at once and waits for the report in /.rune/control/status);
 *   2. wait on /.rune/control/start until `rune start`;
 *   3. create_process + exec; every catchable signal is forwarded to the runtime as kill(-1, sig);
 *   4. destroy, record the exit code, exit with it (128+n when the workload was killed by signal n).
 *
 * Invoked as `init-runelet.mjs --runelet -- CMD ARGS...` it is a *runelet*: what `rune exec` runs inside the
 * container to run one more process inside the same kind of enclave runtime, with the exec's stdio.
 *
 * It runs on the host's Node.js through the dynamic loader, so process.execPath is ld.so, not node
 * (reference/environment.md §5): nothing here may re-spawn process.execPath.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describeError } from '../errors/errors.ts';
import { loadEnclaveRuntime } from '../pal/registry.ts';
import type { EnclaveRuntime, PalLogLevel } from '../pal/types.ts';
import { IN_CONTAINER } from '../rune/enclave/bundle.ts';
import { CONTROL, type EnclaveDescription, type InitStatus } from '../runelet/description.ts';
import { startReaper } from './reaper.ts';

/** Signals init-runelet forwards to the workload (those Node.js lets a program handle). */
const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGWINCH', 'SIGCONT'];

function control(name: string): string {
  return join(IN_CONTAINER.control, name);
}

/** Writes a control file atomically (the host polls for it). */
function writeControl(name: string, value: unknown): void {
  const tmp = control(`.${name}.tmp`);
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, control(name));
}

function fail(message: string): never {
  process.stderr.write(`init-runelet: ${message}\n`);
  process.exit(1);
}

/** The workload's env: its own, plus where to ask for evidence. */
function workloadEnv(description: EnclaveDescription, env: string[]): string[] {
  return description.attestationSocket ? env.concat(`INCLAVARE_ATTESTATION_SOCKET=${description.attestationSocket}`) : env;
}

/** Runs one process in the runtime, forwarding signals; resolves to its exit code. */
async function runWorkload(runtime: EnclaveRuntime, spec: { path: string; argv: string[]; env: string[]; cwd: string }): Promise<number> {
  const pid = await runtime.createProcess({ ...spec, stdio: { stdin: 0, stdout: 1, stderr: 2 } });
  const forward = (signal: NodeJS.Signals): void => {
    runtime.kill(-1, constants.signals[signal]).catch((err: unknown) => process.stderr.write(`init-runelet: cannot forward ${signal}: ${describeError(err)}\n`));
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    return await runtime.exec(pid);
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
  }
}

async function init(description: EnclaveDescription): Promise<number> {
  let runtime: EnclaveRuntime;
  try {
    runtime = await loadEnclaveRuntime(description.runtime);
    await runtime.init({ args: description.runtimeArgs, logLevel: description.logLevel as PalLogLevel, enclaveFd: -1, enclaveAddr: 0n });
  } catch (err) {
    const status: InitStatus = { state: 'error', message: describeError(err) };
    writeControl(CONTROL.status, status);
    return fail(status.message);
  }
  // Open the start FIFO before reporting ready, so `rune start` always finds a reader. O_RDWR never blocks
  // on a FIFO (Linux fifo(7)); the read then waits on libuv's thread pool, leaving the event loop free.
  const fifo = await open(control(CONTROL.start), 'r+');
  writeControl(CONTROL.status, { state: 'ready' } satisfies InitStatus);
  await fifo.read(Buffer.alloc(1), 0, 1);
  await fifo.close();

  const stopReaper = startReaper();
  let code: number;
  try {
    code = await runWorkload(runtime, {
      path: description.process.path,
      argv: description.process.args,
      env: workloadEnv(description, description.process.env),
      cwd: description.process.cwd,
    });
  } catch (err) {
    process.stderr.write(`init-runelet: ${describeError(err)}\n`);
    code = 1;
  }
  try {
    await runtime.destroy();
  } catch (err) {
    process.stderr.write(`init-runelet: ${describeError(err)}\n`);
  }
  stopReaper();
  writeControl(CONTROL.exit, { exitCode: code });
  return code;
}

/** runelet: one more process in a runtime of the same kind, for `rune exec`. */
async function runelet(description: EnclaveDescription, argv: string[]): Promise<number> {
  if (argv.length === 0) return fail('runelet: no command given');
  const runtime = await loadEnclaveRuntime(description.runtime);
  await runtime.init({ args: description.runtimeArgs, logLevel: description.logLevel as PalLogLevel, enclaveFd: -1, enclaveAddr: 0n });
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
  try {
    return await runWorkload(runtime, { path: argv[0]!, argv, env: workloadEnv(description, env), cwd: process.cwd() });
  } finally {
    await runtime.destroy();
  }
}

async function main(): Promise<number> {
  let description: EnclaveDescription;
  try {
    description = JSON.parse(readFileSync(IN_CONTAINER.enclave, 'utf8')) as EnclaveDescription;
  } catch (err) {
    return fail(`cannot read the enclave description ${IN_CONTAINER.enclave}: ${describeError(err)}`);
  }
  const args = process.argv.slice(2);
  if (args[0] === '--runelet') return runelet(description, args[1] === '--' ? args.slice(2) : args.slice(1));
  return init(description);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => fail(describeError(err)),
);
