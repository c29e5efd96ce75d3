/** Helpers for the PAL tests: stdio captured in temp files, waiting on output, expected errors. */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isInclavareError } from '../../../src/errors/errors.ts';
import type { PalStdio } from '../../../src/pal/types.ts';

/** A temp directory removed by {@link TempDir.remove}. */
export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'inclavare-pal-'));

  /** Absolute path of `name` inside the directory. */
  file(name: string): string {
    return join(this.path, name);
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** stdin from a file (empty by default), stdout and stderr to files; read them back after the process ended. */
export class CapturedStdio {
  readonly stdio: PalStdio;
  readonly #out: string;
  readonly #err: string;

  constructor(dir: TempDir, name: string, stdin = '') {
    const inPath = dir.file(`${name}.in`);
    writeFileSync(inPath, stdin);
    this.#out = dir.file(`${name}.out`);
    this.#err = dir.file(`${name}.err`);
    this.stdio = { stdin: openSync(inPath, 'r'), stdout: openSync(this.#out, 'w'), stderr: openSync(this.#err, 'w') };
  }

  get stdout(): string {
    return readFileSync(this.#out, 'utf8');
  }

  get stderr(): string {
    return readFileSync(this.#err, 'utf8');
  }

  /** Closes our copies of the fds (the runtime duplicates or uses them while the process runs). */
  close(): void {
    for (const fd of [this.stdio.stdin, this.stdio.stdout, this.stdio.stderr]) closeSync(fd);
  }
}

/** Polls `read()` until `predicate` holds (for "the process has started" before a kill); fails after `ms`. */
export async function waitFor(read: () => string, predicate: (s: string) => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate(read())) {
    if (Date.now() > until) assert.fail(`timed out waiting; last value: ${JSON.stringify(read())}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Asserts `promise` rejects with an InclavareError of `code` whose message matches `message`. */
export async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp | string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isInclavareError(err), `expected an InclavareError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}
