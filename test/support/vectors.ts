/**
 * Where the real attestation vectors are: test/vectors/ in this repository (a verbatim copy of the project's
 * shared set, with its MANIFEST.md of sources and SHA256SUMS), so a clone alone runs the suite.
 * INCLAVARE_VECTORS points the suite at another set of the same layout (for example a held-back one).
 */
import { fileURLToPath } from 'node:url';

export const VECTORS_ROOT = process.env.INCLAVARE_VECTORS ?? fileURLToPath(new URL('../vectors', import.meta.url));
