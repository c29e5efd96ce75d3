/**
 * The EAA commands (docs/verdictd.md, "EAA"; reference: the original Verdictd and CoCo's eaa_kbc): one request
 * text in, one answer out. Commands that return a key or a resource go through the broker (`release`: policy,
 * audit) with the attestation of the connection's verified peer; `version` and `echo` need no verdict.
 * Every failure becomes an answer here, in {@link failReply}: front ends do not invent statuses.
 */
import { createDecipheriv } from 'node:crypto';
import { describeError, isInclavareError } from '../../errors/errors.ts';
import type { Attestation, Broker, ReleaseTarget } from '../broker.ts';
import { verdictdError } from '../codes.ts';
import { hasImageKeyRecipient, IMAGE_KEY_ALG, imagePrivateKey, parseJwe, tryDecryptJwe } from '../image-key.ts';

/** The protocol version `version` answers. */
export const EAA_VERSION = 'v1';

/** What a command produced: bytes to write, and whether to close the connection after them. */
export interface EaaAnswer {
  body: string;
  close: boolean;
  /** For the log: the command, and what it released (kids, paths; never values). */
  summary: string;
}

/** What a command runs with. */
export interface EaaContext {
  broker: Broker;
  /** The connection's verified peer, admitted by the broker. */
  attestation: Attestation;
}

/** The commands this verdictd serves. */
export const EAA_COMMANDS = ['version', 'echo', 'Get KEK', 'Decrypt', 'Unwrap JWE', 'Get Resource Info', 'Get Resource'] as const;
/** Commands of the original Verdictd that this one does not serve (their content is a resource here). */
const ORIGINAL_ONLY = ['Get Policy', 'Get Sigstore Config', 'Get GPG Keyring', 'Get Cosign Key', 'Get Credential'];

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const GCM_TAG_BYTES = 16;
const GCM_IV_BYTES = 12;

function malformed(message: string): Error {
  return verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', `Cannot serve the request: ${message}`);
}

/** `{"status":"OK","data":...}`. */
export function okReply(data: unknown): string {
  return JSON.stringify({ status: 'OK', data });
}

/**
 * `{"status":"Fail","data":{},"error":"<message>","code":"<CODE>"}`: the one place an error becomes an answer.
 * An error that is no InclavareError answers "internal error" without its message (the daemon logs it).
 */
export function failReply(err: unknown): string {
  if (isInclavareError(err)) return JSON.stringify({ status: 'Fail', data: {}, error: err.message, code: err.code });
  return JSON.stringify({ status: 'Fail', data: {}, error: 'Cannot serve the request: internal error (see the verdictd log)', code: 'INTERNAL' });
}

function field<T>(request: Record<string, unknown>, name: string, check: (v: unknown) => v is T, what: string): T {
  const value = request[name];
  if (!check(value)) throw malformed(`"${request.command as string}" needs "${name}": ${what}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.length <= 64 && v.every(isString);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A kid names a stored key (a UUID) or, as CoCo's eaa_kbc sends it, a resource path (`kbs:///repo/type/tag` or `repo/type/tag`) holding the key. */
export function keyTarget(kid: string): ReleaseTarget {
  if (UUID.test(kid)) return { kind: 'key', kid: kid.toLowerCase() };
  const path = kid.startsWith('kbs:///') ? kid.slice('kbs:///'.length) : kid;
  if (path.split('/').length === 3) return { kind: 'resource', path };
  // Let the store phrase the error (it names the kid and what a kid is).
  return { kind: 'key', kid };
}

/** Parses and runs one request; never throws (a failure is a Fail answer). */
export async function runCommand(text: string, ctx: EaaContext): Promise<EaaAnswer> {
  let request: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) throw malformed('a request is a JSON object');
    request = parsed;
  } catch (err) {
    const error = isInclavareError(err) ? err : malformed(`it is not valid JSON (${(err as Error).message})`);
    return { body: failReply(error), close: false, summary: 'malformed request' };
  }
  const command = request.command;
  try {
    if (typeof command !== 'string') throw malformed('a request needs a "command" string');
    switch (command) {
      case 'version':
        return { body: JSON.stringify({ status: 'OK', version: EAA_VERSION }), close: false, summary: 'version' };
      case 'echo': {
        // The original answers with the data itself and disconnects.
        const data = request.data;
        return { body: typeof data === 'string' ? data : JSON.stringify(data ?? ''), close: true, summary: 'echo' };
      }
      case 'Get KEK':
        return await getKek(request, ctx);
      case 'Decrypt':
        return await decrypt(request, ctx);
      case 'Unwrap JWE':
        return await unwrapJwe(request, ctx);
      case 'Get Resource Info':
        return await getResourceInfo(request, ctx);
      case 'Get Resource':
        return await getResource(request, ctx);
      default:
        if (ORIGINAL_ONLY.includes(command)) {
          throw verdictdError('VERDICTD_ERR_UNKNOWN_COMMAND', `Cannot serve "${command}": this verdictd keeps such content as resources; store it with \`verdict resource set\` and ask with "Get Resource"`);
        }
        throw verdictdError('VERDICTD_ERR_UNKNOWN_COMMAND', `Cannot serve ${JSON.stringify(command.slice(0, 64))}: unknown command (${EAA_COMMANDS.join(', ')})`);
    }
  } catch (err) {
    return { body: failReply(err), close: false, summary: `${typeof command === 'string' ? command.slice(0, 64) : 'request'} failed: ${isInclavareError(err) ? err.code : describeError(err)}` };
  }
}

async function getKek(request: Record<string, unknown>, ctx: EaaContext): Promise<EaaAnswer> {
  const kids = field(request, 'kids', isStringList, 'a list of 1 to 64 kids');
  const data: Record<string, string> = {};
  for (const kid of kids) {
    const release = await ctx.broker.release(ctx.attestation, keyTarget(kid));
    data[kid] = Buffer.from(release.value).toString('base64');
  }
  return { body: okReply(data), close: false, summary: `Get KEK released ${kids.join(', ')}` };
}

interface Blob {
  kid: string;
  encrypted_data: string;
  iv: string;
  algorithm?: unknown;
  key_length?: unknown;
}

function isBlob(v: unknown): v is Blob {
  return isObject(v) && isString(v.kid) && isString(v.encrypted_data) && isString(v.iv);
}

function decodeBase64(value: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 === 1) throw malformed(`${what} is not base64`);
  return Buffer.from(value, 'base64');
}

async function decrypt(request: Record<string, unknown>, ctx: EaaContext): Promise<EaaAnswer> {
  const blobs = field(request, 'blobs', (v): v is Blob[] => Array.isArray(v) && v.length > 0 && v.length <= 64 && v.every(isBlob), 'a list of 1 to 64 blobs {kid, encrypted_data, iv, algorithm, key_length}');
  const data: Record<string, string> = {};
  for (const [i, blob] of blobs.entries()) {
    // "AES" with key_length 256 (the original) or "A256GCM" (CoCo's wrap_type): AES-256-GCM either way.
    const algorithm = blob.algorithm ?? 'AES';
    if (!((algorithm === 'AES' && (blob.key_length ?? 256) === 256) || (algorithm === 'A256GCM' && (blob.key_length ?? 256) === 256))) {
      throw verdictdError('VERDICTD_ERR_DECRYPT', `Cannot decrypt blob ${i}: algorithm ${JSON.stringify(algorithm)} with key_length ${JSON.stringify(blob.key_length)} is not supported (AES with 256, or A256GCM: AES-256-GCM)`);
    }
    const sealed = decodeBase64(blob.encrypted_data, `blob ${i}'s encrypted_data`);
    const iv = decodeBase64(blob.iv, `blob ${i}'s iv`);
    if (iv.length !== GCM_IV_BYTES) throw verdictdError('VERDICTD_ERR_DECRYPT', `Cannot decrypt blob ${i}: the iv is ${iv.length} bytes, AES-256-GCM takes ${GCM_IV_BYTES}`);
    if (sealed.length < GCM_TAG_BYTES) throw verdictdError('VERDICTD_ERR_DECRYPT', `Cannot decrypt blob ${i}: encrypted_data is ${sealed.length} bytes, shorter than the ${GCM_TAG_BYTES}-byte tag appended to it`);
    const release = await ctx.broker.release(ctx.attestation, keyTarget(blob.kid));
    const key = Buffer.from(release.value);
    if (key.length !== 32) throw verdictdError('VERDICTD_ERR_DECRYPT', `Cannot decrypt blob ${i}: key ${blob.kid} is ${key.length} bytes, AES-256-GCM takes 32`);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
      plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES)), decipher.final()]);
    } catch {
      throw verdictdError('VERDICTD_ERR_DECRYPT', `Cannot decrypt blob ${i} with key ${blob.kid}: authentication failed (the data, iv or tag were changed, or it was encrypted under another key)`);
    } finally {
      key.fill(0);
    }
    data[blob.encrypted_data] = plain.toString('base64');
  }
  return { body: okReply(data), close: false, summary: `Decrypt with ${blobs.map((b) => b.kid).join(', ')}` };
}

/**
 * `Unwrap JWE` (this verdictd's own): `{"command":"Unwrap JWE","jwe":<JWE JSON object, or the annotation's
 * base64>}`, the JWE ocicrypt writes for `skopeo --encryption-key jwe:<image key>` into a layer's
 * `org.opencontainers.image.enc.keys.jwe`. verdictd finds the stored key whose image key (image-key.ts) it is
 * encrypted to, judges and audits the release of that key (broker), and answers `{"status":"OK",
 * "data":{"kid":"<kid>","plaintext":"<b64>"}}`: the layer's private options. A JWE for no key of this verdictd
 * is VERDICTD_ERR_NOT_FOUND naming its recipients.
 */
async function unwrapJwe(request: Record<string, unknown>, ctx: EaaContext): Promise<EaaAnswer> {
  if (request.jwe === undefined) throw malformed('"Unwrap JWE" needs "jwe": the JWE (JSON serialization) of a layer\'s org.opencontainers.image.enc.keys.jwe annotation');
  const parsed = parseJwe(request.jwe);
  if (!hasImageKeyRecipient(parsed)) {
    throw verdictdError('VERDICTD_ERR_DECRYPT', `Cannot unwrap the JWE: none of its recipients (${parsed.recipients.join(', ')}) can be a verdictd image key, which takes ${IMAGE_KEY_ALG} on P-256; encrypt with skopeo --encryption-key jwe:<the PEM \`verdict key public <kid>\` prints>`);
  }
  const { release, result } = await ctx.broker.releaseMatchingKey(
    ctx.attestation,
    (value) => tryDecryptJwe(parsed, imagePrivateKey(value)),
    () => verdictdError('VERDICTD_ERR_NOT_FOUND', `Cannot unwrap the JWE: it is encrypted to no image key of this verdictd (its recipients: ${parsed.recipients.join(', ')}), or it was altered; \`verdict key public <kid>\` prints the keys images should be encrypted to`),
  );
  release.value.fill(0);
  if (release.target.kind !== 'key') throw verdictdError('VERDICTD_ERR_INTERNAL', 'Cannot unwrap the JWE: a key release gave no key');
  return { body: okReply({ kid: release.target.kid, plaintext: result.toString('base64') }), close: false, summary: `Unwrap JWE with ${release.target.kid}` };
}

/** `Get Resource Info`: `name` is the resource path; the answer is the length of the base64 `Get Resource` sends (eaa_kbc sizes its buffer with it). */
async function getResourceInfo(request: Record<string, unknown>, ctx: EaaContext): Promise<EaaAnswer> {
  const name = field(request, 'name', isString, 'the resource path repo/type/tag');
  // Judged and audited like a release: a denied peer must not learn which resources exist or their size.
  const release = await ctx.broker.release(ctx.attestation, { kind: 'resource', path: name });
  const base64size = String(4 * Math.ceil(release.value.length / 3));
  return { body: okReply({ base64size }), close: false, summary: `Get Resource Info ${name}` };
}

/**
 * `Get Resource` as CoCo's eaa_kbc sends it: `{"command":"Get Resource","optional":{"resource_path":"repo/type/tag"}}`
 * (later clients add `"algorithm":"A256GCM"`, which names the channel's protection and changes nothing here).
 * eaa_kbc reads the answer as the resource's bare base64 (no JSON), and on failure base64-decodes it and reads
 * `{"status","error"}` from it: so both are sent that way.
 */
async function getResource(request: Record<string, unknown>, ctx: EaaContext): Promise<EaaAnswer> {
  try {
    const optional = field(request, 'optional', isObject, 'an object with "resource_path": "repo/type/tag"');
    const path = optional.resource_path;
    if (!isString(path)) throw malformed('"Get Resource" needs "optional.resource_path": "repo/type/tag"');
    const algorithm = optional.algorithm ?? request.algorithm;
    if (algorithm !== undefined && algorithm !== 'A256GCM') {
      throw malformed(`"Get Resource" algorithm ${JSON.stringify(algorithm)} is not supported (A256GCM)`);
    }
    const release = await ctx.broker.release(ctx.attestation, { kind: 'resource', path });
    return { body: Buffer.from(release.value).toString('base64'), close: false, summary: `Get Resource released ${path}` };
  } catch (err) {
    return { body: Buffer.from(failReply(err)).toString('base64'), close: false, summary: `Get Resource failed: ${isInclavareError(err) ? err.code : describeError(err)}` };
  }
}
