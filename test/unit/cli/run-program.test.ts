/** The shared tail of the mains: exit statuses from the error table, or runc's for rune (src/cli/run-program.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { defineErrorCodes } from '../../../src/errors/errors.ts';
import { runProgram, type RunProgramOptions, type SetResult } from '../../../src/cli/run-program.ts';

const toolError = defineErrorCodes('TOOL_ERR', { TOOL_ERR_USAGE: 'usage', TOOL_ERR_REJECTED: 'verification-failed', TOOL_ERR_GONE: 'not-found' });

function build(fail: () => never): (setResult: SetResult) => Command {
  return (setResult) => {
    const program = new Command('tool').exitOverride().configureOutput({ outputError: () => {}, writeErr: () => {}, writeOut: () => {} });
    program.command('ok').exitOverride().action(() => setResult(0));
    program.command('fail').exitOverride().action(() => setResult(Promise.resolve().then(fail)));
    return program;
  };
}

/** Runs `tool ARGV` and returns the status and the lines reported. */
async function run(argv: string[], fail: () => never, options: RunProgramOptions = {}): Promise<{ status: number; lines: string[]; debug: string[] }> {
  const lines: string[] = [];
  const debug: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = () => true; // help text
  try {
    const status = await runProgram('tool', argv, build(fail), { report: (l) => lines.push(l), debug: (t) => debug.push(t), ...options });
    return { status, lines, debug };
  } finally {
    process.stdout.write = write;
  }
}

const never = (): never => {
  throw new Error('not called');
};

describe('runProgram()', () => {
  test('the status comes from the error class: usage 2, others 1, success 0', async () => {
    assert.equal((await run(['ok'], never)).status, 0);
    assert.equal((await run(['fail'], () => { throw toolError('TOOL_ERR_USAGE', 'Invalid --at "x"'); })).status, 2);
    assert.equal((await run(['fail'], () => { throw toolError('TOOL_ERR_REJECTED', 'Cannot verify'); })).status, 1);
    assert.equal((await run(['fail'], () => { throw toolError('TOOL_ERR_GONE', 'Cannot find'); })).status, 1);
  });

  test('command-line errors and a missing command are usage errors (2)', async () => {
    const bad = await run(['--no-such-flag'], never);
    assert.deepEqual([bad.status, bad.lines], [2, ["unknown option '--no-such-flag' (see tool --help)"]]);
    assert.equal((await run([], never)).status, 2);
    assert.equal((await run([], never, { helpOnEmptyArgv: true })).status, 2);
  });

  test('an unexpected error exits 1 with its message; its stack goes only to the debug sink', async () => {
    const res = await run(['fail'], () => { throw new RangeError('offset out of range'); });
    assert.deepEqual([res.status, res.lines], [1, ['offset out of range']]);
    assert.match(res.debug[0] ?? '', /RangeError: offset out of range\n\s+at /);
    const known = await run(['fail'], () => { throw toolError('TOOL_ERR_GONE', 'Cannot find c1', { cause: new Error('ENOENT') }); });
    assert.deepEqual([known.lines, known.debug], [['Cannot find c1: ENOENT'], []]);
  });

  test("runc statuses (rune): every failure 1, usage included, and help 0", async () => {
    const runc: RunProgramOptions = { exitStatuses: 'runc', helpOnEmptyArgv: true };
    assert.equal((await run(['fail'], () => { throw toolError('TOOL_ERR_USAGE', 'x'); }, runc)).status, 1);
    assert.equal((await run(['--no-such-flag'], never, runc)).status, 1);
    assert.equal((await run([], never, runc)).status, 0);
    assert.equal((await run(['ok'], never, runc)).status, 0);
  });

  test('usageLine phrases command-line errors (rune names the command)', async () => {
    const res = await run(['ok', 'extra'], never, { usageLine: (m, p) => `Invalid arguments for ${p.name()}: ${m}` });
    assert.deepEqual(res.lines, ["Invalid arguments for tool: too many arguments for 'ok'. Expected 0 arguments but got 1."]);
  });
});
