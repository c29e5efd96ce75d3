/**
 * Where the built programs live (dist/). Bundled code may sit in dist/ itself or, when esbuild splits code
 * shared by several programs, in dist/chunks/: either way the programs are in dist/. $RUNE_DIST_DIR overrides.
 */
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The dist/ directory of this installation. Run from source (tsx), the repository's dist/. */
export function distDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.RUNE_DIST_DIR) return env.RUNE_DIST_DIR;
  const self = fileURLToPath(import.meta.url);
  const here = dirname(self);
  if (self.endsWith('.ts')) return resolve(here, '..', '..', 'dist');
  return basename(here) === 'chunks' ? dirname(here) : here;
}
