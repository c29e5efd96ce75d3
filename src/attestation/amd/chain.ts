/**
 * The AMD SEV-SNP key hierarchy: ARK (AMD Root Key, self-signed) -> ASK (signs VCEKs) or ASVK (signs VLEKs)
 * -> VCEK/VLEK (ECDSA P-384, signs attestation reports). AMD VCEK spec (pub. 57230), "Certificate Chain";
 * SEV-SNP ABI spec (pub. 56860), "VCEK" and "VLEK".
 *
 * Trust decision: the chain's ARK must be byte-identical to a trusted ARK (the built-in AMD ARKs unless the
 * caller replaces them). A name match is not enough: an attacker can mint a self-signed "ARK-Milan".
 * Intermediates may come from the caller's certChain or from the trust anchors; either way they must be
 * signed by the trusted ARK, so where they come from does not matter.
 */
import type { InclavareError } from '../../errors/errors.ts';
import { AMD_TRUST_ANCHORS } from '../roots/amd.ts';
import { isSignedBy, parseAmdCertificate, rsaPssProblem, type AmdCertificate } from './certificate.ts';
import { AMD_ERROR_CODES, amdError, type AmdErrorCode } from './codes.ts';
import { decodeCertificates as decodeCertificateInput, type CertificateInput } from '../../x509/pem.ts';
import { isTrustAnchor, isValidAt } from '../../x509/chain.ts';
import { productFromName, type AmdProduct } from './product.ts';

export type { CertificateInput } from '../../x509/pem.ts';

/** DER certificates from DER or PEM input; ATTEST_ERR_MALFORMED when it holds something else. */
function decodeCertificates(input: CertificateInput, what: string): Uint8Array[] {
  return decodeCertificateInput(input, what, (message) => amdError(AMD_ERROR_CODES.MALFORMED, message));
}

/** Which kind of key the leaf certifies: chip-unique (VCEK) or per cloud provider (VLEK). */
export type AmdLeafKind = 'vcek' | 'vlek';

/** Where the chain's certificates come from. */
export interface AmdChainOptions {
  /** ASK/ASVK and ARK (PEM bundle or DER), e.g. KDS's cert_chain; optional, the trust anchors have them. */
  certChain?: CertificateInput;
  /** Trusted AMD certificates (PEM bundles or DER): self-issued ones are the trusted ARKs, the rest trusted
   * intermediates. Replaces the built-in AMD_TRUST_ANCHORS. */
  trustAnchors?: readonly CertificateInput[];
}

/** A chain whose signatures and trust have been checked (its dates not yet: see checkChainValidity()). */
export interface AmdChain {
  ark: AmdCertificate;
  intermediate: AmdCertificate;
  leaf: AmdCertificate;
  leafKind: AmdLeafKind;
  /** The generation named by the ARK (ARK-Milan -> Milan); null for an unknown name. */
  product: AmdProduct | null;
  /** The intersection of the three certificates' validity periods. */
  validFrom: Date;
  validUntil: Date;
}

interface Anchors {
  arks: AmdCertificate[];
  intermediates: AmdCertificate[];
}

let builtInAnchors: Anchors | undefined;

function fail(code: AmdErrorCode, message: string, details?: Record<string, unknown>): InclavareError {
  return amdError(code, message, { details });
}

function loadAnchors(inputs: readonly CertificateInput[]): Anchors {
  const anchors: Anchors = { arks: [], intermediates: [] };
  for (const input of inputs) {
    for (const der of decodeCertificates(input, 'AMD trust anchors')) {
      const cert = parseAmdCertificate(der, 'an AMD trust anchor');
      if (!cert.selfIssued) {
        anchors.intermediates.push(cert);
        continue;
      }
      if (!isSignedBy(cert, cert.publicKey)) {
        throw amdError(
          AMD_ERROR_CODES.MALFORMED,
          `Cannot use AMD trust anchor ${cert.subjectCn || '(no CN)'}: it is self-issued but not validly self-signed with RSASSA-PSS SHA-384`,
        );
      }
      anchors.arks.push(cert);
    }
  }
  return anchors;
}

function anchorsFor(inputs: readonly CertificateInput[] | undefined): Anchors {
  if (inputs !== undefined) return loadAnchors(inputs);
  builtInAnchors ??= loadAnchors(AMD_TRUST_ANCHORS);
  return builtInAnchors;
}

function leafKindOf(leaf: AmdCertificate): AmdLeafKind {
  if (leaf.subjectCn === 'SEV-VCEK') return 'vcek';
  if (leaf.subjectCn === 'SEV-VLEK') return 'vlek';
  throw fail(AMD_ERROR_CODES.CERT_CHAIN, `Cannot verify SNP report: the leaf certificate "${leaf.subjectCn}" is neither SEV-VCEK nor SEV-VLEK`);
}

/**
 * Builds and checks ARK -> ASK/ASVK -> VCEK/VLEK for `leafInput` (one DER or PEM certificate). Throws
 * ATTEST_ERR_COLLATERAL_MISSING (no leaf, or no ASK/ASVK of the leaf's issuer name), ATTEST_ERR_CERT_CHAIN (a
 * signature or the chain's shape is wrong), ATTEST_ERR_UNTRUSTED_ROOT (the ARK is not a trusted one) or
 * ATTEST_ERR_MALFORMED (undecodable input).
 */
export function verifyAmdChain(leafInput: CertificateInput, options: AmdChainOptions = {}): AmdChain {
  const leafDers = decodeCertificates(leafInput, 'the VCEK/VLEK');
  if (leafDers.length === 0) {
    throw fail(AMD_ERROR_CODES.COLLATERAL_MISSING, 'Cannot verify SNP report: no VCEK/VLEK certificate was given');
  }
  if (leafDers.length > 1) {
    throw amdError(
      AMD_ERROR_CODES.MALFORMED,
      `Cannot read the VCEK/VLEK: expected one certificate, got ${leafDers.length} (pass ASK/ARK as certChain)`,
    );
  }
  const leaf = parseAmdCertificate(leafDers[0] as Uint8Array, 'the VCEK/VLEK');
  const leafKind = leafKindOf(leaf);
  const details = leaf.publicKey.asymmetricKeyDetails;
  // The VCEK/VLEK is an ECDSA P-384 key (ABI spec, "Signature Algorithm Encodings": SIGNATURE_ALGO 1).
  if (leaf.publicKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'secp384r1') {
    throw fail(AMD_ERROR_CODES.CERT_CHAIN, `Cannot verify SNP report: the ${leafKind.toUpperCase()} key is not ECDSA P-384`);
  }

  const supplied =
    options.certChain === undefined
      ? []
      : decodeCertificates(options.certChain, 'the AMD certificate chain').map((der) => parseAmdCertificate(der, 'a certificate of the AMD chain'));
  const anchors = anchorsFor(options.trustAnchors);

  // ASK or ASVK: named as the leaf's issuer and signed the leaf.
  const named = [...supplied.filter((c) => !c.selfIssued), ...anchors.intermediates].filter((c) => c.subjectKey === leaf.issuerKey);
  if (named.length === 0) {
    throw fail(
      AMD_ERROR_CODES.COLLATERAL_MISSING,
      `Cannot verify SNP report: no certificate named ${leaf.issuerCn || '(no CN)'} (the ${leafKind.toUpperCase()}'s issuer) was given or is trusted`,
      { issuer: leaf.issuerCn },
    );
  }
  const intermediate = named.find((c) => isSignedBy(leaf, c.publicKey));
  if (intermediate === undefined) {
    const why = rsaPssProblem(leaf);
    throw fail(
      AMD_ERROR_CODES.CERT_CHAIN,
      `Cannot verify SNP report: the ${leafKind.toUpperCase()} is not signed by ${leaf.issuerCn}${why === null ? '' : ` (${why})`}`,
    );
  }
  // VCEKs hang under the ASK ("SEV-Milan"), VLEKs under the ASVK ("SEV-VLEK-Milan"); never crosswise.
  const underAsvk = intermediate.subjectCn.startsWith('SEV-VLEK-');
  if (underAsvk !== (leafKind === 'vlek')) {
    throw fail(
      AMD_ERROR_CODES.CERT_CHAIN,
      `Cannot verify SNP report: a ${leafKind.toUpperCase()} must not be issued by ${intermediate.subjectCn}`,
    );
  }

  // ARK: every self-issued certificate the caller supplies for this position must be a trusted ARK, byte for
  // byte; the ARK actually used is always the trusted copy.
  for (const root of supplied.filter((c) => c.selfIssued && c.subjectKey === intermediate.issuerKey)) {
    if (!isTrustAnchor(root, anchors.arks)) {
      throw fail(
        AMD_ERROR_CODES.UNTRUSTED_ROOT,
        `Cannot verify SNP report: the chain's root ${root.subjectCn || '(no CN)'} is not byte-identical to a trusted AMD ARK`,
        { root: root.subjectCn },
      );
    }
  }
  const trustedArks = anchors.arks.filter((ark) => ark.subjectKey === intermediate.issuerKey);
  if (trustedArks.length === 0) {
    throw fail(
      AMD_ERROR_CODES.UNTRUSTED_ROOT,
      `Cannot verify SNP report: no trusted ARK named ${intermediate.issuerCn || '(no CN)'} (the issuer of ${intermediate.subjectCn})`,
      { root: intermediate.issuerCn },
    );
  }
  const ark = trustedArks.find((c) => isSignedBy(intermediate, c.publicKey));
  if (ark === undefined) {
    const why = rsaPssProblem(intermediate);
    throw fail(
      AMD_ERROR_CODES.CERT_CHAIN,
      `Cannot verify SNP report: ${intermediate.subjectCn} is not signed by the trusted ${intermediate.issuerCn}${why === null ? '' : ` (${why})`}`,
    );
  }

  const certs = [ark, intermediate, leaf];
  return {
    ark,
    intermediate,
    leaf,
    leafKind,
    product: productFromName(ark.subjectCn),
    validFrom: new Date(Math.max(...certs.map((c) => c.notBefore.getTime()))),
    validUntil: new Date(Math.min(...certs.map((c) => c.notAfter.getTime()))),
  };
}

/**
 * Throws ATTEST_ERR_COLLATERAL_EXPIRED unless every certificate of `chain` is valid at `at`
 * (notBefore <= at <= notAfter, RFC 5280 §4.1.2.5).
 */
export function checkChainValidity(chain: AmdChain, at: Date): void {
  for (const cert of [chain.leaf, chain.intermediate, chain.ark]) {
    if (!isValidAt(cert, at)) {
      throw fail(
        AMD_ERROR_CODES.COLLATERAL_EXPIRED,
        `Cannot verify SNP report: certificate ${cert.subjectCn} is not valid at ${at.toISOString()} (valid ${cert.notBefore.toISOString()} .. ${cert.notAfter.toISOString()})`,
        { certificate: cert.subjectCn, at: at.toISOString(), notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString() },
      );
    }
  }
}
