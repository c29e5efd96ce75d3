/**
 * init-runelet: PID 1 of an enclave container. It never exec()s the workload: it loads the enclave runtime
 * through the PAL API and runs the workload inside it (docs/enclave-runtimes.md "Lifecycle").
 *
 *   1. load the runtime named in /.rune/enclave.json and call init, then fetch the container's secrets from
 *      verdictd if it declares some (src/init/secrets.ts); this happens during `rune create`: rune starts
 *      PID 1 at once and waits for the report in /.rune/control/status;
 *   2. wait on /.rune/control/start until `rune start`; run the config's startContainer hooks, if any (runc
 *      would have run them at create, when rune starts init-runelet) and report to /.rune/control/started;
 *   3. create_process + exec; every catchable signal is forwarded to the runtime as kill(-1, sig);
 *   4. destroy, record the exit code, exit with it (128+n when the workload was killed by signal n).
 *
 * Invoked as `init-runelet.mjs --runelet -- CMD ARGS...` it is a *runelet*: what `rune exec` runs inside the
 * container to run one more process inside the same kind of enclave runtime, with the exec's stdio.
 *
 * It runs on the host's Node.js through the dynamic loader, so process.execPath is ld.so, not node
 * (docs/enclave-containers.md "What happens"): nothing here may re-spawn process.execPath.
 */
import { readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describeError } from '../errors/errors.ts';
import { loadEnclaveRuntime } from '../pal/registry.ts';
import type { EnclaveRuntime, LoadEnclaveRuntimeOptions, PalLogLevel, PalProcessSpec } from '../pal/types.ts';
import { CONTROL, IN_CONTAINER, workloadEnv, type EnclaveDescription, type InitStatus, type StartStatus } from '../runelet/description.ts';
import { ownChildren, startReaper } from './reaper.ts';
import { handlesSignal } from './signals.ts';
import { runStartContainerHooks } from './start-hooks.ts';
import { rlimitArg } from '../pal/sim/runtime.ts';
import { execInPid1, serveExecChannel, sharesInstance } from './exec-channel.ts';
import { faultPoint } from '../util/fault.ts';

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

/** runc adds HOME (the user's home in the container's /etc/passwd, or /) to an env without one; it did so for init-runelet. */
function withHome(env: string[]): string[] {
  return env.some((e) => e.startsWith('HOME=')) || process.env.HOME === undefined ? env : env.concat(`HOME=${process.env.HOME}`);
}

/**
 * Until `rune start`, init-runelet stands where runc's init would: a PID 1 that the kernel only signals
 * through handlers. runc's init (Go) exits on HUP, INT, QUIT and TERM and ignores the rest, so a `kill` of
 * a created container ends it; init-runelet does the same (128+n), and removes the handlers at start.
 */
function exitOnSignalsUntilStart(fifoFd: number): () => void {
  const handlers = (['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM'] as const).map((sig) => {
    const handler = (): never => {
      // Node.js joins its worker threads at exit, and one is blocked reading the start FIFO: wake it first.
      writeSync(fifoFd, Buffer.from([0]));
      return process.exit(128 + constants.signals[sig]);
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  return () => {
    for (const [sig, handler] of handlers) process.off(sig, handler);
  };
}

/** How the workload's process is started: through rlimit-exec (run by the injected loader) when it has limits. */
function runtimeOptions(): LoadEnclaveRuntimeOptions {
  // wasmValidateFirst: init-runelet runs nothing but its one runtime (see the option).
  return { rlimitExec: [process.execPath, '--library-path', IN_CONTAINER.libDir, IN_CONTAINER.rlimitExec], wasmValidateFirst: true };
}

/**
 * Runs one process in the runtime, forwarding signals; resolves to its exit code. With `asPid1`, the workload
 * of a `sim` runtime (a child process of init-runelet) receives a signal only when it has a handler for it,
 * as the kernel delivers signals to the PID 1 of a PID namespace (pid_namespaces(7)): under runc the workload
 * is that PID 1, and a `kill TERM` of a shell without a trap does nothing.
 */
async function runWorkload(runtime: EnclaveRuntime, spec: PalProcessSpec, asPid1 = false): Promise<number> {
  const pid = await runtime.createProcess(spec);
  mark('processCreated');
  const forward = (signal: NodeJS.Signals): void => {
    if (asPid1 && runtime.name === 'sim') {
      const children = [...ownChildren()];
      if (children.length > 0 && !children.some((child) => handlesSignal(child, constants.signals[signal]))) return;
    }
    runtime.kill(-1, constants.signals[signal]).catch((err: unknown) => process.stderr.write(`init-runelet: cannot forward ${signal}: ${describeError(err)}\n`));
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    return await runtime.exec(pid);
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
  }
}

/**
 * Runs the startContainer hooks of the description; resolves to runc's message for a failure. Their state is
 * runc's for that step: status created, init-runelet's pid (1), the engine's bundle; a hook without env gets
 * the process env, as runc's init passes its own.
 */
async function startContainerHooks(description: EnclaveDescription): Promise<string | undefined> {
  const start = description.startContainer;
  if (start === undefined || start.hooks.length === 0) return undefined;
  const state = JSON.stringify({
    ociVersion: start.ociVersion,
    id: description.id,
    status: 'created',
    pid: process.pid,
    bundle: description.bundle,
    ...(start.annotations !== undefined ? { annotations: start.annotations } : {}),
  });
  // sim applies the config's rlimits to the workload only (init-runelet runs without them): the hooks get
  // them through rlimit-exec, as runc's init runs them under its limits. Other runtimes keep them on init-runelet.
  const limits = description.runtime === 'sim' ? (description.process.rlimits ?? []) : [];
  const through = limits.length > 0 ? [...runtimeOptions().rlimitExec!, ...limits.map(rlimitArg), '--'] : undefined;
  return runStartContainerHooks(start.hooks, state, withHome(description.process.env), through);
}

/** The epoch ms of init-runelet's steps, written only when the description asks (RUNE_TIMINGS, benchmarks). */
const marks: Record<string, number> = { processStart: performance.timeOrigin };
const mark = (name: string): void => {
  marks[name] = performance.timeOrigin + performance.now();
};

function writeTimings(description: EnclaveDescription): void {
  if (description.timings === undefined) return;
  try {
    writeFileSync(description.timings, JSON.stringify({ id: description.id, runtime: description.runtime, marks }));
  } catch (err) {
    process.stderr.write(`init-runelet: cannot write ${description.timings}: ${describeError(err)}\n`);
  }
}

async function init(description: EnclaveDescription): Promise<number> {
  // The test hook (src/util/fault.ts): init-runelet's own env is fixed, so it reads the workload's.
  const fault = description.process.env.find((e) => e.startsWith('RUNE_FAULT='))?.slice('RUNE_FAULT='.length);
  let runtime: EnclaveRuntime;
  try {
    runtime = await loadEnclaveRuntime(description.runtime, runtimeOptions());
    mark('runtimeLoaded');
    await runtime.init({ args: description.runtimeArgs, logLevel: description.logLevel as PalLogLevel, enclaveFd: -1, enclaveAddr: 0n });
    mark('palInit');
  } catch (err) {
    const status: InitStatus = { state: 'error', message: describeError(err) };
    writeControl(CONTROL.status, status);
    return fail(status.message);
  }
  if (description.secrets !== undefined) {
    // During create, inside the enclave runtime: a denial fails `rune create`, before anything runs.
    try {
      // Loaded only here: RATS-TLS and X.509 are most of init-runelet's code, and most containers have no secrets.
      const { fetchSecrets } = await import('./secrets.ts');
      await fetchSecrets(description.secrets, {
        socketPath: description.attestationSocket ?? IN_CONTAINER.attestSocket,
        tee: description.type === 'tdx' || description.type === 'snp' ? description.type : 'sim',
        dir: IN_CONTAINER.secrets,
      });
    } catch (err) {
      await runtime.destroy().catch(() => undefined);
      const status: InitStatus = { state: 'error', message: describeError(err), code: 'secrets' };
      writeControl(CONTROL.status, status);
      return fail(status.message);
    }
  }
  // `rune exec` runs in this instance when the runtime runs several processes (native PAL v2/v3).
  let execChannel: { close(): void } | undefined;
  if (sharesInstance(runtime)) {
    try {
      execChannel = await serveExecChannel(IN_CONTAINER.execSocket, runtime, (env) => withHome(workloadEnv(description, env)));
    } catch (err) {
      process.stderr.write(`init-runelet: cannot serve rune exec into this enclave (execs will run in a second instance): ${describeError(err)}\n`);
    }
  }
  // Open the start FIFO before reporting ready, so `rune start` always finds a reader. O_RDWR never blocks
  // on a FIFO (Linux fifo(7)); the read then waits on libuv's thread pool, leaving the event loop free.
  const fifo = await open(control(CONTROL.start), 'r+');
  const stopExiting = exitOnSignalsUntilStart(fifo.fd);
  faultPoint(fault, 'init-runelet:after-init');
  mark('ready');
  writeControl(CONTROL.status, { state: 'ready' } satisfies InitStatus);
  await fifo.read(Buffer.alloc(1), 0, 1);
  mark('startSignal');
  writeControl(CONTROL.released, {});
  faultPoint(fault, 'init-runelet:after-release');
  // startContainer hooks run while a signal still ends init-runelet, as one ends runc's init while they run.
  const hookFailure = await startContainerHooks(description);
  stopExiting();
  await fifo.close();
  if (hookFailure !== undefined) {
    // As runc's init: the error on the container's stderr, exit status 1, the workload never runs.
    process.stderr.write(`${hookFailure}\n`);
    execChannel?.close();
    await runtime.destroy().catch((err: unknown) => process.stderr.write(`init-runelet: ${describeError(err)}\n`));
    writeControl(CONTROL.exit, { exitCode: 1 });
    writeControl(CONTROL.started, { state: 'error', message: hookFailure } satisfies StartStatus);
    return 1;
  }
  if (description.startContainer !== undefined) writeControl(CONTROL.started, { state: 'running' } satisfies StartStatus);

  const stopReaper = startReaper();
  let code: number;
  try {
    code = await runWorkload(
      runtime,
      {
        path: description.process.path,
        argv: description.process.args,
        env: withHome(workloadEnv(description, description.process.env)),
        cwd: description.process.cwd,
        stdio: { stdin: 0, stdout: 1, stderr: 2 },
        ...(description.process.rlimits !== undefined ? { rlimits: description.process.rlimits } : {}),
      },
      true,
    );
  } catch (err) {
    process.stderr.write(`init-runelet: ${describeError(err)}\n`);
    code = 1;
  }
  mark('workloadExited');
  execChannel?.close();
  try {
    await runtime.destroy();
  } catch (err) {
    process.stderr.write(`init-runelet: ${describeError(err)}\n`);
  }
  mark('destroyed');
  writeTimings(description);
  stopReaper();
  writeControl(CONTROL.exit, { exitCode: code });
  return code;
}

/**
 * The env of an exec'd command. runc gives an exec the config's process env plus its `--env` entries, and in an
 * enclave container that config's env is init-runelet's own (INIT_RUNELET_ENV): so the workload's env is the
 * base here, overridden by what the exec received, without init-runelet's UV_THREADPOOL_SIZE.
 */
function execEnv(description: EnclaveDescription): string[] {
  const merged = new Map<string, string>();
  for (const entry of description.process.env) merged.set(entry.split('=', 1)[0]!, entry);
  for (const [k, v] of Object.entries(process.env)) if (k !== 'UV_THREADPOOL_SIZE') merged.set(k, `${k}=${v ?? ''}`);
  return [...merged.values()];
}

/**
 * runelet: `rune exec`'s process. With a native PAL it asks PID 1 to run the command in the container's
 * runtime instance (src/init/exec-channel.ts); otherwise, or when PID 1 cannot, it runs one more process in a
 * runtime of the same kind (for sim and wasm that is what a process is).
 */
async function runelet(description: EnclaveDescription, argv: string[]): Promise<number> {
  if (argv.length === 0) return fail('runelet: no command given');
  const env = execEnv(description);
  if (description.runtime !== 'sim' && description.runtime !== 'wasm') {
    const outcome = await execInPid1(IN_CONTAINER.execSocket, { argv, env, cwd: process.cwd(), pid: process.pid }, FORWARDED);
    if ('exit' in outcome) {
      if (outcome.error !== undefined) process.stderr.write(`init-runelet: ${outcome.error}\n`);
      return outcome.exit;
    }
    process.stderr.write(`init-runelet: running ${argv[0]} in a second instance of the enclave runtime, not in the container's: ${outcome.refused}\n`);
  }
  const runtime = await loadEnclaveRuntime(description.runtime, runtimeOptions());
  await runtime.init({ args: description.runtimeArgs, logLevel: description.logLevel as PalLogLevel, enclaveFd: -1, enclaveAddr: 0n });
  try {
    return await runWorkload(runtime, { path: argv[0]!, argv, env: workloadEnv(description, env), cwd: process.cwd(), stdio: { stdin: 0, stdout: 1, stderr: 2 } });
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
  mark('main');
  return init(description);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => fail(describeError(err)),
);
