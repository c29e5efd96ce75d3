/**
 * A KBS client written from the protocol facts (Trustee KBS 0.1.1, "RCAR"; docs/verdictd.md, "KBS"), not from
 * verdictd's code: auth → nonce and cookie, attest with runtime-data whose SHA-384 over its RFC 8785 JSON the
 * evidence binds, resources as flattened JWE decrypted with the TEE key. Used by the tests, the fuzz run and
 * the benchmark. Its canonicalizer is its own, so that a mistake in verdictd's is caught.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { exportJWK, flattenedDecrypt, type FlattenedJWE, type JWK } from 'jose';

/** One answer: status, JSON body (or undefined), headers. */
export interface KbsAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

/**
 * RFC 8785 (JCS) for the JSON values runtime-data holds: members sorted by UTF-16 code units (JavaScript's
 * default sort), ECMAScript number and string serialization, no whitespace.
 */
export function jcs(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(jcs).join(',') + ']';
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + jcs((value as Record<string, unknown>)[k])).join(',') + '}';
  }
  return JSON.stringify(value);
}

/** The 64 report-data bytes of runtime-data: SHA-384 of its JCS form, zero padded. */
export function runtimeDataBinding(runtimeData: unknown): Uint8Array {
  const out = new Uint8Array(64);
  out.set(createHash('sha384').update(jcs(runtimeData), 'utf8').digest());
  return out;
}

/** A TEE key pair as an enclave makes one: the JWK it sends and the private key it decrypts with. */
export interface TeeKeyPair {
  jwk: JWK;
  privateKey: KeyObject;
}

/** A fresh TEE key: RSA-OAEP-256 (2048 bits unless told) or ECDH-ES+A256KW on P-256. */
export async function teeKeyPair(kind: 'rsa' | 'ec' = 'ec', bits = 2048): Promise<TeeKeyPair> {
  if (kind === 'rsa') {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    return { jwk: { ...(await exportJWK(publicKey)), alg: 'RSA-OAEP-256' }, privateKey };
  }
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { jwk: { ...(await exportJWK(publicKey)), alg: 'ECDH-ES+A256KW' }, privateKey };
}

/** Decrypts a resource's flattened JWE. */
export async function openResource(jwe: FlattenedJWE, key: KeyObject): Promise<Buffer> {
  const { plaintext, protectedHeader } = await flattenedDecrypt(jwe, key);
  if (protectedHeader?.enc !== 'A256GCM') throw new Error(`unexpected enc ${String(protectedHeader?.enc)}`);
  return Buffer.from(plaintext);
}

/** One client: its session cookie and token. */
export class KbsClient {
  readonly base: string;
  cookie: string | undefined;
  token: string | undefined;

  constructor(base: string) {
    this.base = base.replace(/\/$/, '');
  }

  /** Any request; `body` a JSON value, bytes or text. The session cookie is sent and kept. */
  async request(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; cookie?: boolean } = {}): Promise<KbsAnswer> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.cookie !== undefined && options.cookie !== false) headers.cookie = this.cookie;
    let body: string | Uint8Array | undefined;
    if (options.body instanceof Uint8Array || typeof options.body === 'string') body = options.body;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${this.base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const setCookie = res.headers.get('set-cookie');
    const session = setCookie === null ? undefined : /kbs-session-id=([^;]+)/.exec(setCookie)?.[1];
    if (session !== undefined) this.cookie = `kbs-session-id=${session}`;
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  }

  /** POST /kbs/v0/auth; resolves to the nonce. */
  async auth(tee: string): Promise<string> {
    const a = await this.request('POST', '/kbs/v0/auth', { body: { version: '0.1.1', tee, 'extra-params': {} } });
    if (a.status !== 200) throw new Error(`auth: ${a.status} ${JSON.stringify(a.body)}`);
    return (a.body as { nonce: string }).nonce;
  }

  /** POST /kbs/v0/attest; keeps and returns the token, or the error answer. */
  async attest(runtimeData: unknown, teeEvidence: unknown): Promise<KbsAnswer> {
    const a = await this.request('POST', '/kbs/v0/attest', { body: { 'runtime-data': runtimeData, 'tee-evidence': teeEvidence } });
    if (a.status === 200) this.token = (a.body as { token: string }).token;
    return a;
  }

  /** GET /kbs/v0/resource/<path>, with the session cookie or (`bearer`) the token. */
  resource(path: string, options: { bearer?: string } = {}): Promise<KbsAnswer> {
    return this.request('GET', `/kbs/v0/resource/${path}`, options.bearer === undefined ? {} : { headers: { authorization: `Bearer ${options.bearer}` }, cookie: false });
  }
}
