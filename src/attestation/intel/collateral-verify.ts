/**
 * Verification of collateral on its own (no quote involved): TCB Info and QE Identity signatures by the
 * Intel SGX TCB Signing certificate over the exact signed bytes, their issuer chains, the PCK CRL and the
 * Root CA CRL signatures and issuer chains, and revocation of the collateral's own CA certificates by the
 * Root CA CRL. None of this depends on the quote or the verification time, so the result is cached by
 * (collateral content hash, trust anchors): verifying many quotes against the same collateral then costs
 * one SHA-256 over the collateral instead of a dozen ECDSA verifications and ASN.1 parses (and the same
 * collateral object, unchanged since its last verification, costs a comparison of its items).
 */
import { createHash } from 'node:crypto';
import { INTEL_ERROR_CODES, intelError, type IntelErrorCode } from './codes.ts';
import {
  COLLATERAL_FILES,
  parseQeIdentity,
  parseTcbInfo,
  type IntelCollateral,
  type QeIdentity,
  type SignedJson,
  type TcbInfo,
} from './collateral.ts';
import {
  parseCrl,
  parsePemChain,
  verifyCertChain,
  verifyRawEcdsa,
  verifyX509Signature,
  type ParsedCert,
  type ParsedCrl,
  type TrustAnchors,
  type Window,
} from './x509.ts';

/** A named validity interval of one input, for the verdict window and for precise expiry messages. */
export interface NamedWindow extends Window {
  item: string;
}

/** Collateral whose signatures and chains checked out; absent items are listed in `missing`. */
export interface VerifiedCollateral {
  tcbInfo?: { info: TcbInfo; signer: ParsedCert };
  qeIdentity?: { identity: QeIdentity; signer: ParsedCert };
  pckCrl?: { crl: ParsedCrl; issuer: ParsedCert };
  rootCaCrl?: { crl: ParsedCrl; root: ParsedCert };
  /** Names of absent items (keys of IntelCollateral). */
  missing: (keyof IntelCollateral)[];
  /** Validity of every present input (documents, CRLs, certificates of their issuer chains). */
  windows: NamedWindow[];
}

const cache = new Map<string, VerifiedCollateral>();
const CACHE_MAX = 256;
const COLLATERAL_KEYS = Object.freeze(Object.keys(COLLATERAL_FILES) as (keyof IntelCollateral)[]);

function collateralHash(c: IntelCollateral): string {
  const h = createHash('sha256');
  for (const key of COLLATERAL_KEYS) {
    const v = c[key];
    if (v === undefined) {
      h.update(`${key}:-;`);
      continue;
    }
    // Length-prefixed (in UTF-8 bytes for text, which is hashed as UTF-8 without an intermediate copy).
    h.update(`${key}:${typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length}:`);
    h.update(v);
  }
  return h.digest('hex');
}

/**
 * The items of a collateral object as last verified: text by value (strings are immutable), bytes as a private
 * copy (a caller may reuse and overwrite its buffers). A later call with the same object is served from the
 * cache only when every item is still equal to this snapshot, which costs a pointer comparison per string and
 * a memcmp per CRL instead of hashing the whole collateral.
 */
interface CollateralSnapshot {
  anchorsKey: string;
  items: (string | Buffer | undefined)[];
  result: VerifiedCollateral;
}

const byObject = new WeakMap<IntelCollateral, CollateralSnapshot>();

function snapshotItems(c: IntelCollateral): CollateralSnapshot['items'] | undefined {
  const items: CollateralSnapshot['items'] = [];
  for (const key of COLLATERAL_KEYS) {
    const v: unknown = c[key];
    if (v === undefined || typeof v === 'string') items.push(v);
    else if (v instanceof Uint8Array) items.push(Buffer.from(v));
    else return undefined;
  }
  return items;
}

function matchesSnapshot(c: IntelCollateral, s: CollateralSnapshot, anchorsKey: string): boolean {
  if (s.anchorsKey !== anchorsKey) return false;
  for (let i = 0; i < COLLATERAL_KEYS.length; i++) {
    const v: unknown = c[COLLATERAL_KEYS[i]!];
    const w = s.items[i];
    if (v === undefined || typeof v === 'string') {
      if (v !== w) return false;
    } else if (!(v instanceof Uint8Array) || !(w instanceof Buffer) || !w.equals(v)) {
      return false;
    }
  }
  return true;
}

function certWindows(prefix: string, chain: ParsedCert[]): NamedWindow[] {
  return chain.map((c) => ({ item: `${prefix} certificate "${c.subject}"`, ...c.window }));
}

function checkNotRevokedByRoot(rootCrl: ParsedCrl | undefined, certs: ParsedCert[], what: string): void {
  if (!rootCrl) return;
  for (const c of certs) {
    if (c.issuerKey === rootCrl.issuerKey && rootCrl.revoked.has(c.serial)) {
      throw intelError(INTEL_ERROR_CODES.REVOKED, `Cannot verify ${what}: "${c.subject}" (serial ${c.serial}) is revoked by the Intel SGX Root CA CRL`);
    }
  }
}

function verifySignedJson<T>(
  doc: SignedJson<T>,
  pem: string,
  anchors: TrustAnchors,
  code: IntelErrorCode,
  what: string,
): { signer: ParsedCert; chain: ParsedCert[] } {
  const { chain } = verifyCertChain(parsePemChain(pem, code, `${what} issuer chain`), anchors, code, `${what} issuer chain`);
  const signer = chain[0]!;
  if (!verifyRawEcdsa(doc.signedBytes, doc.signature, signer.publicKey)) {
    throw intelError(code, `Cannot verify ${what}: its signature does not verify with the key of "${signer.subject}"`);
  }
  return { signer, chain };
}

/**
 * Verifies every present collateral item against the trust anchors (cached; see the module comment).
 * Throws the first failure; absent items are reported in `missing`, not thrown.
 */
export function verifyCollateral(collateral: IntelCollateral, anchors: TrustAnchors): VerifiedCollateral {
  if (typeof collateral !== 'object' || collateral === null) {
    throw intelError(INTEL_ERROR_CODES.COLLATERAL_MISSING, 'Cannot verify quote: no collateral was given');
  }
  const seen = byObject.get(collateral);
  if (seen && matchesSnapshot(collateral, seen, anchors.key)) return seen.result;
  const result = verifyCollateralContent(collateral, anchors);
  const items = snapshotItems(collateral);
  if (items) byObject.set(collateral, { anchorsKey: anchors.key, items, result });
  return result;
}

function verifyCollateralContent(collateral: IntelCollateral, anchors: TrustAnchors): VerifiedCollateral {
  const key = `${anchors.key}:${collateralHash(collateral)}`;
  const hit = cache.get(key);
  if (hit) return hit;

  const out: VerifiedCollateral = { missing: [], windows: [] };
  for (const k of Object.keys(COLLATERAL_FILES) as (keyof IntelCollateral)[]) if (collateral[k] === undefined) out.missing.push(k);

  // Root CA CRL first: it is needed to check the CA certificates of every other item.
  if (collateral.rootCaCrl) {
    const crl = parseCrl(collateral.rootCaCrl, INTEL_ERROR_CODES.CRL, 'Root CA CRL');
    const root = anchors.certs.find((a) => a.subjectKey === crl.issuerKey);
    if (!root || !verifyX509Signature(crl, root.publicKey)) {
      throw intelError(INTEL_ERROR_CODES.CRL, `Cannot verify Root CA CRL: it is not signed by a trust anchor (issuer "${crl.issuer}")`);
    }
    out.rootCaCrl = { crl, root };
    out.windows.push({ item: 'Root CA CRL', ...crl.window });
  }
  const rootCrl = out.rootCaCrl?.crl;

  if (collateral.tcbInfo !== undefined) {
    if (collateral.tcbInfoIssuerChain === undefined) {
      if (!out.missing.includes('tcbInfoIssuerChain')) out.missing.push('tcbInfoIssuerChain');
    } else {
      const doc = parseTcbInfo(collateral.tcbInfo);
      const { signer, chain } = verifySignedJson(doc, collateral.tcbInfoIssuerChain, anchors, INTEL_ERROR_CODES.TCB_INFO_SIGNATURE, 'TCB Info');
      checkNotRevokedByRoot(rootCrl, chain, 'TCB Info');
      out.tcbInfo = { info: doc.body, signer };
      out.windows.push({ item: 'TCB Info', from: doc.body.issueDate.getTime(), until: doc.body.nextUpdate.getTime() });
      out.windows.push(...certWindows('TCB Info issuer', chain));
    }
  }
  if (collateral.qeIdentity !== undefined) {
    if (collateral.qeIdentityIssuerChain === undefined) {
      if (!out.missing.includes('qeIdentityIssuerChain')) out.missing.push('qeIdentityIssuerChain');
    } else {
      const doc = parseQeIdentity(collateral.qeIdentity);
      const { signer, chain } = verifySignedJson(
        doc,
        collateral.qeIdentityIssuerChain,
        anchors,
        INTEL_ERROR_CODES.QE_IDENTITY_SIGNATURE,
        'QE Identity',
      );
      checkNotRevokedByRoot(rootCrl, chain, 'QE Identity');
      out.qeIdentity = { identity: doc.body, signer };
      out.windows.push({ item: 'QE Identity', from: doc.body.issueDate.getTime(), until: doc.body.nextUpdate.getTime() });
      out.windows.push(...certWindows('QE Identity issuer', chain));
    }
  }
  if (collateral.pckCrl !== undefined) {
    if (collateral.pckCrlIssuerChain === undefined) {
      if (!out.missing.includes('pckCrlIssuerChain')) out.missing.push('pckCrlIssuerChain');
    } else {
      const crl = parseCrl(collateral.pckCrl, INTEL_ERROR_CODES.CRL, 'PCK CRL');
      const { chain } = verifyCertChain(
        parsePemChain(collateral.pckCrlIssuerChain, INTEL_ERROR_CODES.CRL, 'PCK CRL issuer chain'),
        anchors,
        INTEL_ERROR_CODES.CRL,
        'PCK CRL issuer chain',
      );
      const issuer = chain[0]!;
      if (issuer.subjectKey !== crl.issuerKey || !verifyX509Signature(crl, issuer.publicKey)) {
        throw intelError(INTEL_ERROR_CODES.CRL, `Cannot verify PCK CRL: it is not signed by "${issuer.subject}", the first certificate of its issuer chain`);
      }
      checkNotRevokedByRoot(rootCrl, chain, 'PCK CRL');
      out.pckCrl = { crl, issuer };
      out.windows.push({ item: 'PCK CRL', ...crl.window });
      out.windows.push(...certWindows('PCK CRL issuer', chain));
    }
  }
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, out);
  return out;
}
