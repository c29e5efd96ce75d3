/**
 * verdictd's identity (docs/verdictd.md, "Identity and pinning"): one long-lived P-256 key, kept sealed in the
 * store and created at the first start of a store that has none, under which the EAA front end's RATS-TLS
 * certificate is made and renewed. Clients pin its public key (`sha256:<hex>`, src/rats-tls/pin.ts), which
 * holds across renewals and restarts whatever the attester.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { isInclavareError } from '../errors/errors.ts';
import type { Attester } from '../rats-tls/attesters/attester.ts';
import { createRatsTlsIdentity, type RatsTlsIdentity } from '../rats-tls/identity.ts';
import { pinOfCertificate } from '../rats-tls/pin.ts';
import { verdictdError } from './codes.ts';
import type { IdentityKeyUse, Store } from './store/store.ts';

/** verdictd's running identity: its RATS-TLS identity and the pin of its key. */
export interface VerdictdIdentity {
  /** The certificate (renewed under the same key) and key the EAA front end presents. */
  tls: RatsTlsIdentity;
  /** `sha256:<64 hex>`: SHA-256 of the key's DER SubjectPublicKeyInfo. */
  pin: string;
  /** True when this start created the key (the first start of this store). */
  created: boolean;
}

/**
 * One of the store's own keys (`tls`, default: the identity key; `kbs-token`: the KBS token signing key); a
 * P-256 key is created and stored first when the store has none.
 */
export async function loadIdentityKey(store: Store, use: IdentityKeyUse = 'tls'): Promise<{ key: KeyObject; created: boolean }> {
  let der: Uint8Array;
  try {
    der = await store.getIdentityKey(use);
  } catch (err) {
    if (!isInclavareError(err, 'VERDICTD_ERR_NOT_FOUND')) throw err;
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    try {
      await store.createIdentityKey(key.export({ type: 'pkcs8', format: 'der' }), use);
      return { key, created: true };
    } catch (err) {
      // Another replica sharing the store created it first: use that one (every replica presents one identity).
      if (!isInclavareError(err, 'VERDICTD_ERR_ALREADY_EXISTS')) throw err;
      der = await store.getIdentityKey(use);
    }
  }
  try {
    return { key: createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }), created: false };
  } catch (err) {
    throw verdictdError('VERDICTD_ERR_STORE_CORRUPT', `Cannot use verdictd's ${use} key: the stored record is no PKCS#8 private key; restore it from a backup`, { cause: err });
  }
}

/** verdictd's identity: the store's key (created if absent) and a certificate made under it by `attester`. */
export async function startVerdictdIdentity(store: Store, attester: Attester): Promise<VerdictdIdentity> {
  const { key, created } = await loadIdentityKey(store);
  const tls = await createRatsTlsIdentity({ attester, key });
  return { tls, pin: pinOfCertificate(tls.current().cert), created };
}
