/**
 * Parsing of RATS-TLS certificates from untrusted bytes: the TCG DICE evidence extension and the legacy raw
 * evidence extensions (docs/rats-tls.md). Nothing is verified here; any failure is an InclavareError with a
 * RATS_TLS_ERR_* code.
 */
import type { Certificate } from '@peculiar/asn1-x509';
import type { TeeType } from '../attestation/claims.ts';
import { isInclavareError } from '../errors/errors.ts';
import { certificateBytes } from '../x509/certificate.ts';
import type { X509ErrorFactory } from '../x509/failure.ts';
import { parseCertificate, type ParsedCertificate } from '../x509/parse.ts';
import { looksLikePem, pemDecode } from '../x509/pem.ts';
import { decodeClaims, decodeDiceEvidence, type CertificateClaims } from './cbor.ts';
import { RATS_TLS_ERROR_CODES, ratsTlsError } from './codes.ts';
import { LEGACY_EVIDENCE_OIDS, OID_DICE_ENDORSEMENTS, OID_DICE_EVIDENCE, TAG_TEES } from './format.ts';

/** How a certificate carries its evidence. */
export type CertificateFormat = 'dice' | 'legacy' | 'none';

/** A parsed RATS-TLS certificate. */
export interface AttestedCertificate {
  format: CertificateFormat;
  /** The certificate DER. */
  der: Uint8Array;
  /** The decoded certificate (@peculiar/asn1-x509). */
  certificate: Certificate;
  /** The certificate as src/x509 parses it (names, key, extensions, signature), for signature and chain checks. */
  parsed: ParsedCertificate;
  /** TBSCertificate bytes as signed. */
  tbs: Uint8Array;
  /** SubjectPublicKeyInfo bytes exactly as in the certificate: what pubkey-hash and legacy report_data hash. */
  spki: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** OID of the evidence extension used (dice or legacy). */
  oid?: string;
  /** Whether that extension is marked critical (verifiers reject it). */
  critical: boolean;
  /** DICE: the CBOR tag. */
  tag?: number;
  /** The raw evidence (quote, report, sim evidence). */
  evidence?: Uint8Array;
  /** DICE: the decoded claims. */
  claims?: CertificateClaims;
  /** DICE: the claims bytes as stored (report_data commits to their SHA-256). */
  claimsBytes?: Uint8Array;
  /** The TEEs whose evidence the tag or OID announces. */
  expectedTees: readonly TeeType[];
  /** The endorsements extension's value (2.23.133.5.4.2), verbatim, when present. */
  endorsements?: Uint8Array;
}

function malformed(message: string, cause?: unknown): never {
  throw ratsTlsError(RATS_TLS_ERROR_CODES.MALFORMED, message, cause === undefined ? {} : { cause });
}

/** The certificate DER of DER bytes, PEM bytes or PEM text. */
function derOf(input: Uint8Array | string): Uint8Array {
  // DER starts with a SEQUENCE (0x30); anything else may be PEM with text before the armour, as OpenSSL allows.
  if (typeof input === 'string' || (input instanceof Uint8Array && (looksLikePem(input) || (input.length > 0 && input[0] !== 0x30)))) {
    const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1');
    const der = pemDecode(text, 'CERTIFICATE');
    if (der === undefined) malformed('Cannot parse the certificate: no valid PEM CERTIFICATE block');
    return der;
  }
  if (!(input instanceof Uint8Array)) malformed('Cannot parse the certificate: expected DER bytes or PEM text');
  return input;
}

/** Options of parseAttestedCertificate(). */
export interface ParseAttestedCertificateOptions {
  /**
   * Which evidence extension to read when a certificate has both (Gramine writes a legacy one and a DICE one,
   * with different quotes). Default 'dice'; 'legacy' is for audits of the legacy extension.
   */
  prefer?: 'dice' | 'legacy';
}

/**
 * Parses a RATS-TLS certificate: DICE evidence (2.23.133.5.4.9) if present, else a legacy raw-evidence
 * extension, else format 'none'. Throws only InclavareError (RATS_TLS_ERR_MALFORMED, RATS_TLS_ERR_UNKNOWN_TAG).
 */
export function parseAttestedCertificate(input: Uint8Array | string, options: ParseAttestedCertificateOptions = {}): AttestedCertificate {
  try {
    return parseDer(derOf(input), options.prefer === 'legacy');
  } catch (err) {
    if (isInclavareError(err)) throw err;
    malformed('Cannot parse the certificate: unexpected failure', err);
  }
}

function parseDer(der: Uint8Array, preferLegacy: boolean): AttestedCertificate {
  const bytes = certificateBytes(der);
  if (bytes === undefined) malformed('Cannot parse the certificate: the DER is not an X.509 Certificate');
  const fail: X509ErrorFactory = (_reason, _message, cause, details) => {
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of a particular extension.
    if (details?.extension !== undefined) malformed(`Cannot parse the certificate: extension ${String(details.extension)} appears twice`);
    if (details?.field === 'notBefore' || details?.field === 'notAfter') malformed('Cannot parse the certificate: invalid validity dates');
    malformed('Cannot parse the certificate: the DER is not an X.509 Certificate', cause);
  };
  const parsed = parseCertificate(der, fail);
  const certificate = parsed.asn;
  const { notBefore, notAfter } = parsed;
  const valueOf = (oid: string): { value: Uint8Array; critical: boolean } | undefined => {
    const value = parsed.extensions.get(oid);
    return value === undefined ? undefined : { value, critical: parsed.criticalExtensions.has(oid) };
  };
  const base = { der, certificate, parsed, tbs: bytes.tbs, spki: bytes.spki, notBefore, notAfter };
  const endorsements = valueOf(OID_DICE_ENDORSEMENTS)?.value;
  const withEndorsements = endorsements === undefined ? {} : { endorsements };

  const dice = (): AttestedCertificate | undefined => {
    const ext = valueOf(OID_DICE_EVIDENCE);
    if (ext === undefined) return undefined;
    const decoded = decodeDiceEvidence(ext.value);
    const claims = decodeClaims(decoded.claimsBytes);
    return {
      ...base,
      format: 'dice',
      oid: OID_DICE_EVIDENCE,
      critical: ext.critical,
      tag: decoded.tag,
      evidence: decoded.evidence,
      claims,
      claimsBytes: decoded.claimsBytes,
      expectedTees: TAG_TEES.get(decoded.tag) ?? [],
      ...withEndorsements,
    };
  };
  const legacy = (): AttestedCertificate | undefined => {
    for (const [oid, tee] of Object.entries(LEGACY_EVIDENCE_OIDS)) {
      const ext = valueOf(oid);
      if (ext !== undefined) return { ...base, format: 'legacy', oid, critical: ext.critical, evidence: ext.value, expectedTees: [tee], ...withEndorsements };
    }
    return undefined;
  };
  const found = preferLegacy ? (legacy() ?? dice()) : (dice() ?? legacy());
  if (found !== undefined) return found;
  return { ...base, format: 'none', critical: false, expectedTees: [], ...withEndorsements };
}
