/**
 * containerd-shim-rune-v2: containerd's shim for runtime io.containerd.rune.v2 (docs/shim.md).
 *
 *   containerd-shim-rune-v2 -namespace NS -address SOCK -publish-binary BIN -id ID start
 *   containerd-shim-rune-v2 -namespace NS -address SOCK -publish-binary BIN -id ID -bundle B delete
 *   containerd-shim-rune-v2 -namespace NS -address SOCK -publish-binary BIN -id ID   (the daemon; fd 3 = its socket)
 *   containerd-shim-rune-v2 spare -address SOCK   (a spare daemon, started by a daemon; $RUNE_SHIM_SPARE)
 *
 * `start` and `delete` stay lean (src/shim/manager.ts); the daemon's code is loaded only in the daemon.
 */
import { describeError, exitStatusOf } from '../errors/errors.ts';
import { deleteAction, parseShimFlags, start } from '../shim/manager.ts';

declare const RUNE_VERSION: string;

async function main(argv: readonly string[]): Promise<number> {
  const script = process.argv[1]!;
  if (argv[0] === 'spare' && argv[1] === '-address' && argv[2] !== undefined) {
    const { runSpare } = await import('../shim/spare.ts');
    await runSpare(script, argv[2], process.env.RUNE_SHIM_SPARE ?? '');
    return 0;
  }
  const flags = parseShimFlags(argv);
  switch (flags.action) {
    case 'version':
      process.stdout.write(`containerd-shim-rune-v2 ${typeof RUNE_VERSION === 'string' ? RUNE_VERSION : 'dev'}\n`);
      return 0;
    case 'start':
      process.stdout.write(await start(flags, script));
      // Exit now, without closing the listening socket (closing it would unlink its path; the daemon has it).
      process.exit(0);
      break;
    case 'delete':
      process.stdout.write(await deleteAction(flags));
      return 0;
    case '': {
      const { runDaemon } = await import('../shim/daemon.ts');
      await runDaemon(flags, script);
      return 0;
    }
    default:
      process.stderr.write(`containerd-shim-rune-v2: unknown action ${JSON.stringify(flags.action)}: use start or delete\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    if (status !== 0) process.exitCode = status;
  },
  (err: unknown) => {
    process.stderr.write(`containerd-shim-rune-v2: ${describeError(err)}\n`);
    process.exitCode = exitStatusOf(err);
  },
);
