/**
 * Creation of RATS-TLS certificates in the TCG DICE format (docs/rats-tls.md): a key (fresh, or a long-lived
 * one the caller keeps and peers pin), a claims map whose pubkey-hash commits to that key, evidence whose
 * report_data commits to the claims, all in one self-signed certificate. Parsing and verification live in parse.ts and verify.ts.
 */
import { createHash, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  KeyIdentifier,
  SubjectKeyIdentifier,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { detectTee } from '../attestation/verify-evidence.ts';
import { isInclavareError } from '../errors/errors.ts';
import { buildExtension, buildName, keyIdentifier, NAME_OIDS, signSelfSignedCertificate, subjectPublicKeyInfoOf } from '../x509/certificate.ts';
import { pemEncode } from '../x509/pem.ts';
import type { Attester } from './attesters/attester.ts';
import { decodeClaims, encodeClaims, encodeDiceEvidence, type CertificateClaims } from './cbor.ts';
import { encodeIntelEndorsements, type EndorsementsSource } from './endorsements.ts';
import { RATS_TLS_ERROR_CODES, ratsTlsError } from './codes.ts';
import { HASH_ALGORITHMS, OID_DICE_ENDORSEMENTS, OID_DICE_EVIDENCE, tagOfTee, type HashAlgorithm } from './format.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Subject and issuer of our certificates, as the C RATS-TLS writes them. */
export const RATS_TLS_SUBJECT = Object.freeze({ organization: 'Inclavare Containers', commonName: 'RATS-TLS' });

/**
 * Default lifetime: from one minute before now (clock skew) to one hour after. The C RATS-TLS issues one year
 * (from now-1h); a certificate carries evidence that is only as fresh as its creation, so a long-lived one
 * can be replayed by whoever obtains its key long after the TEE state it attests has changed. One hour bounds
 * that; peers wanting more freshness use the nonce claim.
 */
export const DEFAULT_VALIDITY = Object.freeze({ backdateMs: 60_000, lifetimeMs: 3_600_000 });

/** The key types a certificate can have. */
export type CertificateKeyType = 'p256' | 'rsa3072';

/** Inputs of createAttestedCertificate(). */
export interface CreateAttestedCertificateOptions {
  attester: Attester;
  /** Hash of pubkey-hash; default 'sha-256'. */
  hashAlg?: HashAlgorithm;
  /** Default 'p256' (ECDSA P-256, signed with SHA-256), or the type of `key`; 'rsa3072' signs with sha256WithRSAEncryption. */
  keyType?: CertificateKeyType;
  /**
   * The certificate's private key (P-256 or RSA-3072, matching `keyType`) instead of a fresh one: a long-lived
   * identity whose public key peers pin (pin.ts). The evidence is still fresh and bound to it.
   */
  key?: KeyObject;
  /** A verifier-chosen nonce to bind in (claim "nonce"). */
  nonce?: Uint8Array;
  /** Additional claims (byte strings) by name; "pubkey-hash" and "nonce" are reserved. */
  customClaims?: Record<string, Uint8Array>;
  /** Explicit validity period; default DEFAULT_VALIDITY around `now`. */
  validity?: { notBefore: Date; notAfter: Date };
  /** The clock for the default validity; default the real clock. */
  now?: () => Date;
  /**
   * The endorsements extension (2.23.133.5.4.2, non-critical): Intel collateral for the quote (or a function
   * that gets it for the fresh evidence), encoded by encodeIntelEndorsements(); bytes are written verbatim.
   * Intel evidence (sgx, tdx) only, unless bytes are given.
   */
  endorsements?: Uint8Array | EndorsementsSource;
}

/** A created certificate and its key (the given one, or a fresh one). */
export interface CreatedAttestedCertificate {
  certPem: string;
  certDer: Uint8Array;
  /** The private key, PKCS#8 PEM. */
  keyPem: string;
  key: KeyObject;
  /** The claims bound into the evidence; undefined for the null attester (no evidence extension). */
  claims: CertificateClaims | undefined;
  /** The evidence as the attester returned it; undefined for the null attester. */
  evidence: Uint8Array | undefined;
}

async function freshKey(keyType: CertificateKeyType): Promise<KeyObject> {
  if (keyType === 'p256') return (await generateKeyPairAsync('ec', { namedCurve: 'P-256' })).privateKey;
  return (await generateKeyPairAsync('rsa', { modulusLength: 3072 })).privateKey;
}

/** The key type of a private key, or undefined when it is none we make certificates with. */
function keyTypeOf(key: KeyObject): CertificateKeyType | undefined {
  if (key.type !== 'private') return undefined;
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return 'p256';
  if (key.asymmetricKeyType === 'rsa' && details?.modulusLength === 3072) return 'rsa3072';
  return undefined;
}

function invalid(message: string): never {
  throw ratsTlsError(RATS_TLS_ERROR_CODES.INVALID_ARGUMENT, `Cannot create the certificate: ${message}`);
}

/** The endorsements extension's value for `evidence` from `source`. */
async function endorsementsValue(source: Uint8Array | EndorsementsSource, evidence: Uint8Array | undefined, tee: Attester['tee']): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (evidence === undefined || (tee !== 'sgx' && tee !== 'tdx')) invalid(`endorsements are defined for Intel evidence (sgx, tdx) only; the ${tee} attester has none`);
  let collateral;
  try {
    collateral = typeof source === 'function' ? await source(evidence, tee) : source;
  } catch (err) {
    throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot create the certificate: cannot get the endorsements (collateral) for the ${tee} evidence`, { cause: err });
  }
  return encodeIntelEndorsements(collateral);
}

/**
 * Creates a self-signed DICE certificate carrying the attester's evidence bound to its key: a fresh key, or
 * `options.key`.
 */
export async function createAttestedCertificate(options: CreateAttestedCertificateOptions): Promise<CreatedAttestedCertificate> {
  const hashAlg = options.hashAlg ?? 'sha-256';
  const givenType = options.key === undefined ? undefined : keyTypeOf(options.key);
  if (options.key !== undefined && givenType === undefined) invalid('the key must be a P-256 or RSA-3072 private key');
  const keyType = options.keyType ?? givenType ?? 'p256';
  if (!Object.hasOwn(HASH_ALGORITHMS, hashAlg)) invalid(`unknown hash algorithm "${String(hashAlg)}" (sha-256, sha-384, sha-512)`);
  if (keyType !== 'p256' && keyType !== 'rsa3072') invalid(`unknown key type "${String(keyType)}" (p256, rsa3072)`);
  if (givenType !== undefined && givenType !== keyType) invalid(`the key is ${givenType}, not the ${keyType} asked for`);
  if (options.nonce !== undefined && !(options.nonce instanceof Uint8Array)) invalid('the nonce must be bytes');
  const now = (options.now ?? (() => new Date()))();
  const notBefore = options.validity?.notBefore ?? new Date(now.getTime() - DEFAULT_VALIDITY.backdateMs);
  const notAfter = options.validity?.notAfter ?? new Date(now.getTime() + DEFAULT_VALIDITY.lifetimeMs);
  if (!(notBefore.getTime() < notAfter.getTime())) invalid('the validity period is empty');

  const key = options.key ?? (await freshKey(keyType));
  const { spki, der: spkiDer } = subjectPublicKeyInfoOf(key);
  const keyId = keyIdentifier(spki);
  const extensions = [
    buildExtension(id_ce_basicConstraints, false, new BasicConstraints({ cA: false })),
    buildExtension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId)),
    buildExtension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId) })),
  ];

  let claims: CertificateClaims | undefined;
  let evidence: Uint8Array | undefined;
  if (options.attester.tee !== 'null') {
    const pubkeyHash = new Uint8Array(createHash(HASH_ALGORITHMS[hashAlg].node).update(spkiDer).digest());
    const claimsBytes = encodeClaims({
      pubkeyHash: { algorithm: hashAlg, hash: pubkeyHash },
      ...(options.nonce !== undefined ? { nonce: options.nonce } : {}),
      ...(options.customClaims !== undefined ? { custom: options.customClaims } : {}),
    });
    const reportData = new Uint8Array(64);
    reportData.set(createHash('sha256').update(claimsBytes).digest());
    try {
      evidence = await options.attester.getEvidence(reportData);
    } catch (err) {
      if (isInclavareError(err) && err.code === RATS_TLS_ERROR_CODES.ATTESTER) throw err;
      throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot create the certificate: the ${options.attester.tee} attester failed`, { cause: err });
    }
    const tee = detectTee(evidence);
    if (tee === null || tee !== options.attester.tee) {
      throw ratsTlsError(RATS_TLS_ERROR_CODES.ATTESTER, `Cannot create the certificate: the ${options.attester.tee} attester returned ${tee ?? 'unrecognizable'} evidence`);
    }
    // Non-critical (docs/rats-tls.md, "Evidence extension"): OpenSSL and mbedTLS peers reject certificates with unknown critical extensions.
    extensions.push(buildExtension(OID_DICE_EVIDENCE, false, encodeDiceEvidence(tagOfTee(tee), evidence, claimsBytes)));
    claims = decodeClaims(claimsBytes);
  }
  if (options.endorsements !== undefined) extensions.push(buildExtension(OID_DICE_ENDORSEMENTS, false, await endorsementsValue(options.endorsements, evidence, options.attester.tee)));

  const name = buildName([
    { type: NAME_OIDS.organization, value: RATS_TLS_SUBJECT.organization },
    { type: NAME_OIDS.commonName, value: RATS_TLS_SUBJECT.commonName },
  ]);
  const certDer = signSelfSignedCertificate({ key, spki, name, serial: Uint8Array.of(1), notBefore, notAfter, extensions });
  return {
    certPem: pemEncode('CERTIFICATE', certDer),
    certDer,
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    key,
    claims,
    evidence,
  };
}
