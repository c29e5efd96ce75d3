// Build: bundle each Node.js entry point with esbuild (no TypeScript loader at run time) and compile the
// rune launcher (src/launcher/rune.c) with the system C compiler. Output goes to dist/.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(join(dist, 'chunks'), { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// Bundled ESM still meets CommonJS dependencies that call require() for Node built-ins.
const banner = [
  '#!/usr/bin/env node',
  "import { createRequire as __rune_createRequire } from 'node:module';",
  'const require = __rune_createRequire(import.meta.url);',
].join('\n');

/** Node.js programs: dist/<name>.mjs. */
const entries = {
  rune: 'src/cli/rune.ts',
  'tee-tools': 'src/cli/tee-tools.ts',
  // The host attestation daemon (ensureDaemon() in src/inclavared/client.ts starts it beside rune.mjs).
  inclavared: 'src/cli/inclavared.ts',
  // PID 1 of enclave containers, run by the host's node inside the container (see src/rune/enclave/bundle.ts).
  'init-runelet': 'src/init/init-runelet.ts',
  'rats-tls': 'src/cli/rats-tls.ts',
};

await build({
  entryPoints: Object.fromEntries(Object.entries(entries).map(([name, file]) => [name, join(root, file)])),
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  banner: { js: banner },
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
  // koffi loads a prebuilt native module at run time; it is mounted beside init-runelet for native PALs.
  external: ['koffi'],
  // Dynamic imports stay lazy (a sim container never loads koffi): code they reach goes to dist/chunks/,
  // which is mounted beside init-runelet in enclave containers.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  define: { RUNE_VERSION: JSON.stringify(version) },
});
for (const name of Object.keys(entries)) chmodSync(join(dist, `${name}.mjs`), 0o755);

// The launcher finds Node.js at the path it was built with (override with RUNE_NODE at run time).
const cc = process.env.CC ?? 'cc';
// Linked statically when the C library allows it: no dynamic loading on each of the engines' many calls.
const ccArgs = [
  '-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong',
  `-DRUNE_NODE_PATH=${JSON.stringify(process.execPath)}`,
  '-o', join(dist, 'rune'), join(root, 'src/launcher/rune.c'),
];
try {
  execFileSync(cc, ['-static', ...ccArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
} catch {
  execFileSync(cc, ccArgs, { stdio: 'inherit' });
}
console.log(`built dist/rune (launcher) and ${Object.keys(entries).map((n) => `dist/${n}.mjs`).join(', ')}`);
