/** File-system helpers shared by the daemon, the key store and the client. */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * mkdir -p with `mode` for every directory it creates. Not mkdirSync({ recursive: true }): on Node 20 that
 * spins forever at 100% CPU when a parent cannot be created (e.g. anything under /proc), and a daemon
 * must fail, not hang.
 */
export function makeDirectory(path: string, mode: number): void {
  try {
    mkdirSync(path, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(path).isDirectory()) throw err;
      return;
    }
    if (code !== 'ENOENT' || dirname(path) === path) throw err;
    makeDirectory(dirname(path), mode);
    try {
      mkdirSync(path, { mode });
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(path).isDirectory()) throw again;
    }
  }
}
