/**
 * The KBS admin endpoints (docs/verdictd.md, "KBS"): authorised by a JWT (`Authorization: Bearer`) signed by
 * the key whose public half `--kbs-admin-key` names (Ed25519: EdDSA, P-256: ES256), as Trustee's admin API;
 * with no admin key they are refused (VERDICTD_ERR_ADMIN_DISABLED, fail closed). They change the store
 * through the management service's methods, so they are validated and audited exactly as `verdict` calls
 * are (front end `kbs-admin`).
 *
 * What Trustee's endpoints mean in verdictd's policy model (one CEL policy decides, policies are data):
 * - `POST /kbs/v0/resource-policy {"policy": b64}`: sets the policy that decides releases (the daemon's
 *   `--policy` name; the document's `name` must be that name or absent). `GET` returns it.
 * - `POST /kbs/v0/attestation-policy {"policy_id"?, "type"?, "policy": b64}`: stores a policy of name
 *   `policy_id` (default: the release policy, which is also the appraisal policy of tokens). `type` must be
 *   absent or `cel`: Rego is refused.
 * - `POST /kbs/v0/reference-value`: a reference-value set `{"name","values"}`; `GET .../reference-value/<name>`.
 * - `POST /kbs/v0/resource/<repo>/<type>/<tag>`: the body is the resource's bytes.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jwtVerify } from 'jose';
import { verdictdError } from '../codes.ts';
import type { ManagementService } from '../management/service.ts';
import { decodeBase64, isObject, malformed, parseJsonObject } from './evidence.ts';

/** The admin public key and the JWS algorithm its tokens use. */
export interface KbsAdminKey {
  key: KeyObject;
  algorithms: string[];
}

/** Reads `--kbs-admin-key`: a PEM public key, Ed25519 or P-256; VERDICTD_ERR_USAGE otherwise. */
export function readKbsAdminKey(file: string): KbsAdminKey {
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(file));
  } catch (err) {
    throw verdictdError('VERDICTD_ERR_USAGE', `Cannot use --kbs-admin-key ${file}: ${(err as Error).message}; give a PEM public key (Ed25519 or P-256)`, { cause: err });
  }
  if (key.asymmetricKeyType === 'ed25519') return { key, algorithms: ['EdDSA', 'Ed25519'] };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, algorithms: ['ES256'] };
  throw verdictdError('VERDICTD_ERR_USAGE', `Cannot use --kbs-admin-key ${file}: it is a ${key.asymmetricKeyType} key; give an Ed25519 or P-256 public key`);
}

/** Checks an admin request's bearer JWT (signature, `exp` required and not passed). */
export async function checkAdmin(adminKey: KbsAdminKey | undefined, authorization: string | undefined, now: Date): Promise<void> {
  if (adminKey === undefined) {
    throw verdictdError('VERDICTD_ERR_ADMIN_DISABLED', 'Cannot serve a KBS admin endpoint: verdictd was started without --kbs-admin-key (use `verdict` or restart with the admin public key)');
  }
  const token = /^Bearer ([A-Za-z0-9_.-]{1,8192})$/.exec(authorization ?? '')?.[1];
  if (token === undefined) throw verdictdError('VERDICTD_ERR_UNAUTHENTICATED', 'Cannot serve a KBS admin endpoint: no `Authorization: Bearer <admin JWT>`');
  try {
    await jwtVerify(token, adminKey.key, { algorithms: adminKey.algorithms, currentDate: now, requiredClaims: ['exp'] });
  } catch (err) {
    throw verdictdError('VERDICTD_ERR_UNAUTHENTICATED', `Cannot serve a KBS admin endpoint: the admin token does not verify (${(err as Error).message})`, { cause: err });
  }
}

/** One admin request, already authorised. */
export interface AdminRequest {
  method: string;
  /** The path after `/kbs/v0/`. */
  route: string;
  body: Uint8Array;
  caller: { address: string };
}

function policyText(obj: Record<string, unknown>): string {
  const bytes = decodeBase64(obj.policy, '"policy" (the policy document)');
  return Buffer.from(bytes).toString('utf8');
}

/** Serves an admin request through the management service; undefined when `route` is no admin route. */
export async function serveAdmin(service: ManagementService, releasePolicy: string, r: AdminRequest): Promise<{ status: number; json: unknown } | undefined> {
  const { method, route, caller } = r;
  if (route === 'resource-policy' || route === 'attestation-policy') {
    if (method === 'GET') {
      const p = await service['PolicyService/GetPolicy']({ name: releasePolicy }, caller);
      return { status: 200, json: { policy: Buffer.from(p.content).toString('base64url') } };
    }
    if (method !== 'POST') return undefined;
    const obj = parseJsonObject(r.body, route);
    let name = releasePolicy;
    if (route === 'attestation-policy') {
      if (obj.type !== undefined && obj.type !== 'cel') throw malformed(`policy type ${JSON.stringify(obj.type)} is not served: verdictd's policies are CEL JSON documents (docs/verdictd.md, "Policies")`);
      if (obj.policy_id !== undefined) {
        if (typeof obj.policy_id !== 'string') throw malformed('"policy_id" must be a string');
        name = obj.policy_id;
      }
    }
    await service['PolicyService/SetPolicy']({ name, content: policyText(obj) }, caller);
    return { status: 200, json: {} };
  }
  if (route === 'reference-value' && method === 'POST') {
    const obj = parseJsonObject(r.body, route);
    if (typeof obj.name !== 'string' || !isObject(obj.values)) throw malformed('reference-value needs a set {"name", "values"}');
    const set = await service['ReferenceService/SetReference']({ name: obj.name, content: Buffer.from(r.body).toString('utf8'), mode: '' }, caller);
    return { status: 200, json: { name: set.name } };
  }
  if (route.startsWith('reference-value/') && method === 'GET') {
    const set = await service['ReferenceService/GetReference']({ name: route.slice('reference-value/'.length) }, caller);
    return { status: 200, json: JSON.parse(set.content) as unknown };
  }
  if (route.startsWith('resource/') && (method === 'POST' || method === 'PUT')) {
    const set = await service['ResourceService/SetResource']({ path: route.slice('resource/'.length), data: r.body }, caller);
    return { status: 200, json: { path: set.info?.path, size: set.info?.size } };
  }
  return undefined;
}
