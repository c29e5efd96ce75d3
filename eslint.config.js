// Lint configuration: typescript-eslint's recommended type-aware rules for the whole tree.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Node modules that do I/O, which src/attestation/ must not import (test/unit/layers.test.ts has the same list). */
const ATTESTATION_FORBIDDEN_MODULES = ['fs', 'fs/promises', 'net', 'http', 'https', 'http2', 'child_process', 'dgram', 'dns', 'tls', 'worker_threads', 'cluster']
  .flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's describe/test return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // Layers (README "Layout"; also pinned by test/unit/layers.test.ts): library code does not reach into the
  // inclavared daemon; only the daemon itself and the thin mains in src/cli/ do.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/inclavared/**', 'src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/inclavared/*'], message: 'Library code must not import the daemon: use src/attestation-socket/ (protocol) or src/sys/ (plumbing).' }] }],
    },
  },
  // src/attestation/ is pure (functions of bytes and time): no files, sockets, processes or fetch. Collateral
  // is read or fetched at the edge (src/collateral/, tee-tools, the rats-tls sample) and passed in; only the
  // package entry (index.ts) re-exports those sources. Also pinned by test/unit/layers.test.ts.
  {
    files: ['src/attestation/**/*.ts'],
    ignores: ['src/attestation/index.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ATTESTATION_FORBIDDEN_MODULES.map((name) => ({ name, message: 'src/attestation/ does no I/O: take the data as an input and do the I/O at the edge.' })),
          patterns: [
            { group: ['**/inclavared/*'], message: 'Library code must not import the daemon.' },
            { group: ['**/collateral/*', '**/tee-tools/*', '**/cli/*', '**/sys/*'], message: 'src/attestation/ does no I/O: collateral sources are passed in from the edge.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', ...['fetch', 'XMLHttpRequest', 'WebSocket'].map((name) => ({ name, message: 'src/attestation/ does no I/O.' }))],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
