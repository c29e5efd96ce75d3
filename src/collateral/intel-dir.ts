/**
 * Intel collateral in a directory: the layout of the test vectors and of the PCS fetcher's cache
 * ({@link COLLATERAL_FILES}). The edge's side of collateral (tee-tools, the rats-tls sample, tests); the
 * verifier in src/attestation/ only ever gets the values.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BINARY_ITEMS, COLLATERAL_FILES, type IntelCollateral } from '../attestation/intel/collateral.ts';
import { INTEL_ERROR_CODES, intelError } from '../attestation/intel/codes.ts';

/**
 * Reads collateral files from `dir` (vector / cache layout, see {@link COLLATERAL_FILES}). Missing files give
 * absent items (verification then reports ATTEST_ERR_COLLATERAL_MISSING); a missing directory is an error.
 */
export async function loadIntelCollateral(dir: string): Promise<IntelCollateral> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw intelError(INTEL_ERROR_CODES.COLLATERAL_MISSING, `Cannot load collateral: ${dir} is not a readable directory`, { cause: err });
  }
  const out: IntelCollateral = {};
  for (const [key, file] of Object.entries(COLLATERAL_FILES) as [keyof IntelCollateral, string][]) {
    let data: Buffer;
    try {
      data = await readFile(join(dir, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw intelError(INTEL_ERROR_CODES.COLLATERAL_MISSING, `Cannot load collateral: cannot read ${join(dir, file)}`, { cause: err });
    }
    if (BINARY_ITEMS.has(key)) (out as Record<string, unknown>)[key] = new Uint8Array(data);
    else (out as Record<string, unknown>)[key] = data.toString('utf8');
  }
  return out;
}
