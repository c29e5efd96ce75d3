/**
 * The shared tail of a thin main (inclavared, rats-tls): parse argv with a commander program whose action
 * hands back a promise of the exit status, and turn every failure into one line on stderr and a status —
 * 2 for usage errors (help for a missing subcommand included), the error table's status otherwise.
 */
import { CommanderError, type Command } from 'commander';
import { describeError, isInclavareError } from '../errors/errors.ts';

/** Receives the exit status of the action that ran. */
export type SetResult = (result: Promise<number>) => void;

/** Runs `name`'s program on `argv`; resolves to the exit status. `exitCodeOf` maps a failure (default: the error table). */
export async function runProgram(
  name: string,
  argv: string[],
  build: (setResult: SetResult) => Command,
  exitCodeOf: (err: unknown) => number = (err) => (isInclavareError(err) ? err.mapping.exitCode : 1),
): Promise<number> {
  let pending: Promise<number> | undefined;
  const program = build((r) => {
    pending = r;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    if (pending === undefined) {
      process.stdout.write(program.helpInformation());
      return 2;
    }
    return await pending;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return err.exitCode === 0 ? 0 : 2;
      process.stderr.write(`${name}: ${err.message.replace(/^error: /, '')} (see ${name} --help)\n`);
      return 2;
    }
    process.stderr.write(`${name}: ${describeError(err)}\n`);
    return exitCodeOf(err);
  }
}
