/**
 * The launch description of init-runelet-sim (src/init/init-runelet-sim.c), the PID 1 in C that rune uses
 * for a `sim` container without secrets or startContainer hooks (docs/enclave-containers.md "PID 1"). rune
 * writes it to the container's control directory at create (/.rune/control/launch inside), beside the
 * enclave description that the Node.js init-runelet reads; it holds the same facts in a form a C program
 * reads without a JSON parser: a magic token, then KEY VALUE pairs, every token NUL-terminated.
 */
import { basename, join } from 'node:path';
import { rlimitArg } from '../pal/sim/runtime.ts';
import { IN_CONTAINER, workloadEnv, type EnclaveDescription } from './description.ts';

/** The first token: the format's name and version (init-runelet-sim refuses any other). */
export const SIM_LAUNCH_MAGIC = 'inclavare-init-sim/1';

/**
 * Encodes what init-runelet-sim needs from the description: the program (path, args, cwd), the workload's
 * env as init-runelet gives it (with INCLAVARE_ATTESTATION_SOCKET; HOME is added inside, from PID 1's own
 * env, as init-runelet does), the resource limits with the rlimit-exec command that sets them (through the
 * injected loader `loader`), the timings file, and RUNE_FAULT from the workload's env (the test hook).
 * A string with a NUL byte cannot be passed to a program at all: it is refused, naming the field.
 */
export function encodeSimLaunch(description: EnclaveDescription, loader: string): Buffer {
  const { process: p } = description;
  const tokens: string[] = [SIM_LAUNCH_MAGIC];
  const add = (key: string, value: string, field: string): void => {
    if (value.includes('\0')) throw new TypeError(`${field} contains a NUL byte, which no program can receive`);
    tokens.push(key, value);
  };
  add('id', description.id, 'the container id');
  add('path', p.path, 'process.args[0]');
  add('cwd', p.cwd, 'process.cwd');
  p.args.forEach((arg, i) => add('arg', arg, `process.args[${i}]`));
  workloadEnv(description, p.env).forEach((entry, i) => add('env', entry, `process.env[${i}]`));
  if (p.rlimits !== undefined && p.rlimits.length > 0) {
    for (const word of [join(IN_CONTAINER.libDir, basename(loader)), '--library-path', IN_CONTAINER.libDir, IN_CONTAINER.rlimitExec]) add('through', word, 'the rlimit-exec command');
    for (const limit of p.rlimits) add('rlimit', rlimitArg(limit), 'process.rlimits');
  }
  if (description.timings !== undefined) add('timings', description.timings, 'the timings file');
  const fault = p.env.find((e) => e.startsWith('RUNE_FAULT='))?.slice('RUNE_FAULT='.length);
  if (fault !== undefined) add('fault', fault, 'RUNE_FAULT');
  return Buffer.from(tokens.map((t) => `${t}\0`).join(''), 'utf8');
}
