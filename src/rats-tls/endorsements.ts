/**
 * The TCG DICE endorsements extension (OID 2.23.133.5.4.2) for Intel evidence (docs/rats-tls.md, "Endorsements"):
 * the collateral a verifier needs for the quote, carried in the certificate so that a peer without a PCCS can
 * still appraise it. Value: CBOR
 *
 *   tag(60000)[ uint version, bstr TCB_INFO, bstr TCB_ISSUER_CHAIN, bstr CRL_PCK_CERT, bstr CRL_PCK_PROC_CA,
 *               bstr CRL_ISSUER_CHAIN_PCK_CERT, bstr QE_ID_INFO, bstr QE_ID_ISSUER_CHAIN (, CREATION_DATETIME) ]
 *
 * CRL_PCK_CERT is the PCK CRL (it revokes PCK certificates) and CRL_PCK_PROC_CA the Intel SGX Root CA CRL (it
 * revokes the PCK Processor/Platform CA), as the C RATS-TLS writes them. Every item is signed by an Intel key
 * that chains to the Intel root the verifier trusts, so endorsements add no trust of their own: they are only
 * a transport. Verifiers still check each item's signature and validity at the verification time.
 *
 * Writers differ in details the decoder accepts: text items may end with NUL bytes (C strings from the DCAP
 * quote provider library), CRLs may be DER, PEM or hex-encoded DER.
 */
import { decodeFirst, encode, Tagged } from 'cborg';
import type { IntelCollateral } from '../attestation/intel/collateral.ts';
import { DECODE_OPTIONS, leadingTag } from './cbor.ts';
import { RATS_TLS_ERROR_CODES as E, ratsTlsError } from './codes.ts';
import { TAG_INTEL_QUOTE } from './format.ts';

/** The version we write: Intel's collateral version 3 (PCS API v3/v4 formats). */
export const ENDORSEMENTS_VERSION = 3;

/** The collateral items in the order of the CBOR array (after the version). */
const ITEMS = ['tcbInfo', 'tcbInfoIssuerChain', 'pckCrl', 'rootCaCrl', 'pckCrlIssuerChain', 'qeIdentity', 'qeIdentityIssuerChain'] as const satisfies readonly (keyof IntelCollateral)[];
const CRL_ITEMS = new Set<keyof IntelCollateral>(['pckCrl', 'rootCaCrl']);

/**
 * Where a certificate's endorsements come from: fixed collateral, or a function of the fresh evidence (e.g.
 * fetchIntelCollateralForQuote against a PCCS, which picks the quote's FMSPC and PCK CA).
 */
export type EndorsementsSource = IntelCollateral | ((evidence: Uint8Array, tee: 'sgx' | 'tdx') => Promise<IntelCollateral> | IntelCollateral);

/** Decoded endorsements. */
export interface IntelEndorsements {
  version: number;
  collateral: Required<IntelCollateral>;
  /** The optional ninth item, as text when it is text or UTF-8 bytes. */
  creationTime?: string;
}

function malformed(message: string, cause?: unknown): never {
  throw ratsTlsError(E.MALFORMED, `Cannot parse the endorsements extension: ${message}`, cause === undefined ? {} : { cause });
}

function textBytes(value: string | Uint8Array): Uint8Array {
  return typeof value === 'string' ? new TextEncoder().encode(value) : value;
}

/** Encodes complete Intel collateral as the endorsements extension value. */
export function encodeIntelEndorsements(collateral: IntelCollateral, version: number = ENDORSEMENTS_VERSION): Uint8Array {
  const missing = ITEMS.filter((k) => collateral[k] === undefined);
  if (missing.length > 0) {
    throw ratsTlsError(E.INVALID_ARGUMENT, `Cannot encode endorsements: the collateral lacks ${missing.join(', ')} (all seven items are needed)`);
  }
  if (!Number.isSafeInteger(version) || version < 0 || version > 0xffffffff) throw ratsTlsError(E.INVALID_ARGUMENT, `Cannot encode endorsements: version ${version} is not a uint32`);
  return encode(new Tagged(TAG_INTEL_QUOTE, [version, ...ITEMS.map((k) => textBytes(collateral[k]!))]));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text of a C string: trailing NULs dropped. */
function decodeText(bytes: Uint8Array, name: string): string {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  try {
    return utf8.decode(bytes.subarray(0, end));
  } catch (err) {
    return malformed(`${name} is not UTF-8 text`, err);
  }
}

/** A CRL as DER (or PEM, which the collateral accepts too), from DER, PEM or hex-encoded DER. */
function decodeCrl(bytes: Uint8Array, name: string): Uint8Array {
  if (bytes[0] === 0x30) return bytes;
  const text = decodeText(bytes, name).trim();
  if (text.startsWith('-----BEGIN')) return new TextEncoder().encode(text);
  if (text.length > 0 && text.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  return malformed(`${name} is neither DER, PEM nor hex-encoded DER`);
}

/** Decodes the endorsements extension value (only the first CBOR item is read, as for the evidence). */
export function decodeIntelEndorsements(bytes: Uint8Array): IntelEndorsements {
  const tag = leadingTag(bytes);
  if (tag === undefined) malformed('it does not start with a CBOR tag');
  if (tag !== TAG_INTEL_QUOTE) malformed(`CBOR tag ${tag} (0x${tag.toString(16)}): endorsements are defined for Intel evidence (tag ${TAG_INTEL_QUOTE}) only`);
  let value: unknown;
  try {
    [value] = decodeFirst(bytes, { ...DECODE_OPTIONS, tags: { [tag]: Tagged.decoder(tag) } });
  } catch (err) {
    malformed('invalid CBOR', err);
  }
  const inner = value instanceof Tagged ? (value.value as unknown) : undefined;
  if (!Array.isArray(inner) || (inner.length !== 8 && inner.length !== 9)) malformed('expected tag(60000)[uint version, 7 bstr items (, creation time)]');
  const [version, ...rest] = inner as unknown[];
  if (!Number.isSafeInteger(version) || (version as number) < 0) malformed('the version is not an unsigned integer');
  const collateral: Partial<Record<keyof IntelCollateral, unknown>> = {};
  ITEMS.forEach((name, i) => {
    const item = rest[i];
    if (!(item instanceof Uint8Array)) malformed(`${name} is not a byte string`);
    collateral[name] = CRL_ITEMS.has(name) ? decodeCrl(item, name) : decodeText(item, name);
  });
  const created = rest[7];
  let creationTime: string | undefined;
  if (typeof created === 'string') creationTime = created;
  else if (created instanceof Uint8Array) creationTime = decodeText(created, 'the creation time');
  else if (created !== undefined) malformed('the creation time is neither text nor bytes');
  return { version: version as number, collateral: collateral as Required<IntelCollateral>, ...(creationTime !== undefined ? { creationTime } : {}) };
}

/**
 * The collateral to verify with: the verifier's own items first (they may be fresher or pinned), the
 * certificate's endorsements for the items the verifier lacks. Returns which items came from the certificate.
 */
export function mergeCollateral(own: IntelCollateral | undefined, endorsed: IntelCollateral): { collateral: IntelCollateral; fromCertificate: (keyof IntelCollateral)[] } {
  const collateral: IntelCollateral = { ...own };
  const fromCertificate: (keyof IntelCollateral)[] = [];
  for (const name of ITEMS) {
    if (collateral[name] === undefined && endorsed[name] !== undefined) {
      (collateral as Record<string, unknown>)[name] = endorsed[name];
      fromCertificate.push(name);
    }
  }
  return { collateral, fromCertificate };
}
