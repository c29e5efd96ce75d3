/**
 * Collateral from Intel PCS or a PCCS (same API), cached on disk in the vector layout. Intel PCS API v4
 * (https://api.portal.trustedservices.intel.com/content/documentation.html): TCB Info
 * `/{sgx|tdx}/certification/v4/tcb?fmspc=` (issuer chain in `TCB-Info-Issuer-Chain`), QE Identity
 * `/{sgx|tdx}/certification/v4/qe/identity` (`SGX-Enclave-Identity-Issuer-Chain`), PCK CRL
 * `/sgx/certification/v4/pckcrl?ca=processor|platform&encoding=der` (`SGX-PCK-CRL-Issuer-Chain`), Root CA CRL
 * `/sgx/certification/v4/rootcacrl`. Issuer chains are URL-encoded PEM. I/O at the edge (fetch and the cache
 * directory, src/attestation/ stays pure); `fetch` is injectable for tests.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INTEL_ERROR_CODES, intelError } from '../attestation/intel/codes.ts';
import { COLLATERAL_FILES, parseQeIdentity, parseTcbInfo, type IntelCollateral } from '../attestation/intel/collateral.ts';
import { verifyPckChain } from '../attestation/intel/pck.ts';
import { parseIntelQuote } from '../attestation/intel/quote.ts';
import { normalizeTrustAnchors, parseCrl } from '../attestation/intel/x509.ts';
import { INTEL_SGX_ROOT_CA_PEM } from '../attestation/roots/intel.ts';
import { pemDecodeAll } from '../x509/pem.ts';
import { loadIntelCollateral } from './intel-dir.ts';

/** Options of {@link fetchIntelCollateral}. */
export interface FetchIntelCollateralOptions {
  /** FMSPC of the platform (6 bytes, hex). */
  fmspc: string;
  tee: 'sgx' | 'tdx';
  /** PCS or PCCS base URL, e.g. https://api.trustedservices.intel.com (paths /sgx/certification/v4/... follow). */
  baseUrl: string;
  /** Directory of the on-disk cache; collateral goes to `<cacheDir>/<tee>-<fmspc>-<ca>/`. */
  cacheDir: string;
  /** The time at which the cache must still be fresh (default: now). */
  at?: Date;
  /** PCK CA whose CRL to fetch (the CA that issued the platform's PCK certificate); default 'processor'. */
  ca?: 'processor' | 'platform';
  /** The fetch implementation (default: global fetch). */
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default 30 s). */
  timeoutMs?: number;
}

function fetchError(message: string, details: Record<string, unknown> = {}, cause?: unknown): never {
  throw intelError(INTEL_ERROR_CODES.COLLATERAL_FETCH, `Cannot fetch collateral: ${message}`, cause === undefined ? { details } : { details, cause });
}

/** Earliest nextUpdate among the items, or undefined when an item is absent or unparseable. */
function earliestNextUpdate(c: IntelCollateral): number | undefined {
  try {
    if (!c.tcbInfo || !c.qeIdentity || !c.pckCrl || !c.rootCaCrl) return undefined;
    if (!c.tcbInfoIssuerChain || !c.qeIdentityIssuerChain || !c.pckCrlIssuerChain) return undefined;
    return Math.min(
      parseTcbInfo(c.tcbInfo).body.nextUpdate.getTime(),
      parseQeIdentity(c.qeIdentity).body.nextUpdate.getTime(),
      parseCrl(c.pckCrl, INTEL_ERROR_CODES.CRL, 'PCK CRL').window.until,
      parseCrl(c.rootCaCrl, INTEL_ERROR_CODES.CRL, 'Root CA CRL').window.until,
    );
  } catch {
    return undefined;
  }
}

/** CRL bodies come as DER (PCS with encoding=der), PEM, or hex text (PCCS); normalize to DER. */
function crlToDer(body: Uint8Array, url: string): Uint8Array {
  if (body[0] === 0x30) return body;
  const text = Buffer.from(body).toString('latin1').trim();
  const pem = pemDecodeAll(text, 'X509 CRL')[0];
  if (pem) return pem;
  if (/^([0-9a-fA-F]{2})+$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  fetchError(`${url} did not return a CRL (DER, PEM or hex)`);
}

interface Fetched {
  body: Uint8Array;
  headers: Headers;
}

async function get(options: FetchIntelCollateralOptions, path: string): Promise<Fetched> {
  const url = `${options.baseUrl.replace(/\/+$/, '')}${path}`;
  const doFetch = options.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await doFetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
  } catch (err) {
    fetchError(`request to ${url} failed`, { url }, err);
  }
  const body = new Uint8Array(await res.arrayBuffer());
  if (!res.ok) {
    const reason = res.headers.get('Error-Code') ?? res.headers.get('Error-Message') ?? res.statusText;
    fetchError(`${url} answered HTTP ${res.status} ${reason}`, { url, status: res.status });
  }
  return { body, headers: res.headers };
}

function issuerChain(f: Fetched, names: string[], url: string): string {
  for (const n of names) {
    const v = f.headers.get(n);
    if (v) {
      try {
        return decodeURIComponent(v);
      } catch (err) {
        fetchError(`the ${n} header of ${url} is not URL-encoded PEM`, { url }, err);
      }
    }
  }
  fetchError(`${url} sent no ${names[0]} header`, { url });
}

async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * Returns collateral for (tee, fmspc, ca) from the cache while every item's nextUpdate is after `at`,
 * otherwise fetches all of it from the PCS/PCCS at `baseUrl`, stores it in the cache and returns it.
 * The result is not verified here: verification (signatures, dates) is the verifier's job.
 */
export async function fetchIntelCollateral(options: FetchIntelCollateralOptions): Promise<IntelCollateral> {
  const fmspc = String(options.fmspc ?? '').toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(fmspc)) {
    throw intelError(INTEL_ERROR_CODES.MALFORMED, `Cannot fetch collateral: FMSPC "${options.fmspc}" is not 6 bytes of hex`);
  }
  if (options.tee !== 'sgx' && options.tee !== 'tdx') {
    throw intelError(INTEL_ERROR_CODES.MALFORMED, `Cannot fetch collateral: tee must be "sgx" or "tdx", got "${String(options.tee)}"`);
  }
  const ca = options.ca ?? 'processor';
  if (ca !== 'processor' && ca !== 'platform') {
    throw intelError(INTEL_ERROR_CODES.MALFORMED, `Cannot fetch collateral: ca must be "processor" or "platform", got "${String(ca)}"`);
  }
  const at = (options.at ?? new Date()).getTime();
  const dir = join(options.cacheDir, `${options.tee}-${fmspc}-${ca}`);

  try {
    const cached = await loadIntelCollateral(dir);
    const next = earliestNextUpdate(cached);
    if (next !== undefined && next > at) return cached;
  } catch {
    // No usable cache: fetch below.
  }

  const tee = options.tee;
  const tcbPath = `/${tee}/certification/v4/tcb?fmspc=${fmspc}`;
  const qePath = `/${tee}/certification/v4/qe/identity`;
  const crlPath = `/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`;
  const rootPath = '/sgx/certification/v4/rootcacrl';
  const [tcb, qe, crl, root] = await Promise.all([get(options, tcbPath), get(options, qePath), get(options, crlPath), get(options, rootPath)]);
  const collateral: IntelCollateral = {
    tcbInfo: Buffer.from(tcb.body).toString('utf8'),
    tcbInfoIssuerChain: issuerChain(tcb, ['TCB-Info-Issuer-Chain', 'SGX-TCB-Info-Issuer-Chain'], tcbPath),
    qeIdentity: Buffer.from(qe.body).toString('utf8'),
    qeIdentityIssuerChain: issuerChain(qe, ['SGX-Enclave-Identity-Issuer-Chain', 'Enclave-Identity-Issuer-Chain'], qePath),
    pckCrl: crlToDer(crl.body, crlPath),
    pckCrlIssuerChain: issuerChain(crl, ['SGX-PCK-CRL-Issuer-Chain'], crlPath),
    rootCaCrl: crlToDer(root.body, rootPath),
  };
  // Refuse to cache what is not even parseable; a later verification would only fail on it.
  parseTcbInfo(collateral.tcbInfo!);
  parseQeIdentity(collateral.qeIdentity!);

  await mkdir(dir, { recursive: true });
  for (const [key, file] of Object.entries(COLLATERAL_FILES) as [keyof IntelCollateral, string][]) {
    const v = collateral[key];
    if (v !== undefined) await writeAtomically(join(dir, file), v);
  }
  return collateral;
}

/**
 * Fetches (or reuses from the cache) the collateral a quote needs: FMSPC and PCK CA come from its PCK
 * certificate (whose chain must verify against the trust anchors), the TEE from its header.
 */
export async function fetchIntelCollateralForQuote(
  quote: Uint8Array,
  options: Omit<FetchIntelCollateralOptions, 'fmspc' | 'tee' | 'ca'> & { trustAnchors?: readonly (string | Uint8Array)[] },
): Promise<IntelCollateral> {
  const parsed = parseIntelQuote(quote);
  const certs = parsed.signature.certificationData.certificates;
  if (!certs) {
    throw intelError(INTEL_ERROR_CODES.UNSUPPORTED_VERSION, 'Cannot fetch collateral: the quote carries no PCK certificate chain');
  }
  const pck = verifyPckChain(certs, normalizeTrustAnchors(options.trustAnchors ?? [INTEL_SGX_ROOT_CA_PEM]));
  return fetchIntelCollateral({ ...options, fmspc: pck.extensions.fmspc, tee: parsed.tee, ca: pck.ca });
}
