/**
 * Verification of a RATS-TLS certificate (docs/rats-tls.md): the certificate is self-signed and valid at `at`,
 * its evidence verifies (through the evidence registry), and the evidence is bound to the certificate's key:
 *
 *   DICE:   report_data = SHA-256(claims bytes as stored) ‖ 32 zero bytes, and pubkey-hash = H(DER SPKI)
 *   legacy: report_data[0..32] = SHA-256(DER SPKI)
 *
 * Fails closed: a certificate without evidence is rejected unless the caller allows unattested peers.
 * Pure: a function of the certificate, the options and `at`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Claims, TeeType } from '../attestation/claims.ts';
import { attestError } from '../attestation/codes.ts';
import type { IntelCollateral } from '../attestation/intel/collateral.ts';
import { detectTee, teeOptionsOf, verifyEvidence, type VerifyEvidenceOptions } from '../attestation/verify-evidence.ts';
import { isInclavareError, type InclavareError } from '../errors/errors.ts';
import { SIGNATURE_OIDS, verifySignature } from '../x509/signature.ts';
import type { CertificateClaims } from './cbor.ts';
import { RATS_TLS_ERROR_CODES, ratsTlsError } from './codes.ts';
import { decodeIntelEndorsements, mergeCollateral } from './endorsements.ts';
import { HASH_ALGORITHMS } from './format.ts';
import { parseAttestedCertificate, type AttestedCertificate, type CertificateFormat, type ParseAttestedCertificateOptions } from './parse.ts';
import { readReportData } from './report-data.ts';

/** The algorithms a RATS-TLS certificate may be self-signed with (what librats, Gramine and we write; no RSASSA-PSS). */
const SELF_SIGNATURE_ALGORITHMS: readonly string[] = Object.freeze([
  SIGNATURE_OIDS.ecdsaWithSha256,
  SIGNATURE_OIDS.ecdsaWithSha384,
  SIGNATURE_OIDS.ecdsaWithSha512,
  SIGNATURE_OIDS.sha256WithRsa,
  SIGNATURE_OIDS.sha384WithRsa,
  SIGNATURE_OIDS.sha512WithRsa,
  SIGNATURE_OIDS.ed25519,
]);

/** Whether the evidence is bound to the certificate's key. 'absent': there is no evidence to bind. */
export type Binding = 'valid' | 'invalid' | 'absent';

/** Options of verifyAttestedCertificate(). */
export interface VerifyAttestedCertificateOptions {
  /** The verification time (certificate validity, evidence and collateral). Never read from the clock. */
  at: Date;
  /** Inputs of the evidence verifier (collateral, VCEK, trust anchors, sim platform keys, rejectDebug). */
  evidence?: Omit<VerifyEvidenceOptions, 'at' | 'tee'>;
  /** When given, the claims must carry exactly this nonce (DICE only: legacy certificates have no claims). */
  expectedNonce?: Uint8Array;
  /** Accept a certificate without evidence (verified: true, binding 'absent'). Default false: fail closed. */
  allowUnattested?: boolean;
  /**
   * Check that `at` lies in the certificate's validity period. Default true. Turn off only to audit an archived
   * certificate whose evidence must be checked at another time than its short lifetime (tee-tools verify-cert).
   */
  checkValidityPeriod?: boolean;
  /**
   * Intel evidence: complete the verifier's collateral with the certificate's endorsements extension (its items
   * are Intel-signed and checked like any collateral; the verifier's own items take precedence). Default true.
   */
  useEndorsements?: boolean;
  /** Passed to parseAttestedCertificate() when the input is bytes: which extension to read when both exist. */
  prefer?: ParseAttestedCertificateOptions['prefer'];
}

/** The verdict on a RATS-TLS certificate. */
export interface AttestedCertificateVerification {
  /** True when every check passed (or the certificate is unattested and that is allowed). */
  verified: boolean;
  binding: Binding;
  format: CertificateFormat;
  /** The TEE of the evidence, from its header (null without evidence or when unrecognizable). */
  tee: TeeType | null;
  /** The evidence's normalized claims, only when `verified` is true: the claims a caller may trust. */
  claims: Claims | undefined;
  /** The evidence's claims whenever the evidence itself verified, even if another check failed (for reports). */
  evidenceClaims?: Claims;
  /** DICE: the certificate's own claims (pubkey-hash, nonce, custom). */
  certificateClaims: CertificateClaims | undefined;
  /** The collateral items taken from the certificate's endorsements extension (Intel evidence), if any. */
  endorsementsUsed?: (keyof IntelCollateral)[];
  /** Why the endorsements extension could not be used (it is malformed), if so. */
  endorsementsError?: InclavareError;
  /** Why the evidence verifier rejected the evidence (its own InclavareError), if it did. */
  evidenceError?: InclavareError;
  /** The first reason `verified` is false. */
  error?: InclavareError;
  /** The parsed certificate (absent only when the bytes could not be parsed). */
  certificate?: AttestedCertificate;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The binding check; returns the error that makes it invalid, or undefined when it holds. */
function checkBinding(cert: AttestedCertificate, reportData: Uint8Array): InclavareError | undefined {
  if (cert.format === 'legacy') {
    // Gramine / Intel SGX SDK / old RATS-TLS: only the first 32 bytes are defined (the rest is unspecified).
    if (!equal(reportData.subarray(0, 32), sha256(cert.spki))) {
      return ratsTlsError(RATS_TLS_ERROR_CODES.REPORT_DATA_MISMATCH, 'Cannot trust the certificate: report_data is not SHA-256 of its public key');
    }
    return undefined;
  }
  const claims = cert.claims!;
  const expected = new Uint8Array(64);
  expected.set(sha256(cert.claimsBytes!));
  // The format defines report_data as the hash zero-padded to 64 bytes: anything else in the padding is not ours.
  if (!equal(reportData, expected)) {
    return ratsTlsError(RATS_TLS_ERROR_CODES.REPORT_DATA_MISMATCH, 'Cannot trust the certificate: report_data is not SHA-256 of its claims (zero-padded)');
  }
  const alg = claims.pubkeyHash.algorithm;
  if (alg === undefined) {
    return ratsTlsError(
      RATS_TLS_ERROR_CODES.UNSUPPORTED_HASH,
      `Cannot trust the certificate: pubkey-hash uses hash algorithm id ${claims.pubkeyHash.algorithmId} (accepted: sha-256 = 1, sha-384 = 7, sha-512 = 8)`,
    );
  }
  const actual = new Uint8Array(createHash(HASH_ALGORITHMS[alg].node).update(cert.spki).digest());
  if (!equal(claims.pubkeyHash.hash, actual)) {
    return ratsTlsError(RATS_TLS_ERROR_CODES.PUBKEY_HASH_MISMATCH, `Cannot trust the certificate: its pubkey-hash (${alg}) is not the hash of its public key`);
  }
  return undefined;
}

function asRatsTlsError(err: unknown, message: string): InclavareError {
  return isInclavareError(err) ? err : ratsTlsError(RATS_TLS_ERROR_CODES.MALFORMED, message, { cause: err });
}

/**
 * Verifies a RATS-TLS certificate (DER, PEM or an already parsed one). Never throws for a bad certificate:
 * the verdict carries the error. The binding is computed even when the evidence itself does not verify.
 */
export function verifyAttestedCertificate(
  input: Uint8Array | string | AttestedCertificate,
  options: VerifyAttestedCertificateOptions,
): AttestedCertificateVerification {
  const empty = { binding: 'absent' as const, format: 'none' as const, tee: null, claims: undefined, certificateClaims: undefined };
  if (!(options?.at instanceof Date) || Number.isNaN(options.at.getTime())) {
    return { ...empty, verified: false, error: ratsTlsError(RATS_TLS_ERROR_CODES.INVALID_ARGUMENT, 'Cannot verify the certificate: `at` is not a valid Date') };
  }
  let cert: AttestedCertificate;
  try {
    cert = typeof input === 'string' || input instanceof Uint8Array ? parseAttestedCertificate(input, options.prefer === undefined ? {} : { prefer: options.prefer }) : input;
  } catch (err) {
    return { ...empty, verified: false, error: asRatsTlsError(err, 'Cannot parse the certificate') };
  }
  const errors: InclavareError[] = [];
  // The C verifier accepts only a single self-signed certificate (docs/rats-tls.md, "Verification"): the key in it signed it.
  if (!verifySignature(cert.parsed, cert.parsed.publicKey, { algorithms: SELF_SIGNATURE_ALGORITHMS })) {
    errors.push(ratsTlsError(RATS_TLS_ERROR_CODES.BAD_SIGNATURE, 'Cannot trust the certificate: it is not self-signed by its own key with a supported algorithm'));
  }
  if (options.checkValidityPeriod !== false) {
    const t = options.at.getTime();
    if (t < cert.notBefore.getTime() || t > cert.notAfter.getTime()) {
      errors.push(
        ratsTlsError(
          RATS_TLS_ERROR_CODES.CERT_NOT_VALID,
          `Cannot trust the certificate: it is valid ${cert.notBefore.toISOString()} .. ${cert.notAfter.toISOString()}, not at ${options.at.toISOString()}`,
        ),
      );
    }
  }
  const common = { format: cert.format, certificateClaims: cert.claims, certificate: cert };

  if (cert.format === 'none' || cert.evidence === undefined) {
    if (options.allowUnattested !== true) {
      errors.unshift(ratsTlsError(RATS_TLS_ERROR_CODES.NO_EVIDENCE, 'Cannot trust the certificate: it carries no evidence and unattested peers are not allowed'));
    }
    return { ...common, binding: 'absent', tee: null, claims: undefined, verified: errors.length === 0, ...(errors[0] ? { error: errors[0] } : {}) };
  }

  if (cert.critical) {
    // Peers built on OpenSSL/mbedTLS reject unknown critical extensions; the format requires non-critical.
    errors.unshift(ratsTlsError(RATS_TLS_ERROR_CODES.CRITICAL_EXTENSION, `Cannot trust the certificate: its evidence extension ${cert.oid} is marked critical`));
  }

  const detected = detectTee(cert.evidence);
  let binding: Binding = 'invalid';
  if (detected === null || !cert.expectedTees.includes(detected)) {
    const announced = cert.tag !== undefined ? `CBOR tag ${cert.tag}` : `OID ${cert.oid}`;
    errors.push(
      ratsTlsError(RATS_TLS_ERROR_CODES.TEE_MISMATCH, `Cannot trust the certificate: its ${announced} announces ${cert.expectedTees.join('/')} evidence, found ${detected ?? 'unrecognizable bytes'}`),
    );
  } else {
    try {
      const bindingError = checkBinding(cert, readReportData(cert.evidence, detected));
      if (bindingError) errors.push(bindingError);
      else binding = 'valid';
    } catch (err) {
      errors.push(ratsTlsError(RATS_TLS_ERROR_CODES.MALFORMED, 'Cannot read report_data from the certificate evidence', { cause: err }));
    }
  }

  if (options.expectedNonce !== undefined) {
    const nonce = cert.claims?.nonce;
    if (nonce === undefined || !equal(nonce, options.expectedNonce)) {
      errors.push(ratsTlsError(RATS_TLS_ERROR_CODES.NONCE_MISMATCH, `Cannot trust the certificate: ${nonce === undefined ? 'it carries no nonce claim' : 'its nonce is not the expected one (stale or replayed)'}`));
    }
  }

  let claims: Claims | undefined;
  let evidenceError: InclavareError | undefined;
  let evidenceOptions = options.evidence;
  let endorsementsUsed: (keyof IntelCollateral)[] | undefined;
  let endorsementsError: InclavareError | undefined;
  // An empty extension means none: rats-rs writes one into every certificate.
  if (cert.endorsements !== undefined && cert.endorsements.length > 0 && (detected === 'sgx' || detected === 'tdx') && options.useEndorsements !== false) {
    try {
      // The caller's collateral for this TEE (its own key, or the flat option of the first releases) first.
      const own = teeOptionsOf(detected, options.evidence);
      const merged = mergeCollateral(own.collateral, decodeIntelEndorsements(cert.endorsements).collateral);
      evidenceOptions = { ...options.evidence, [detected]: { ...own, collateral: merged.collateral } };
      endorsementsUsed = merged.fromCertificate;
    } catch (err) {
      endorsementsError = asRatsTlsError(err, 'Cannot parse the endorsements extension');
      errors.push(endorsementsError);
    }
  }
  if (detected !== null && cert.expectedTees.includes(detected)) {
    try {
      claims = verifyEvidence(cert.evidence, { ...evidenceOptions, tee: detected, at: options.at });
    } catch (err) {
      evidenceError = isInclavareError(err) ? err : attestError('ATTEST_ERR_INTERNAL', 'Cannot verify evidence', { cause: err });
      errors.push(ratsTlsError(RATS_TLS_ERROR_CODES.EVIDENCE_REJECTED, 'Cannot trust the certificate: its evidence does not verify', { cause: evidenceError }));
    }
  }
  return {
    ...common,
    verified: errors.length === 0,
    binding,
    tee: detected,
    claims: errors.length === 0 ? claims : undefined,
    ...(claims ? { evidenceClaims: claims } : {}),
    ...(endorsementsUsed ? { endorsementsUsed } : {}),
    ...(endorsementsError ? { endorsementsError } : {}),
    ...(evidenceError ? { evidenceError } : {}),
    ...(errors[0] ? { error: errors[0] } : {}),
  };
}
