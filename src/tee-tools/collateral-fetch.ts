/**
 * `tee-tools collateral fetch --fmspc HEX [--tdx] --pccs URL --out DIR`: fetches the Intel collateral of one
 * platform from a PCS/PCCS (fetchIntelCollateral) and writes it into DIR in the vector layout
 * (tcb_info.json, qe_identity.json, the issuer chains, pck_crl.der, root_ca_crl.der), ready for
 * `tee-tools verify --collateral DIR`. Nothing is verified here; verification checks signatures and dates.
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COLLATERAL_FILES, parseTcbInfo, type IntelCollateral } from '../attestation/intel/collateral.ts';
import { fetchIntelCollateral } from '../collateral/intel-pcs.ts';
import { errorLine, EXIT, exitCodeOf, parseTime, usageError, type CommandResult } from './io.ts';
import { TEE_TOOLS_ERROR_CODES, teeToolsError } from './codes.ts';

/** The flags of `tee-tools collateral fetch`. */
export interface CollateralFetchOptions {
  fmspc: string;
  tdx?: boolean;
  pccs: string;
  out: string;
  /** PCK CA whose CRL to fetch; default processor. */
  ca?: string;
  /** Per-request timeout (ms). */
  timeoutMs?: number;
  /** The fetch implementation (tests). */
  fetch?: typeof fetch;
}

/** Writes `collateral` into `dir` in the vector layout; each file is replaced atomically. */
export async function writeIntelCollateral(dir: string, collateral: IntelCollateral): Promise<string[]> {
  const written: string[] = [];
  try {
    await mkdir(dir, { recursive: true });
    for (const [key, file] of Object.entries(COLLATERAL_FILES) as [keyof IntelCollateral, string][]) {
      const v = collateral[key];
      if (v === undefined) continue;
      const path = join(dir, file);
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, v);
      await rename(tmp, path);
      written.push(file);
    }
  } catch (err) {
    throw teeToolsError(TEE_TOOLS_ERROR_CODES.IO, `Cannot write collateral into ${dir}`, { cause: err });
  }
  return written;
}

/** Runs `tee-tools collateral fetch`: exit 0 written, 1 the service failed, 2 bad flags or unwritable DIR. */
export async function collateralFetch(o: CollateralFetchOptions): Promise<CommandResult> {
  let cacheDir: string | undefined;
  try {
    const fmspc = o.fmspc.toLowerCase();
    if (!/^[0-9a-f]{12}$/.test(fmspc)) throw usageError(`Invalid --fmspc "${o.fmspc}": expected 6 bytes of hex (12 digits)`);
    const ca = o.ca ?? 'processor';
    if (ca !== 'processor' && ca !== 'platform') throw usageError(`Invalid --ca "${ca}": expected processor or platform`);
    let baseUrl: URL;
    try {
      baseUrl = new URL(o.pccs);
    } catch (err) {
      throw usageError(`Invalid --pccs "${o.pccs}": not a URL`, err);
    }
    if (baseUrl.protocol !== 'https:' && baseUrl.protocol !== 'http:') throw usageError(`Invalid --pccs "${o.pccs}": expected an http(s) URL`);
    // The fetcher keeps a cache keyed by platform; the requested layout is DIR itself, so fetch through a
    // private cache directory and copy the result.
    cacheDir = await mkdtemp(join(tmpdir(), 'tee-tools-pcs-'));
    const tee = o.tdx === true ? 'tdx' : 'sgx';
    const collateral = await fetchIntelCollateral({
      fmspc,
      tee,
      ca,
      baseUrl: o.pccs,
      cacheDir,
      at: parseTime(undefined),
      ...(o.fetch ? { fetch: o.fetch } : {}),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    });
    const files = await writeIntelCollateral(o.out, collateral);
    const info = parseTcbInfo(collateral.tcbInfo!).body;
    const summary =
      `wrote ${files.length} files to ${o.out}: ${tee.toUpperCase()} TCB Info for FMSPC ${info.fmspc} ` +
      `(issued ${info.issueDate.toISOString()}, next update ${info.nextUpdate.toISOString()}), QE Identity, ${ca} PCK CRL, Root CA CRL\n`;
    return { exitCode: EXIT.ok, stdout: summary, stderr: '' };
  } catch (err) {
    return { exitCode: exitCodeOf(err), stdout: '', stderr: errorLine(err) };
  } finally {
    if (cacheDir !== undefined) await rm(cacheDir, { recursive: true, force: true });
  }
}
