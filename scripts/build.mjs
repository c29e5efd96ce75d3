// Build: bundle each Node.js entry point with esbuild (no TypeScript loader at run time) and compile the
// rune launcher (src/launcher/rune.c) with the system C compiler. Output goes to dist/.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  // The host attestation daemon (ensureDaemon() in src/attestation-socket/client.ts starts it beside rune.mjs).
  inclavared: 'src/cli/inclavared.ts',
  // A warm rune worker of inclavared's enclave pool (src/inclavared/pool/worker.ts, docs/enclave-pool.md).
  'rune-worker': 'src/inclavared/pool/worker.ts',
  // PID 1 of enclave containers, run by the host's node inside the container (see src/rune/enclave/bundle.ts).
  'init-runelet': 'src/init/init-runelet.ts',
  'rats-tls': 'src/cli/rats-tls.ts',
  // The verifier and key broker (EAA over RATS-TLS; docs/verdictd.md).
  verdictd: 'src/cli/verdictd.ts',
  // The client of verdictd's management API.
  verdict: 'src/cli/verdict.ts',
  // The ocicrypt key provider that unwraps layer keys in an attested enclave (docs/encrypted-images.md).
  'inclavare-keyprovider': 'src/cli/inclavare-keyprovider.ts',
  // containerd's shim for io.containerd.rune.v2 (docs/shim.md); dist/containerd-shim-rune-v2 launches it.
  'containerd-shim-rune-v2': 'src/cli/containerd-shim-rune-v2.ts',
  'inclavare-decoder': 'src/cli/inclavare-decoder.ts',
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
  // pg loads pg-native only when asked for (never here).
  external: ['koffi', 'pg-native'],
  // Dynamic imports stay lazy (a sim container never loads koffi): code they reach goes to dist/chunks/,
  // which is mounted beside init-runelet in enclave containers.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  define: { RUNE_VERSION: JSON.stringify(version) },
});
for (const name of Object.keys(entries)) chmodSync(join(dist, `${name}.mjs`), 0o755);
// The unwrapping enclave's workload: one file, no chunks, copied into the enclave's rootfs and measured with it.
await build({
  entryPoints: [join(root, 'src/keyprovider/enclave-main.ts')],
  outfile: join(dist, 'keyprovider-enclave.mjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  banner: { js: banner },
  logLevel: 'warning',
  legalComments: 'none',
  external: ['koffi'],
  define: { RUNE_VERSION: JSON.stringify(version) },
});

// Library entry points (package.json "exports"): dist/lib/<name>.mjs with the npm dependencies left as imports
// (the application installs them), and their type declarations in dist/types/.
const libraries = {
  'rats-tls': 'src/rats-tls/index.ts',
  'rats-tls-grpc': 'src/rats-tls/grpc.ts',
  attestation: 'src/attestation/index.ts',
  pal: 'src/pal/index.ts',
};
rmSync(join(dist, 'lib'), { recursive: true, force: true });
await build({
  entryPoints: Object.fromEntries(Object.entries(libraries).map(([name, file]) => [name, join(root, file)])),
  outdir: join(dist, 'lib'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  packages: 'external',
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  define: { RUNE_VERSION: JSON.stringify(version) },
});
const types = join(dist, 'types');
rmSync(types, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.lib.json')], { stdio: 'inherit' });
// The sources import each other as './x.ts'; the declarations sit beside './x.d.ts', which './x.js' names.
for (const file of readdirSync(types, { recursive: true })) {
  if (!String(file).endsWith('.d.ts')) continue;
  const path = join(types, String(file));
  const text = readFileSync(path, 'utf8');
  const fixed = text.replace(/((?:from|import\()\s*['"]\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1.js$2');
  if (fixed !== text) writeFileSync(path, fixed);
}

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
// rlimit-exec (src/init/rlimit-exec.c) runs inside enclave containers through the injected dynamic loader,
// beside the host's node, so it is linked dynamically against the same C library.
execFileSync(cc, ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong',
  '-o', join(dist, 'rlimit-exec'), join(root, 'src/init/rlimit-exec.c')], { stdio: 'inherit' });
// init-runelet-sim (src/init/init-runelet-sim.c): PID 1 of a sim enclave container, through the same loader.
execFileSync(cc, ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong',
  '-o', join(dist, 'init-runelet-sim'), join(root, 'src/init/init-runelet-sim.c')], { stdio: 'inherit' });
// hook-exec (src/init/hook-exec.c) runs an enclave container's hooks with the engine's bundle in their state:
// on the host for most hooks, inside the container through the injected loader for startContainer.
execFileSync(cc, ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong',
  '-o', join(dist, 'hook-exec'), join(root, 'src/init/hook-exec.c')], { stdio: 'inherit' });
// The warm path of the rootfs digest (src/rune/enclave/tree-walk.c), loaded by rune and the pool's workers
// through koffi (src/rune/enclave/native-walk.ts).
execFileSync(cc, ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', '-shared', '-fPIC',
  '-o', join(dist, 'lib', 'libinclavare-walk.so'), join(root, 'src/rune/enclave/tree-walk.c')], { stdio: 'inherit' });
// The shim's launcher (what containerd finds on PATH) and its process monitor (src/shim/monitor.c).
execFileSync(cc, ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong',
  `-DRUNE_NODE_PATH=${JSON.stringify(process.execPath)}`,
  '-o', join(dist, 'containerd-shim-rune-v2'), join(root, 'src/shim/launcher.c')], { stdio: 'inherit' });
execFileSync(cc, ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong',
  '-o', join(dist, 'rune-shim-monitor'), join(root, 'src/shim/monitor.c')], { stdio: 'inherit' });
console.log(`built dist/rune (launcher), dist/rlimit-exec, dist/init-runelet-sim, dist/hook-exec, dist/containerd-shim-rune-v2 (launcher), dist/rune-shim-monitor, dist/lib/libinclavare-walk.so, ${Object.keys(entries).map((n) => `dist/${n}.mjs`).join(', ')}, and dist/lib/{${Object.keys(libraries).join(',')}}.mjs with dist/types/`);
