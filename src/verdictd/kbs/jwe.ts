/**
 * Resources leave the KBS front end as a flattened JWE (RFC 7516 §7.2.2), `enc` A256GCM, to the `tee-pubkey`
 * the enclave bound into its evidence. Key management: RSA-OAEP-256 (RSA keys of 2048 bits or more) or
 * ECDH-ES+A256KW (P-256, P-384, P-521, X25519). RSA1_5 is refused: it is open to Bleichenbacher padding
 * oracles (RFC 8017 §7.2; RFC 7516 §11.5), and Trustee's old clients asking for it must move to OAEP. The key
 * is checked at `attest`, before a token is issued for it, and again at each release.
 */
import { FlattenedEncrypt, importJWK, type FlattenedJWE, type JWK } from 'jose';
import { verdictdError } from '../codes.ts';

/** The JWE `alg`s resources are encrypted with. */
export const KBS_JWE_ALGORITHMS = ['RSA-OAEP-256', 'ECDH-ES+A256KW'] as const;
/** The smallest RSA modulus accepted (bits). */
export const MIN_RSA_BITS = 2048;
const EC_CURVES = ['P-256', 'P-384', 'P-521'];

/** A checked tee-pubkey: the JWK's public members and the `alg` resources are encrypted with. */
export interface TeeKey {
  jwk: JWK;
  alg: (typeof KBS_JWE_ALGORITHMS)[number];
}

function refused(message: string): Error {
  return verdictdError('VERDICTD_ERR_TEE_KEY_REFUSED', `Cannot encrypt resources to the tee-pubkey: ${message}`);
}

function b64urlMember(jwk: Record<string, unknown>, name: string): string {
  const v = jwk[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(v)) throw refused(`"${name}" must be base64url`);
  return v;
}

/**
 * Checks a tee-pubkey JWK: RSA (`n`, `e`, at least 2048 bits, `alg` RSA-OAEP-256 or absent) or EC/OKP
 * (`crv` P-256/P-384/P-521/X25519, `alg` ECDH-ES+A256KW or absent). RSA1_5, short moduli and anything else
 * are VERDICTD_ERR_TEE_KEY_REFUSED. Private members are dropped.
 */
export function checkTeeKey(input: Record<string, unknown>): TeeKey {
  const alg = input.alg;
  if (alg === 'RSA1_5') throw refused('alg RSA1_5 is refused (padding oracle attacks); use RSA-OAEP-256 or ECDH-ES+A256KW');
  if (alg !== undefined && !(KBS_JWE_ALGORITHMS as readonly unknown[]).includes(alg)) throw refused(`alg ${JSON.stringify(alg)} is not offered (${KBS_JWE_ALGORITHMS.join(', ')})`);
  switch (input.kty) {
    case 'RSA': {
      if (alg !== undefined && alg !== 'RSA-OAEP-256') throw refused(`an RSA key cannot be used with alg ${String(alg)}`);
      const n = b64urlMember(input, 'n');
      const e = b64urlMember(input, 'e');
      const modulus = Buffer.from(n, 'base64url');
      let bits = modulus.length * 8;
      for (let i = 0; i < modulus.length && modulus[i] === 0; i++) bits -= 8;
      const first = modulus.find((b) => b !== 0) ?? 0;
      bits -= Math.clz32(first) - 24;
      if (bits < MIN_RSA_BITS) throw refused(`the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`);
      if (bits > 8192) throw refused(`the RSA key has ${bits} bits; at most 8192 are accepted`);
      return { jwk: { kty: 'RSA', n, e }, alg: 'RSA-OAEP-256' };
    }
    case 'EC': {
      if (alg !== undefined && alg !== 'ECDH-ES+A256KW') throw refused(`an EC key cannot be used with alg ${String(alg)}`);
      if (typeof input.crv !== 'string' || !EC_CURVES.includes(input.crv)) throw refused(`curve ${JSON.stringify(input.crv)} is not accepted (${EC_CURVES.join(', ')})`);
      return { jwk: { kty: 'EC', crv: input.crv, x: b64urlMember(input, 'x'), y: b64urlMember(input, 'y') }, alg: 'ECDH-ES+A256KW' };
    }
    case 'OKP': {
      if (alg !== undefined && alg !== 'ECDH-ES+A256KW') throw refused(`an OKP key cannot be used with alg ${String(alg)}`);
      if (input.crv !== 'X25519') throw refused(`curve ${JSON.stringify(input.crv)} is not accepted (X25519)`);
      return { jwk: { kty: 'OKP', crv: 'X25519', x: b64urlMember(input, 'x') }, alg: 'ECDH-ES+A256KW' };
    }
    default:
      throw refused(`key type ${JSON.stringify(input.kty)} is not accepted (RSA, EC, OKP)`);
  }
}

/** Imports a checked key; a JWK whose numbers are no key (a point off the curve) is refused. */
export async function importTeeKey(key: TeeKey): Promise<Parameters<FlattenedEncrypt['encrypt']>[0]> {
  try {
    return await importJWK(key.jwk, key.alg);
  } catch (err) {
    throw verdictdError('VERDICTD_ERR_TEE_KEY_REFUSED', `Cannot encrypt resources to the tee-pubkey: it is no valid ${key.jwk.kty} public key`, { cause: err });
  }
}

/** `plaintext` as a flattened JWE to `key` (enc A256GCM). */
export async function encryptToTeeKey(plaintext: Uint8Array, key: TeeKey): Promise<FlattenedJWE> {
  const imported = await importTeeKey(key);
  return new FlattenedEncrypt(plaintext).setProtectedHeader({ alg: key.alg, enc: 'A256GCM' }).encrypt(imported);
}
