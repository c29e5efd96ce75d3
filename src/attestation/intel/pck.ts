/**
 * PCK certificate chain of a quote: chain checks against the trust anchors (cached by chain bytes), and the
 * Intel SGX extensions of the PCK certificate (OID 1.2.840.113741.1.13.1; Intel SGX PCK Certificate and
 * Certificate Revocation List Profile Specification, section 1.5 "Intel SGX PCK Certificate Extensions"),
 * decoded with @peculiar/asn1-schema.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { AsnArray, AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes } from '@peculiar/asn1-schema';
import { toHex } from './bytes.ts';
import { INTEL_ERROR_CODES, intelError } from './codes.ts';
import {
  findExtension,
  parseCertificate,
  verifyCertChain,
  type ParsedCert,
  type TrustAnchors,
  type Window,
} from './x509.ts';

/** OID of the SGX extensions in PCK certificates. */
export const SGX_EXTENSIONS_OID = '1.2.840.113741.1.13.1';

// The schema is declared without decorator syntax (tsconfig has no experimentalDecorators); calling the
// decorator factories by hand registers exactly the same schema.
//
// SGXExtensions ::= SEQUENCE OF SEQUENCE { sgxExtensionId OBJECT IDENTIFIER, sgxExtensionValue ANY }
// where the value is OCTET STRING (PPID, PCE-ID, FMSPC, platform instance ID), ENUMERATED (SGX type) or a
// nested SEQUENCE OF SEQUENCE { id, INTEGER | OCTET STRING | BOOLEAN } (TCB, configuration).

/** Value of a nested SGX extension entry (TCB component SVNs, PCESVN, CPUSVN, configuration flags). */
class SgxInnerValue {
  integer?: number;
  octets?: ArrayBuffer;
  bool?: boolean;
}
AsnType({ type: AsnTypeTypes.Choice })(SgxInnerValue);
AsnProp({ type: AsnPropTypes.Integer })(SgxInnerValue.prototype, 'integer');
AsnProp({ type: AsnPropTypes.OctetString })(SgxInnerValue.prototype, 'octets');
AsnProp({ type: AsnPropTypes.Boolean })(SgxInnerValue.prototype, 'bool');

class SgxInnerEntry {
  id = '';
  value = new SgxInnerValue();
}
AsnType({ type: AsnTypeTypes.Sequence })(SgxInnerEntry);
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(SgxInnerEntry.prototype, 'id');
AsnProp({ type: SgxInnerValue })(SgxInnerEntry.prototype, 'value');

class SgxInnerList extends AsnArray<SgxInnerEntry> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: SgxInnerEntry })(SgxInnerList);

/** Value of a top-level SGX extension entry. */
class SgxOuterValue {
  octets?: ArrayBuffer;
  enumerated?: number;
  integer?: number;
  list?: SgxInnerList;
}
AsnType({ type: AsnTypeTypes.Choice })(SgxOuterValue);
AsnProp({ type: AsnPropTypes.OctetString })(SgxOuterValue.prototype, 'octets');
AsnProp({ type: AsnPropTypes.Enumerated })(SgxOuterValue.prototype, 'enumerated');
AsnProp({ type: AsnPropTypes.Integer })(SgxOuterValue.prototype, 'integer');
AsnProp({ type: SgxInnerList })(SgxOuterValue.prototype, 'list');

class SgxOuterEntry {
  id = '';
  value = new SgxOuterValue();
}
AsnType({ type: AsnTypeTypes.Sequence })(SgxOuterEntry);
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(SgxOuterEntry.prototype, 'id');
AsnProp({ type: SgxOuterValue })(SgxOuterEntry.prototype, 'value');

class SgxExtensionsAsn extends AsnArray<SgxOuterEntry> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: SgxOuterEntry })(SgxExtensionsAsn);

/** The decoded SGX extensions of a PCK certificate. */
export interface PckExtensions {
  ppid: string;
  /** SGX TCB component SVNs 1..16 (OIDs .2.1 .. .2.16). */
  tcbComponents: number[];
  pceSvn: number;
  cpuSvn: string;
  pceId: string;
  fmspc: string;
  /** 0 Standard, 1 Scalable, 2 Scalable with integrity. */
  sgxType: number;
  platformInstanceId?: string;
  configuration?: { dynamicPlatform?: boolean; cachedKeys?: boolean; smtEnabled?: boolean };
}

function fail(message: string, cause?: unknown): never {
  throw intelError(INTEL_ERROR_CODES.PCK_CHAIN, `Cannot verify quote: ${message}`, cause === undefined ? {} : { cause });
}

/** Decodes the SGX extensions (extnValue bytes of OID 1.2.840.113741.1.13.1). */
export function decodeSgxExtensions(extnValue: Uint8Array): PckExtensions {
  let asn: SgxExtensionsAsn;
  try {
    asn = AsnConvert.parse(extnValue, SgxExtensionsAsn);
  } catch (err) {
    fail('the SGX extensions of the PCK certificate cannot be decoded', err);
  }
  const base = `${SGX_EXTENSIONS_OID}.`;
  const octets = (v: SgxOuterValue | SgxInnerValue, name: string, len?: number): string => {
    if (!v.octets || (len !== undefined && v.octets.byteLength !== len)) fail(`the PCK certificate's ${name} is not a ${len ?? ''}-byte OCTET STRING`);
    return toHex(new Uint8Array(v.octets));
  };
  const out: Partial<PckExtensions> = {};
  for (const e of asn) {
    const sub = e.id.startsWith(base) ? e.id.slice(base.length) : '';
    switch (sub) {
      case '1':
        out.ppid = octets(e.value, 'PPID', 16);
        break;
      case '2': {
        const comps = new Array<number>(16).fill(-1);
        for (const t of e.value.list ?? fail('the PCK certificate TCB extension is not a SEQUENCE')) {
          const n = t.id.startsWith(`${base}2.`) ? Number(t.id.slice(base.length + 2)) : NaN;
          if (n >= 1 && n <= 16) comps[n - 1] = t.value.integer ?? fail(`TCB component ${n} is not an INTEGER`);
          else if (n === 17) out.pceSvn = t.value.integer ?? fail('PCESVN is not an INTEGER');
          else if (n === 18) out.cpuSvn = octets(t.value, 'CPUSVN', 16);
        }
        if (comps.some((c) => c < 0 || c > 255)) fail('the PCK certificate lacks some of the 16 SGX TCB component SVNs');
        out.tcbComponents = comps;
        break;
      }
      case '3':
        out.pceId = octets(e.value, 'PCE-ID', 2);
        break;
      case '4':
        out.fmspc = octets(e.value, 'FMSPC', 6);
        break;
      case '5':
        out.sgxType = e.value.enumerated ?? fail('SGX type is not ENUMERATED');
        break;
      case '6':
        out.platformInstanceId = octets(e.value, 'platform instance ID');
        break;
      case '7': {
        const conf: NonNullable<PckExtensions['configuration']> = {};
        for (const t of e.value.list ?? fail('the PCK configuration extension is not a SEQUENCE')) {
          if (t.id === `${base}7.1`) conf.dynamicPlatform = t.value.bool;
          else if (t.id === `${base}7.2`) conf.cachedKeys = t.value.bool;
          else if (t.id === `${base}7.3`) conf.smtEnabled = t.value.bool;
        }
        out.configuration = conf;
        break;
      }
      default:
        break;
    }
  }
  for (const k of ['ppid', 'tcbComponents', 'pceSvn', 'cpuSvn', 'pceId', 'fmspc', 'sgxType'] as const) {
    if (out[k] === undefined) fail(`the PCK certificate lacks the SGX extension field ${k}`);
  }
  return out as PckExtensions;
}

/** A PCK chain that checked out against the trust anchors (time validity is checked per verification). */
export interface VerifiedPckChain {
  pck: ParsedCert;
  /** Intel SGX PCK Processor CA or Platform CA. */
  intermediate: ParsedCert;
  root: ParsedCert;
  pckKey: KeyObject;
  extensions: PckExtensions;
  /** Which PCK CA issued the PCK certificate (it selects the PCK CRL: `pckcrl?ca=`). */
  ca: 'processor' | 'platform';
  window: Window;
}

const chainCache = new Map<string, VerifiedPckChain>();
const CHAIN_CACHE_MAX = 1024;

/**
 * Verifies the PCK chain carried in the quote (certification data type 5): exactly PCK certificate, PCK CA,
 * root; root byte-identical to a trust anchor; signatures; SGX extensions. Cached by (chain bytes, anchors).
 */
export function verifyPckChain(certificates: Uint8Array[], anchors: TrustAnchors): VerifiedPckChain {
  const hash = createHash('sha256');
  for (const c of certificates) hash.update(`${c.length}:`).update(c);
  const key = `${anchors.key}:${hash.digest('hex')}`;
  const hit = chainCache.get(key);
  if (hit) return hit;
  const parsed = certificates.map((d) => parseCertificate(d, INTEL_ERROR_CODES.PCK_CHAIN, 'quote: PCK chain'));
  const { chain, window } = verifyCertChain(parsed, anchors, INTEL_ERROR_CODES.PCK_CHAIN, 'quote: PCK chain');
  // Intel's PCK hierarchy is always three levels (PCK Certificate <- PCK Processor/Platform CA <- Root CA).
  if (chain.length !== 3) fail(`the PCK chain has ${chain.length} certificates, expected 3 (PCK, PCK CA, root)`);
  const [pck, intermediate, root] = chain as [ParsedCert, ParsedCert, ParsedCert];
  const cn = /CN=([^,]+)/.exec(intermediate.subject)?.[1] ?? '';
  const ca = /Platform/i.test(cn) ? 'platform' : /Processor/i.test(cn) ? 'processor' : undefined;
  if (!ca) fail(`the PCK certificate is issued by "${intermediate.subject}", not by an Intel SGX PCK Processor or Platform CA`);
  const ext = findExtension(pck, SGX_EXTENSIONS_OID);
  if (!ext) fail('the PCK certificate has no SGX extensions (OID 1.2.840.113741.1.13.1)');
  const extensions = decodeSgxExtensions(ext);
  const result: VerifiedPckChain = { pck, intermediate, root, pckKey: pck.publicKey, extensions, ca, window };
  if (chainCache.size >= CHAIN_CACHE_MAX) chainCache.delete(chainCache.keys().next().value!);
  chainCache.set(key, result);
  return result;
}
