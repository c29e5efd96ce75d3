/**
 * The KBS request bodies (docs/verdictd.md, "KBS"): `auth` and `attest` as Trustee's KBS protocol 0.1.1 sends
 * them, parsed into what the broker takes. Pure functions of the body bytes: any input gives a value or
 * VERDICTD_ERR_MALFORMED_REQUEST, never another error.
 *
 * `tee-evidence` per tee (Trustee's attesters serialize a JSON object; older clients send it as a JSON string
 * holding that object, both are accepted):
 * - `sgx`, `tdx`: `{"quote": "<base64 quote>", "cc_eventlog"?: ...}` (Trustee's SgxEvidence, TdxEvidence; the
 *   event log is ignored).
 * - `snp`: `{"attestation_report": "<base64 1184-byte report>", "cert_chain"?: [{"cert_type": "VCEK"|"VLEK"|"ASK"|"ARK", "data": <base64 DER or array of bytes>}]}`.
 *   Trustee's own SNP attester sends the report as the `sev` crate's serde structure, which is not accepted:
 *   only its raw bytes (base64 or an array of bytes).
 * - `sample` (and its alias `sim`): `{"evidence": "<base64 sim evidence>"}`, inclavared's signed sim evidence
 *   (docs/evidence-sim.md). Trustee's `sample` evidence (`{"svn","report_data"}`) is unsigned and refused.
 */
import type { TeeType } from '../../attestation/claims.ts';
import type { PerTeeOptions } from '../../attestation/verify-evidence.ts';
import { pemEncode } from '../../x509/pem.ts';
import { verdictdError } from '../codes.ts';

/** The protocol version this front end speaks (Trustee KBS 0.1.1); `auth` accepts 0.1.x. */
export const KBS_PROTOCOL_VERSION = '0.1.1';

/** The KBS tee names served, and the TEE each stands for. */
export const KBS_TEES: Readonly<Record<string, TeeType>> = Object.freeze({ sample: 'sim', sim: 'sim', sgx: 'sgx', tdx: 'tdx', snp: 'snp' });

/** A parsed `auth` request. */
export interface KbsAuthRequest {
  version: string;
  /** The KBS tee name as sent (`sample`, `sgx`, ...). */
  kbsTee: string;
  tee: TeeType;
}

/** A parsed `attest` request. */
export interface KbsAttestRequest {
  /** The `runtime-data` object as sent: its canonical JSON is what the evidence binds. */
  runtimeData: Record<string, unknown>;
  nonce: string;
  /** The JWK the resources are encrypted to. */
  teePubkey: Record<string, unknown>;
  /** The `init-data` object, if any (recorded in the token, not verified). */
  initData?: unknown;
  /** The raw `tee-evidence` value: {@link parseTeeEvidence} reads it for the session's TEE. */
  teeEvidence: unknown;
}

/** Evidence as the broker takes it. */
export interface KbsEvidence {
  evidence: Uint8Array;
  /** What the client sent along (an SNP VCEK and chain); never trust anchors. */
  evidenceOptions: PerTeeOptions;
}

/** VERDICTD_ERR_MALFORMED_REQUEST with an action-first message. */
export function malformed(message: string): Error {
  return verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `Cannot read the KBS request: ${message}`);
}

/** The body as a JSON object. */
export function parseJsonObject(body: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw malformed(`the ${what} body is no JSON`);
  }
  if (!isObject(value)) throw malformed(`the ${what} body must be a JSON object`);
  return value;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringMember(obj: Record<string, unknown>, name: string, what: string, max = 256): string {
  const v = obj[name];
  if (typeof v !== 'string') throw malformed(`${what} needs a string "${name}"`);
  if (v.length > max) throw malformed(`${what}'s "${name}" is longer than ${max} characters`);
  return v;
}

/** `POST /kbs/v0/auth`: `{"version","tee","extra-params"}`. */
export function parseAuthRequest(body: Uint8Array): KbsAuthRequest {
  const obj = parseJsonObject(body, 'auth');
  const version = stringMember(obj, 'version', 'auth', 32);
  if (!/^0\.1\.\d+$/.test(version)) throw malformed(`protocol version ${JSON.stringify(version)} is not served (this KBS speaks ${KBS_PROTOCOL_VERSION})`);
  const kbsTee = stringMember(obj, 'tee', 'auth', 32);
  const tee = Object.hasOwn(KBS_TEES, kbsTee) ? KBS_TEES[kbsTee] : undefined;
  if (tee === undefined) throw malformed(`tee ${JSON.stringify(kbsTee)} is not served (${Object.keys(KBS_TEES).join(', ')})`);
  if (obj['extra-params'] !== undefined && !isObject(obj['extra-params']) && typeof obj['extra-params'] !== 'string') throw malformed('"extra-params" must be an object');
  return { version, kbsTee, tee };
}

/** `POST /kbs/v0/attest`: `{"runtime-data":{"nonce","tee-pubkey"},"tee-evidence","init-data"?}`. */
export function parseAttestRequest(body: Uint8Array): KbsAttestRequest {
  const obj = parseJsonObject(body, 'attest');
  const runtimeData = obj['runtime-data'];
  if (!isObject(runtimeData)) throw malformed('attest needs a "runtime-data" object');
  const nonce = stringMember(runtimeData, 'nonce', '"runtime-data"');
  const teePubkey = runtimeData['tee-pubkey'];
  if (!isObject(teePubkey)) throw malformed('"runtime-data" needs a "tee-pubkey" JWK object');
  if (obj['tee-evidence'] === undefined || obj['tee-evidence'] === null) throw malformed('attest needs "tee-evidence"');
  return { runtimeData, nonce, teePubkey, teeEvidence: obj['tee-evidence'], ...(obj['init-data'] === undefined ? {} : { initData: obj['init-data'] }) };
}

/** Base64 (standard or URL-safe, padded or not) → bytes; VERDICTD_ERR_MALFORMED_REQUEST otherwise. */
export function decodeBase64(value: unknown, what: string): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value) || value.replace(/=+$/, '').length % 4 === 1) throw malformed(`${what} must be base64`);
  return new Uint8Array(Buffer.from(value, /[-_]/.test(value) ? 'base64url' : 'base64'));
}

/** Base64 text or an array of byte values (Rust's `Vec<u8>` in serde JSON). */
function bytesOf(value: unknown, what: string): Uint8Array {
  if (Array.isArray(value)) {
    if (value.length > 1 << 20 || !value.every((b) => Number.isInteger(b) && (b as number) >= 0 && (b as number) <= 255)) throw malformed(`${what} must be base64 or an array of bytes`);
    return Uint8Array.from(value as number[]);
  }
  return decodeBase64(value, what);
}

/** The `tee-evidence` of an attest request for `tee` (see the module comment). */
export function parseTeeEvidence(tee: TeeType, value: unknown): KbsEvidence {
  let evidence: unknown = value;
  if (typeof evidence === 'string') {
    try {
      evidence = JSON.parse(evidence);
    } catch {
      throw malformed('"tee-evidence" is a string but no JSON');
    }
  }
  if (!isObject(evidence)) throw malformed('"tee-evidence" must be a JSON object');
  switch (tee) {
    case 'sgx':
    case 'tdx':
      return { evidence: decodeBase64(evidence.quote, `${tee} "tee-evidence".quote`), evidenceOptions: {} };
    case 'sim':
      return { evidence: decodeBase64(evidence.evidence, 'sample "tee-evidence".evidence (sim evidence)'), evidenceOptions: {} };
    case 'snp':
      return { evidence: bytesOf(evidence.attestation_report, 'snp "tee-evidence".attestation_report'), evidenceOptions: { snp: snpCertificates(evidence.cert_chain) } };
    default:
      throw malformed(`tee ${tee} is not served`);
  }
}

/** Trustee's SNP `cert_chain` (CertTableEntry list) as the SNP verifier's `vcek` and `certChain`. */
function snpCertificates(chain: unknown): { vcek?: Uint8Array; certChain?: string } {
  if (chain === undefined || chain === null) return {};
  if (!Array.isArray(chain) || chain.length > 8) throw malformed('snp "tee-evidence".cert_chain must be a list of at most 8 entries');
  const out: { vcek?: Uint8Array; certChain?: string } = {};
  const rest: string[] = [];
  for (const entry of chain as unknown[]) {
    if (!isObject(entry) || typeof entry.cert_type !== 'string') throw malformed('each snp cert_chain entry needs "cert_type" and "data"');
    const der = bytesOf(entry.data, `snp cert_chain ${entry.cert_type} data`);
    const type = entry.cert_type.toUpperCase();
    if (type === 'VCEK' || type === 'VLEK') out.vcek = der;
    else if (type === 'ASK' || type === 'ARK' || type === 'ASVK') rest.push(pemEncode('CERTIFICATE', der));
  }
  if (rest.length > 0) out.certChain = rest.join('');
  return out;
}
