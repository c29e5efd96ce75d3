/**
 * The platform key: the Ed25519 key with which this host's inclavared signs `sim` evidence, and its
 * self-signed certificate, the trust anchor verifiers configure (docs/evidence-sim.md, "Producing evidence").
 *
 * Created on first use in DATA_DIR (mode 0700), the key file mode 0600 and never anywhere a container can
 * see. Creation is race-free between processes (the daemon and `inclavared platform-cert` may start
 * together): each writes a private temporary file and link(2)s it into place, which fails if another won
 * (writeFileExclusive() in src/sys/fs.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPlatformCertificate } from './certificate.ts';
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../attestation-socket/codes.ts';
import { makeDirectory, writeFileAtomic, writeFileExclusive } from '../sys/fs.ts';

/** The platform key and certificate of one DATA_DIR. */
export interface PlatformIdentity {
  privateKey: KeyObject;
  /** The self-signed certificate (PEM). */
  certPem: string;
  keyPath: string;
  certPath: string;
}

/** Inputs of loadPlatformIdentity(). */
export interface LoadPlatformIdentityOptions {
  /** Where the key and certificate live. */
  dataDir: string;
  /** Start of validity for a certificate created now. Default: the current time. */
  now?: Date;
}

function keyError(message: string, cause?: unknown): Error {
  return inclavaredError(INCLAVARED_ERROR_CODES.PLATFORM_KEY, message, { cause });
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** Reads the key file, refusing anything that is not a private regular file with an Ed25519 key. */
function readKey(keyPath: string): KeyObject | undefined {
  let stat;
  try {
    stat = lstatSync(keyPath);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw keyError(`Cannot read the platform key ${keyPath}`, err);
  }
  if (!stat.isFile()) throw keyError(`Cannot use the platform key ${keyPath}: it is not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    // As ssh does with private keys: a key others could read may have leaked; the operator decides.
    throw keyError(
      `Cannot use the platform key ${keyPath}: its mode is 0${(stat.mode & 0o777).toString(8)}, others may have read it; check it and chmod 600 it`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(keyPath));
  } catch (err) {
    throw keyError(`Cannot read the platform key ${keyPath}: it is not a PEM private key`, err);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw keyError(`Cannot use the platform key ${keyPath}: it is a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  }
  return key;
}

function spkiHex(key: KeyObject | string): string {
  return createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('hex');
}

/** The certificate at certPath when it certifies `key`; undefined when absent, unreadable or for another key. */
function readMatchingCert(certPath: string, key: KeyObject): string | undefined {
  let pem: string;
  try {
    pem = readFileSync(certPath, 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw keyError(`Cannot read the platform certificate ${certPath}`, err);
  }
  try {
    return spkiHex(pem) === spkiHex(key) ? pem : undefined;
  } catch {
    return undefined;
  }
}

/** A random positive 16-byte serial (RFC 5280 §4.1.2.2: unique, at most 20 octets). */
function newSerial(): Uint8Array {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial;
}

/** Loads the platform key and certificate from DATA_DIR, creating either when missing. Synchronous. */
export function loadPlatformIdentity(options: LoadPlatformIdentityOptions): PlatformIdentity {
  const { dataDir } = options;
  const keyPath = join(dataDir, 'platform-key.pem');
  const certPath = join(dataDir, 'platform-cert.pem');
  try {
    makeDirectory(dataDir, 0o700);
  } catch (err) {
    throw keyError(`Cannot create the data directory ${dataDir}`, err);
  }

  let privateKey = readKey(keyPath);
  if (privateKey === undefined) {
    const generated = generateKeyPairSync('ed25519').privateKey;
    const text = generated.export({ type: 'pkcs8', format: 'pem' }).toString();
    try {
      writeFileExclusive(keyPath, text, { mode: 0o600 });
    } catch (err) {
      throw keyError(`Cannot create the platform key ${keyPath}`, err);
    }
    privateKey = readKey(keyPath); // ours, or the one a concurrent process published first
    if (privateKey === undefined) throw keyError(`Cannot create the platform key ${keyPath}: it vanished after creation`);
  }

  let certPem = readMatchingCert(certPath, privateKey);
  if (certPem === undefined) {
    const created = createPlatformCertificate({ privateKey, notBefore: options.now ?? new Date(), serial: newSerial() });
    try {
      if (!writeFileExclusive(certPath, created, { mode: 0o644 })) {
        // Another process created one first: keep it if it is for this key, else replace it.
        if (readMatchingCert(certPath, privateKey) === undefined) writeFileAtomic(certPath, created, { mode: 0o644 });
      }
    } catch (err) {
      throw keyError(`Cannot create the platform certificate ${certPath}`, err);
    }
    certPem = readMatchingCert(certPath, privateKey);
    if (certPem === undefined) throw keyError(`Cannot create the platform certificate ${certPath}: it does not match the key`);
  }
  return { privateKey, certPem, keyPath, certPath };
}
