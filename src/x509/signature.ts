/**
 * Signature checks of certificates and CRLs by an issuer key, synchronously with node:crypto over the exact
 * signed bytes: ECDSA (RFC 5758), RSA PKCS#1 v1.5 (RFC 4055), RSASSA-PSS (RFC 4055 §3.1) and Ed25519 (RFC 8410).
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import type { SignedObject } from './parse.ts';

/** Signature algorithm OIDs. */
export const SIGNATURE_OIDS = Object.freeze({
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  rsassaPss: '1.2.840.113549.1.1.10',
  ed25519: '1.3.101.112',
});

const FIXED: Readonly<Record<string, { digest: string | null; keyTypes: readonly string[] }>> = {
  [SIGNATURE_OIDS.ecdsaWithSha256]: { digest: 'sha256', keyTypes: ['ec'] },
  [SIGNATURE_OIDS.ecdsaWithSha384]: { digest: 'sha384', keyTypes: ['ec'] },
  [SIGNATURE_OIDS.ecdsaWithSha512]: { digest: 'sha512', keyTypes: ['ec'] },
  [SIGNATURE_OIDS.sha256WithRsa]: { digest: 'sha256', keyTypes: ['rsa'] },
  [SIGNATURE_OIDS.sha384WithRsa]: { digest: 'sha384', keyTypes: ['rsa'] },
  [SIGNATURE_OIDS.sha512WithRsa]: { digest: 'sha512', keyTypes: ['rsa'] },
  // Ed25519 hashes internally (node takes a null digest).
  [SIGNATURE_OIDS.ed25519]: { digest: null, keyTypes: ['ed25519'] },
};

const DIGESTS: Readonly<Record<string, string>> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const OID_MGF1 = '1.2.840.113549.1.1.8';

/** The hash and salt length of RSASSA-PSS parameters; undefined unless MGF1 uses the same hash, trailer 1. */
function pssParameters(parameters: ArrayBuffer | null | undefined): { digest: string; saltLength: number } | undefined {
  if (parameters === null || parameters === undefined) return undefined;
  const params = AsnConvert.parse(parameters, RsaSaPssParams);
  const digest = DIGESTS[params.hashAlgorithm.algorithm];
  const mgf = params.maskGenAlgorithm;
  if (digest === undefined || mgf.algorithm !== OID_MGF1 || mgf.parameters === null || mgf.parameters === undefined) return undefined;
  if (DIGESTS[AsnConvert.parse(mgf.parameters, AlgorithmIdentifier).algorithm] !== digest || params.trailerField !== 1) return undefined;
  return { digest, saltLength: params.saltLength };
}

/** Options of verifySignature(). */
export interface VerifySignatureOptions {
  /** The signature algorithm OIDs the caller accepts (default: every one in SIGNATURE_OIDS). */
  algorithms?: readonly string[];
}

/**
 * True when `issuerKey` made `signed`'s signature over its exact TBS bytes with an accepted algorithm, and the
 * signed inner algorithm is the outer one (RFC 5280 §4.1.1.2, §5.1.1.2). False for anything else, never throws.
 */
export function verifySignature(signed: SignedObject, issuerKey: KeyObject | undefined, options: VerifySignatureOptions = {}): boolean {
  if (issuerKey === undefined || !signed.innerAlgorithmMatches) return false;
  const oid = signed.signatureAlgorithm;
  if (options.algorithms !== undefined && !options.algorithms.includes(oid)) return false;
  const keyType = issuerKey.asymmetricKeyType ?? '';
  try {
    if (oid === SIGNATURE_OIDS.rsassaPss) {
      const pss = pssParameters(signed.signatureParameters);
      if (pss === undefined || (keyType !== 'rsa' && keyType !== 'rsa-pss')) return false;
      return verify(pss.digest, signed.tbs, { key: issuerKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pss.saltLength }, signed.signature);
    }
    const a = FIXED[oid];
    if (a === undefined || !a.keyTypes.includes(keyType)) return false;
    // ECDSA signatures are the DER Ecdsa-Sig-Value in the BIT STRING (RFC 5758 §3.2), node's default encoding.
    return verify(a.digest, signed.tbs, issuerKey, signed.signature);
  } catch {
    return false;
  }
}
