/**
 * `rune exec`: run a new process in a container through the backend, every flag passed verbatim. In an
 * enclave container the process runs inside the enclave runtime: rune has the backend exec a *runelet*
 * (init-runelet in runelet mode), which runs the command in a runtime of the container's kind with the
 * exec's stdio. Arguments are passed as an argv array end to end, so arguments with spaces survive.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runeError } from '../codes.ts';
import { extraFds, forwardToBackend, type CommandArgs, type RuneContext } from '../context.ts';
import { cachedHostNode, initCommand } from '../enclave/bundle.ts';
import { findContainer, isEnclaveContainer } from '../state.ts';
import type { Sys } from '../../sys/sys.ts';
import { faultPoint } from '../../util/fault.ts';

/** The runelet command line that runs `argv` inside the enclave runtime. */
export function runeletCommand(sys: Sys, argv: string[], root: string): string[] {
  return [...initCommand(cachedHostNode(sys, join(root, '.host-node.json'))), '--runelet', '--', ...argv];
}

/** Runs a process in a container. Returns the exit status (the process's, unless --detach). */
export async function exec(args: CommandArgs & { preserveFds?: string | undefined; command: string[]; processFile?: string | undefined }, ctx: RuneContext): Promise<number> {
  const sys = ctx.sys;
  const paths = findContainer(sys, ctx.root, args.id);
  let raw = args.raw;
  if (isEnclaveContainer(sys, paths)) {
    if (args.processFile !== undefined) {
      let spec: { args?: string[] };
      try {
        spec = JSON.parse(sys.readFile(args.processFile).toString('utf8')) as { args?: string[] };
      } catch (err) {
        throw runeError('RUNE_ERR_USAGE', `Cannot read the process file ${args.processFile}`, { cause: err });
      }
      const rewritten = join(paths.dir, `exec-${randomBytes(6).toString('hex')}.json`);
      sys.writeFileAtomic(rewritten, JSON.stringify({ ...spec, args: runeletCommand(sys, spec.args ?? [], ctx.root) }), { mode: 0o600 });
      raw = raw.map((a, i) => (raw[i - 1] === '--process' || raw[i - 1] === '-p' ? rewritten : a.startsWith('--process=') ? `--process=${rewritten}` : a));
    } else {
      // The command is the tail of the arguments, right after the container id.
      raw = raw.slice(0, raw.length - args.command.length).concat(runeletCommand(sys, args.command, ctx.root));
    }
  }
  faultPoint(sys.env.RUNE_FAULT, 'exec:before-backend');
  return (await forwardToBackend({ id: args.id, raw }, ctx, { paths, extraFds: extraFds(args.preserveFds, sys.env) })).status;
}
