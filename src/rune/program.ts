/**
 * rune's Node.js program: parses runc's command line, runs one command, maps errors to an exit status.
 * The launcher (src/launcher/rune.c) runs it (src/cli/rune.ts) for everything it does not handle itself; it
 * is also a complete runtime on its own (RUNE_FAST_PATH=0 sends every call here). A warm worker of
 * inclavared's pool (src/inclavared/pool/worker.ts) runs it with a Sys whose backend runs go back to the
 * launcher (docs/enclave-pool.md).
 */
import { Command, Option } from 'commander';
import { runeError } from './codes.ts';
import { runProgram, type SetResult } from '../cli/run-program.ts';
import { captureBackend, findBackend, type BackendGlobals } from './backend.ts';
import { attest } from './commands/attest.ts';
import { create } from './commands/create.ts';
import { deleteContainer } from './commands/delete.ts';
import { exec } from './commands/exec.ts';
import { features } from './commands/features.ts';
import { forwarded } from './commands/forwarded.ts';
import { kill } from './commands/kill.ts';
import { list } from './commands/list.ts';
import { spec } from './commands/spec.ts';
import { start } from './commands/start.ts';
import { state } from './commands/state.ts';
import type { RuneContext } from './context.ts';
import { RuneLog } from './log.ts';
import { DEFAULT_ROOT } from './state.ts';
import { linuxSys } from '../sys/linux.ts';
import type { Sys } from '../sys/sys.ts';

declare const RUNE_VERSION: string | undefined;
const VERSION = typeof RUNE_VERSION === 'string' ? RUNE_VERSION : '0.0.0-dev';
/** The OCI runtime-spec version rune's configs follow (runc 1.1's). */
const SPEC_VERSION = '1.0.2-dev';

/** Global flags that take a value (runc's, plus --backend). */
const VALUE_GLOBALS = new Set(['--root', '--log', '--log-format', '--rootless', '--criu', '--backend']);

/** The global flags as given, and where the command starts in argv. */
interface SplitArgv {
  globals: Map<string, string | true>;
  commandIndex: number;
}

/** Finds the global flags and the command without judging them (for logging even when parsing fails). */
function splitArgv(argv: string[]): SplitArgv {
  const globals = new Map<string, string | true>();
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (eq > 0) globals.set(name, arg.slice(eq + 1));
    else if (VALUE_GLOBALS.has(name) && i + 1 < argv.length) globals.set(name, argv[++i]!);
    else globals.set(name, true);
  }
  return { globals, commandIndex: i };
}

function str(v: string | true | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function makeLog(globals: Map<string, string | true>): RuneLog {
  const format = str(globals.get('--log-format')) === 'json' ? 'json' : 'text';
  return new RuneLog({ path: str(globals.get('--log')), format, debug: globals.get('--debug') === true });
}

function versionText(globals: Map<string, string | true>): string {
  let backend = 'backend: not found (install runc or set RUNE_BACKEND)';
  try {
    const sys = linuxSys();
    const path = findBackend(sys, str(globals.get('--backend')));
    const first = captureBackend(sys, path, ['--version']).stdout.split('\n')[0] ?? '';
    backend = `backend: ${path} (${first.trim()})`;
  } catch {
    // the version still prints without a backend
  }
  return `rune version ${VERSION}\nspec: ${SPEC_VERSION}\n${backend}\n`;
}

/** Builds the command-line program; `run` receives each command's outcome. */
function buildProgram(argv: string[], split: SplitArgv, setResult: SetResult, makeSys: () => Sys = linuxSys): Command {
  const raw = (): string[] => argv.slice(split.commandIndex);
  const program = new Command('rune')
    .description(
      'An OCI runtime, drop-in for runc: plain containers run through a backend runtime (runc), enclave ' +
        'containers inside an enclave runtime. Engines call it exactly as they call runc.',
    )
    .usage('[global options] <command> [command options] <container-id> ...')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .option('--root <dir>', 'directory for rune state, one directory per container', DEFAULT_ROOT)
    .option('--log <file>', 'log file (runc-compatible lines; containerd reads the last error line)')
    .addOption(new Option('--log-format <format>', 'log format').choices(['text', 'json']).default('text'))
    .option('--debug', 'write debug lines to the log')
    .option('--systemd-cgroup', 'use systemd cgroups (passed to the backend)')
    .option('--rootless <value>', 'rootless mode: true, false or auto (passed to the backend)')
    .option('--criu <path>', 'criu binary (accepted, passed to the backend)')
    .option('--backend <path>', 'backend runtime for plain containers (default: $RUNE_BACKEND, else runc on PATH)')
    .option('-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help');

  const context = (): RuneContext => {
    const o = program.opts<{
      root: string; log?: string; logFormat: string; debug?: boolean; systemdCgroup?: boolean; rootless?: string; criu?: string; backend?: string;
    }>();
    const globals: BackendGlobals = {
      log: o.log,
      logFormat: split.globals.has('--log-format') ? o.logFormat : undefined,
      debug: o.debug,
      systemdCgroup: o.systemdCgroup,
      rootless: o.rootless,
      criu: o.criu,
    };
    return { root: o.root, log: makeLog(split.globals), globals, backendFlag: o.backend, sys: makeSys() };
  };

  const withCreateFlags = (cmd: Command): Command =>
    cmd
      .option('-b, --bundle <dir>', 'path to the bundle directory (default: the current directory)')
      .option('--console-socket <path>', 'AF_UNIX socket that receives the console master fd')
      .option('--pid-file <path>', 'file to write the container process id to')
      .option('--no-pivot', 'do not use pivot_root (rootfs on a ramdisk)')
      .option('--no-new-keyring', 'do not create a new session keyring')
      .option('--preserve-fds <n>', 'pass N additional file descriptors to the container');

  withCreateFlags(program.command('create').description('create a container').argument('<container-id>')).action(
    (id: string, o: { bundle?: string; preserveFds?: string }) => {
      setResult(create({ id, raw: raw(), bundle: o.bundle, preserveFds: o.preserveFds }, context()));
    },
  );
  withCreateFlags(program.command('run').description('create and run a container').argument('<container-id>'))
    .option('-d, --detach', 'detach from the container process')
    .option('--keep', 'do not delete the container after it exits')
    .option('--no-subreaper', 'disable the use of the subreaper')
    .action((id: string, o: { bundle?: string; preserveFds?: string; detach?: boolean; keep?: boolean }) => {
      setResult(create({ id, raw: raw(), bundle: o.bundle, preserveFds: o.preserveFds, run: true, detach: o.detach === true, keep: o.keep === true }, context()));
    });

  program.command('start').description('start the process of a created container').argument('<container-id>').action((id: string) => {
    setResult(start({ id, raw: raw() }, context()));
  });
  program.command('state').description('print the state of a container as JSON').argument('<container-id>').action((id: string) => {
    setResult(state({ id, raw: raw() }, context()));
  });
  for (const [name, description] of [
    ['pause', 'suspend all processes of a container'],
    ['resume', 'resume all processes of a paused container'],
  ] as const) {
    program.command(name).description(description).argument('<container-id>').action((id: string) => {
      setResult(forwarded({ id, raw: raw() }, context()));
    });
  }
  program
    .command('kill')
    .description('send a signal (name with or without SIG, or number; default TERM) to a container')
    .argument('<container-id>')
    .argument('[signal]')
    .option('-a, --all', 'send the signal to all processes of the container')
    .action((id: string, signal: string | undefined) => {
      setResult(kill({ id, raw: raw(), signal }, context()));
    });
  program
    .command('delete')
    .description('delete a container and its state')
    .argument('<container-id>')
    .option('-f, --force', 'kill the container first if it is running')
    .action((id: string) => {
      setResult(deleteContainer({ id, raw: raw() }, context()));
    });
  program
    .command('list')
    .description('list containers')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'print container ids only')
    .action((o: { format: string; quiet?: boolean }) => {
      setResult(list({ format: o.format, quiet: o.quiet === true }, context()));
    });
  program
    .command('ps')
    .description('list the processes of a container')
    .argument('<container-id>')
    .argument('[ps-args...]')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .passThroughOptions()
    .action((id: string) => {
      setResult(forwarded({ id, raw: raw() }, context()));
    });
  program
    .command('exec')
    .description('run a new process inside a container')
    .argument('<container-id>')
    .argument('[command...]')
    .option('--console-socket <path>', 'AF_UNIX socket that receives the console master fd')
    .option('--cwd <dir>', 'working directory of the process')
    .option('-e, --env <var>', 'set an environment variable (repeatable)', (v: string, prev: string[] = []) => prev.concat(v))
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-u, --user <uid[:gid]>', 'user id and group id')
    .option('-g, --additional-gids <gid>', 'additional group ids (repeatable)', (v: string, prev: string[] = []) => prev.concat(v))
    .option('-p, --process <file>', 'process.json describing the process')
    .option('-d, --detach', 'detach from the process')
    .option('--pid-file <path>', 'file to write the process id to')
    .option('--process-label <label>', 'SELinux label of the process')
    .option('--apparmor <profile>', 'AppArmor profile of the process')
    .option('--no-new-privs', 'set no_new_privs')
    .option('-c, --cap <cap>', 'add a capability (repeatable)', (v: string, prev: string[] = []) => prev.concat(v))
    .option('--preserve-fds <n>', 'pass N additional file descriptors to the process')
    .option('--cgroup <path>', 'run the process in a (sub)cgroup')
    .option('--ignore-paused', 'allow exec in a paused container')
    .passThroughOptions()
    .action((id: string, command: string[], o: { process?: string; preserveFds?: string }) => {
      if (o.process === undefined && command.length === 0) {
        throw runeError('RUNE_ERR_USAGE', 'Cannot exec: give a command after the container id, or --process FILE');
      }
      setResult(exec({ id, raw: raw(), preserveFds: o.preserveFds, command, processFile: o.process }, context()));
    });
  program
    .command('events')
    .description('print container events and statistics')
    .argument('<container-id>')
    .option('--interval <duration>', 'interval between statistics', '5s')
    .option('--stats', 'print statistics once and exit')
    .action((id: string) => {
      setResult(forwarded({ id, raw: raw() }, context()));
    });
  program
    .command('update')
    .description('update the resource limits of a container (flags as runc update)')
    .argument('<container-id>')
    // runc update's flags that take a value, declared so that the value is not taken for the container id
    // (containerd's shims call `update --resources FILE|- ID`); all of them go to runc verbatim.
    .option('-r, --resources <file>', 'LinuxResources JSON (- for stdin)')
    .option('--blkio-weight <n>').option('--cpu-period <n>').option('--cpu-quota <n>').option('--cpu-share <n>')
    .option('--cpu-rt-period <n>').option('--cpu-rt-runtime <n>').option('--cpuset-cpus <list>').option('--cpuset-mems <list>')
    .option('--kernel-memory <n>').option('--kernel-memory-tcp <n>').option('--memory <n>').option('--memory-reservation <n>')
    .option('--memory-swap <n>').option('--pids-limit <n>').option('--l3-cache-schema <s>').option('--mem-bw-schema <s>')
    .allowUnknownOption()
    .allowExcessArguments()
    .action((id: string) => {
      setResult(forwarded({ id, raw: raw() }, context()));
    });
  program
    .command('spec')
    .description('write a default config.json (with the enclave annotations) into the bundle')
    .option('-b, --bundle <dir>', 'bundle directory (default: the current directory)')
    .option('--rootless', 'a spec for a rootless container')
    .option('--enclave-type <type>', 'preset the enclave.type annotation')
    .option('--enclave-runtime-path <path>', 'preset the enclave.runtime.path annotation')
    .option('--enclave-runtime-args <args>', 'preset the enclave.runtime.args annotation')
    .option('--enclave-runtime-loglevel <level>', 'preset the enclave.runtime.loglevel annotation', 'info')
    .action((o: { bundle?: string; rootless?: boolean; enclaveType?: string; enclaveRuntimePath?: string; enclaveRuntimeArgs?: string; enclaveRuntimeLoglevel?: string }) => {
      setResult(
        spec({
          bundle: o.bundle,
          rootless: o.rootless === true,
          enclave: { type: o.enclaveType, runtimePath: o.enclaveRuntimePath, runtimeArgs: o.enclaveRuntimeArgs, runtimeLogLevel: o.enclaveRuntimeLoglevel },
        }),
      );
    });
  program
    .command('attest')
    .description("get a running enclave container's evidence from its attestation socket")
    .argument('<container-id>')
    .option('--report-data <hex>', 'up to 64 bytes (hex) to bind into the evidence, e.g. a verifier nonce')
    .option('--out <file>', 'write the evidence to a file')
    .option('--reportFile <file>', 'the original rune attest flag: same as --out')
    .option('--json', 'print the result as JSON')
    .action((id: string, o: { reportData?: string; out?: string; reportFile?: string; json?: boolean }) => {
      setResult(attest({ id, reportData: o.reportData, out: o.out ?? o.reportFile, json: o.json === true }, context()));
    });
  program
    .command('features')
    .description("print the runtime's features as JSON")
    .action(() => {
      setResult(features(context()));
    });
  return program;
}

/** Runs rune with `argv` (without node and script). Resolves to the exit status. */
export async function main(argv: string[], options: { sys?: () => Sys } = {}): Promise<number> {
  const split = splitArgv(argv);
  const log = makeLog(split.globals);
  if (split.globals.has('--version') || split.globals.has('-v')) {
    process.stdout.write(versionText(split.globals));
    return 0;
  }
  const program = (setResult: SetResult): Command => buildProgram(argv, split, setResult, options.sys);
  // runc's statuses (engines rely on them): every failure 1, usage included; errors go to the log.
  return runProgram('rune', argv, program, {
    exitStatuses: 'runc',
    helpOnEmptyArgv: true,
    report: (line) => log.error(line),
    usageLine: (message, built) => {
      const known = built.commands.some((c) => c.name() === argv[split.commandIndex]);
      const command = known ? `rune ${argv[split.commandIndex]}` : 'rune';
      return `Invalid arguments for ${command}: ${message} (see ${command} --help)`;
    },
    debug: (text) => log.debug(text),
  });
}

