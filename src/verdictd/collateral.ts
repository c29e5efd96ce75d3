/**
 * verdictd's collateral sources (docs/verdictd.md, "Collateral"): where the broker gets the Intel collateral
 * SGX and TDX clients' evidence is verified with when the client does not carry it (RATS-TLS endorsements).
 * `--collateral-dir DIR`: a directory in the layout `tee-tools collateral fetch` writes (src/collateral/intel-dir.ts),
 * read again at each use so that a refreshed directory applies without a restart.
 */
import { COLLATERAL_FILES, type IntelCollateral } from '../attestation/intel/collateral.ts';
import type { TeeType } from '../attestation/claims.ts';
import type { PerTeeOptions } from '../attestation/verify-evidence.ts';
import { loadIntelCollateral } from '../collateral/intel-dir.ts';
import { describeError } from '../errors/errors.ts';
import type { CollateralSource } from './broker.ts';
import { verdictdError } from './codes.ts';

function intelOptions(collateral: IntelCollateral, tee?: TeeType): PerTeeOptions {
  if (tee === undefined) return { sgx: { collateral }, tdx: { collateral } };
  return tee === 'sgx' || tee === 'tdx' ? { [tee]: { collateral } } : {};
}

/**
 * The collateral source of `--collateral-dir DIR`. Checked now: a directory that cannot be read, or that holds
 * none of the collateral files, is VERDICTD_ERR_USAGE naming it (a startup error, not a failure per client).
 */
export async function directoryCollateralSource(dir: string): Promise<CollateralSource> {
  let collateral: IntelCollateral;
  try {
    collateral = await loadIntelCollateral(dir);
  } catch (err) {
    throw verdictdError('VERDICTD_ERR_USAGE', `Cannot use --collateral-dir ${dir}: ${describeError(err)}`, { cause: err });
  }
  if (Object.keys(collateral).length === 0) {
    throw verdictdError('VERDICTD_ERR_USAGE', `Cannot use --collateral-dir ${dir}: it holds none of the collateral files (${Object.values(COLLATERAL_FILES).join(', ')}); fill it with tee-tools collateral fetch`);
  }
  return {
    optionsFor: async (tee) => intelOptions(await loadIntelCollateral(dir), tee),
    anyEvidence: async () => intelOptions(await loadIntelCollateral(dir)),
  };
}
