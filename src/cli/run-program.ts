/**
 * The shared tail of every thin main (rune, tee-tools, inclavared, rats-tls): parse argv with a commander
 * program whose action hands back (a promise of) the exit status, and turn every failure into one line and
 * a status. The status comes from the error's class in the error table (src/errors/errors.ts, docs/errors.md):
 * usage errors (command-line errors and the `usage` class) exit 2, the other classes 1; an error that is no
 * InclavareError exits 1 with its message, its stack only when INCLAVARE_DEBUG is set. rune keeps runc's
 * statuses instead (`exitStatuses: 'runc'`).
 */
import { CommanderError, type Command } from 'commander';
import { describeError, exitStatusOf, isInclavareError } from '../errors/errors.ts';

/** A repeatable option's parser (commander): `--env A --env B` → ['A', 'B']. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Receives the exit status of the action that ran. */
export type SetResult = (result: Promise<number> | number) => void;

/** How a main differs from the default (see {@link runProgram}). */
export interface RunProgramOptions {
  /**
   * `table` (default): the error table's statuses, usage errors 2. `runc`: rune's runc-compatible statuses,
   * which engines (containerd, podman, CRI-O) rely on: every failure exits 1, usage errors included, and help
   * (asked for or shown for a missing command) exits 0.
   */
  exitStatuses?: 'table' | 'runc';
  /** With no arguments at all, print help on stdout (and exit 2, or 0 for `runc`) rather than commander's usage error. */
  helpOnEmptyArgv?: boolean;
  /** Writes the one error line (default: `NAME: LINE` on stderr). rune: its log, which containerd reads. */
  report?: (line: string) => void;
  /** Phrases a command-line error from commander's message (default: `MESSAGE (see NAME --help)`). */
  usageLine?: (message: string, program: Command) => string;
  /** Receives the stack of an error that is no InclavareError (default: stderr, only when INCLAVARE_DEBUG is set). */
  debug?: (text: string) => void;
}

function defaultDebug(text: string): void {
  if (process.env.INCLAVARE_DEBUG) process.stderr.write(`${text}\n`);
}

/** Runs `name`'s program on `argv`; resolves to the exit status. */
export async function runProgram(name: string, argv: string[], build: (setResult: SetResult) => Command, options: RunProgramOptions = {}): Promise<number> {
  const runc = options.exitStatuses === 'runc';
  const usageStatus = runc ? 1 : 2;
  const helpStatus = runc ? 0 : 2;
  const report = options.report ?? ((line: string) => process.stderr.write(`${name}: ${line}\n`));
  let pending: Promise<number> | number | undefined;
  const program = build((r) => {
    pending = r;
  });
  try {
    if (argv.length === 0 && options.helpOnEmptyArgv === true) {
      process.stdout.write(program.helpInformation());
      return helpStatus;
    }
    await program.parseAsync(argv, { from: 'user' });
    if (pending === undefined) {
      process.stdout.write(program.helpInformation());
      return helpStatus;
    }
    return await pending;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help or the version asked for is success; help shown for a missing subcommand is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return err.exitCode === 0 ? 0 : helpStatus;
      const message = err.message.replace(/^error: /, '');
      report(options.usageLine ? options.usageLine(message, program) : `${message} (see ${name} --help)`);
      return usageStatus;
    }
    report(describeError(err));
    if (!isInclavareError(err)) (options.debug ?? defaultDebug)(String((err as Error)?.stack ?? err));
    return runc ? 1 : exitStatusOf(err);
  }
}
