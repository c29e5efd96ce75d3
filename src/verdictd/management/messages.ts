/**
 * The management API's services and messages, declared here once (docs/verdictd.md, "Management API"): no
 * .proto file, no code generation. The declaration below builds a protobuf FileDescriptorProto with
 * @bufbuild/protobuf's reflection, which encodes and decodes the messages; docs/verdictd.md prints it as
 * .proto text.
 *
 * Package `inclavare.verdictd.management.v1`. Field numbers are the API: never renumber or reuse one.
 * KeyManagerService keeps the original Verdictd's field numbers where it had the field (reference
 * attestation.md §4): `CreateKey` → {status = 1, uuid = 2}, `GetKey` {uuid = 1} → {status = 1, key = 2},
 * `DeleteKey` {uuid = 1} → {status = 1}, `status` being "OK" on success (errors are gRPC statuses). The
 * original's status/uuid may have been `bytes`; `string` and `bytes` are the same on the wire, so its clients
 * read ours. Everything else is new and numbered from 1.
 */
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { FieldDescriptorProto_Label as Label, FieldDescriptorProto_Type as Type, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';

/** The largest request or answer (a resource is at most 16 MiB, plus framing). */
export const MAX_MESSAGE_BYTES = 17 * 1024 * 1024;

/** The protobuf package of every service and message below. */
export const PACKAGE = 'inclavare.verdictd.management.v1';

type Scalar = 'string' | 'bytes' | 'bool' | 'uint32';
/** One field: [name (snake_case), number, type (a scalar or a message name), repeated?]. */
type FieldSpec = readonly [name: string, number: number, type: Scalar | `.${string}`, repeated?: 'repeated'];

/** Every message: name → fields. Keep in step with the interfaces below and docs/verdictd.md. */
export const MESSAGE_FIELDS = {
  // --- keys (KeyManagerService; the original's numbers for status/uuid/key) ---
  KeyInfo: [['uuid', 1, 'string'], ['length', 2, 'uint32'], ['origin', 3, 'string'], ['created_at', 4, 'string']],
  CreateKeyRequest: [],
  CreateKeyResponse: [['status', 1, 'string'], ['uuid', 2, 'string'], ['info', 3, '.KeyInfo']],
  GetKeyRequest: [['uuid', 1, 'string']],
  GetKeyResponse: [['status', 1, 'string'], ['key', 2, 'bytes']],
  DeleteKeyRequest: [['uuid', 1, 'string']],
  DeleteKeyResponse: [['status', 1, 'string']],
  ListKeysRequest: [],
  ListKeysResponse: [['keys', 1, '.KeyInfo', 'repeated']],
  // `uuid` empty: a fresh UUIDv4, as CreateKey.
  ImportKeyRequest: [['key', 1, 'bytes'], ['uuid', 2, 'string']],
  ImportKeyResponse: [['status', 1, 'string'], ['uuid', 2, 'string'], ['info', 3, '.KeyInfo']],
  // The P-256 image key of a stored key (image-key.ts), PEM SubjectPublicKeyInfo.
  GetImagePublicKeyRequest: [['uuid', 1, 'string']],
  GetImagePublicKeyResponse: [['pem', 1, 'string']],
  // --- resources (ResourceService) ---
  ResourceInfo: [['path', 1, 'string'], ['size', 2, 'uint32'], ['updated_at', 3, 'string']],
  SetResourceRequest: [['path', 1, 'string'], ['data', 2, 'bytes']],
  SetResourceResponse: [['info', 1, '.ResourceInfo']],
  GetResourceRequest: [['path', 1, 'string']],
  GetResourceResponse: [['data', 1, 'bytes']],
  ListResourcesRequest: [],
  ListResourcesResponse: [['resources', 1, '.ResourceInfo', 'repeated']],
  DeleteResourceRequest: [['path', 1, 'string']],
  DeleteResourceResponse: [],
  // --- policies (PolicyService; SetPolicy {name, content} as the original's SetOpaPolicy) ---
  SetPolicyRequest: [['name', 1, 'string'], ['content', 2, 'string']],
  SetPolicyResponse: [['name', 1, 'string'], ['updated_at', 2, 'string']],
  GetPolicyRequest: [['name', 1, 'string']],
  // `builtin`: the shipped policy of that name (no stored one replaces it); `updated_at` empty then.
  GetPolicyResponse: [['name', 1, 'string'], ['content', 2, 'string'], ['updated_at', 3, 'string'], ['builtin', 4, 'bool']],
  ListPoliciesRequest: [],
  // `stored`: the policies in the store; `builtin`: the shipped ones (a stored one of the same name wins).
  ListPoliciesResponse: [['stored', 1, 'string', 'repeated'], ['builtin', 2, 'string', 'repeated']],
  DeletePolicyRequest: [['name', 1, 'string']],
  DeletePolicyResponse: [],
  // Which policy: `policy_name` (stored, else shipped; empty: the broker's) or `policy_content` (a document
  // not stored). What to judge: `evidence` (verified now with the store's trust; `tee` and `report_data`
  // optional) or `claims_json` (a claims record, e.g. `tee-tools verify --json`'s `claims`).
  TestPolicyRequest: [
    ['policy_name', 1, 'string'],
    ['policy_content', 2, 'string'],
    ['evidence', 3, 'bytes'],
    ['claims_json', 4, 'string'],
    ['tee', 5, 'string'],
    ['report_data', 6, 'string'],
  ],
  // `claims_json` of a failed rule: the claim values its expression reads, as a JSON object.
  FailedRule: [['rule', 1, 'string'], ['expression', 2, 'string'], ['message', 3, 'string'], ['reason', 4, 'string'], ['error', 5, 'string'], ['claims_json', 6, 'string']],
  TestPolicyResponse: [['allow', 1, 'bool'], ['policy', 2, 'string'], ['claims_digest', 3, 'string'], ['failed', 4, '.FailedRule', 'repeated'], ['claims_json', 5, 'string']],
  // --- reference-value sets (ReferenceService) ---
  // `content`: the set as JSON, {"name", "values": {field: [values]}} (its name may be left out). `mode`: ''
  // replaces the set; `merge` adds each field's values to the stored lists; `replace-fields` replaces the
  // given fields' lists and keeps the others. Merges are atomic in the store (replicas lose no value).
  SetReferenceRequest: [['name', 1, 'string'], ['content', 2, 'string'], ['mode', 3, 'string']],
  SetReferenceResponse: [['name', 1, 'string']],
  GetReferenceRequest: [['name', 1, 'string']],
  GetReferenceResponse: [['name', 1, 'string'], ['content', 2, 'string']],
  ListReferencesRequest: [],
  ListReferencesResponse: [['names', 1, 'string', 'repeated']],
  DeleteReferenceRequest: [['name', 1, 'string']],
  DeleteReferenceResponse: [],
  // --- trust (TrustService) ---
  SimPlatformKey: [['platform_key_id', 1, 'string'], ['pem', 2, 'string']],
  GetTrustRequest: [],
  GetTrustResponse: [['sim_platform_keys', 1, '.SimPlatformKey', 'repeated'], ['intel_trust_anchors', 2, 'uint32'], ['amd_trust_anchors', 3, 'uint32']],
  AddSimPlatformKeyRequest: [['pem', 1, 'string']],
  AddSimPlatformKeyResponse: [['platform_key_id', 1, 'string'], ['added', 2, 'bool']],
  RemoveSimPlatformKeyRequest: [['platform_key_id', 1, 'string']],
  RemoveSimPlatformKeyResponse: [],
  // --- the audit log (AuditService) ---
  // Filters (empty/0: none): `since` and `until` ISO-8601 times (since ≤ time < until), `decision` allow,
  // deny or error, `kid`, `path`; `limit`: the last N matching records. Records come oldest first.
  ReadAuditRequest: [['since', 1, 'string'], ['until', 2, 'string'], ['decision', 3, 'string'], ['kid', 4, 'string'], ['path', 5, 'string'], ['limit', 6, 'uint32']],
  // One record: its main fields, and `json`, the whole record as the store keeps it (failed rules included).
  AuditRecord: [
    ['time', 1, 'string'],
    ['action', 2, 'string'],
    ['decision', 3, 'string'],
    ['kid', 4, 'string'],
    ['path', 5, 'string'],
    ['name', 6, 'string'],
    ['peer_address', 7, 'string'],
    ['front_end', 8, 'string'],
    ['policy', 9, 'string'],
    ['error_code', 10, 'string'],
    ['json', 11, 'string'],
  ],
  ReadAuditResponse: [['records', 1, '.AuditRecord', 'repeated']],
  // --- verdictd's own identity (IdentityService) ---
  GetIdentityRequest: [],
  // `pin`: sha256:<hex> of the identity key's SubjectPublicKeyInfo; `certificate`: the current EAA certificate (PEM).
  GetIdentityResponse: [['pin', 1, 'string'], ['certificate', 2, 'string']],
} as const satisfies Record<string, readonly FieldSpec[]>;

/** A message name. */
export type MessageName = keyof typeof MESSAGE_FIELDS;

/** Every service: method → [request, response] (all unary). */
export const SERVICES = {
  KeyManagerService: {
    CreateKey: ['CreateKeyRequest', 'CreateKeyResponse'],
    GetKey: ['GetKeyRequest', 'GetKeyResponse'],
    DeleteKey: ['DeleteKeyRequest', 'DeleteKeyResponse'],
    ListKeys: ['ListKeysRequest', 'ListKeysResponse'],
    ImportKey: ['ImportKeyRequest', 'ImportKeyResponse'],
    GetImagePublicKey: ['GetImagePublicKeyRequest', 'GetImagePublicKeyResponse'],
  },
  ResourceService: {
    SetResource: ['SetResourceRequest', 'SetResourceResponse'],
    GetResource: ['GetResourceRequest', 'GetResourceResponse'],
    ListResources: ['ListResourcesRequest', 'ListResourcesResponse'],
    DeleteResource: ['DeleteResourceRequest', 'DeleteResourceResponse'],
  },
  PolicyService: {
    SetPolicy: ['SetPolicyRequest', 'SetPolicyResponse'],
    GetPolicy: ['GetPolicyRequest', 'GetPolicyResponse'],
    ListPolicies: ['ListPoliciesRequest', 'ListPoliciesResponse'],
    DeletePolicy: ['DeletePolicyRequest', 'DeletePolicyResponse'],
    TestPolicy: ['TestPolicyRequest', 'TestPolicyResponse'],
  },
  ReferenceService: {
    SetReference: ['SetReferenceRequest', 'SetReferenceResponse'],
    GetReference: ['GetReferenceRequest', 'GetReferenceResponse'],
    ListReferences: ['ListReferencesRequest', 'ListReferencesResponse'],
    DeleteReference: ['DeleteReferenceRequest', 'DeleteReferenceResponse'],
  },
  TrustService: {
    GetTrust: ['GetTrustRequest', 'GetTrustResponse'],
    AddSimPlatformKey: ['AddSimPlatformKeyRequest', 'AddSimPlatformKeyResponse'],
    RemoveSimPlatformKey: ['RemoveSimPlatformKeyRequest', 'RemoveSimPlatformKeyResponse'],
  },
  IdentityService: {
    GetIdentity: ['GetIdentityRequest', 'GetIdentityResponse'],
  },
  AuditService: {
    ReadAudit: ['ReadAuditRequest', 'ReadAuditResponse'],
  },
} as const satisfies Record<string, Record<string, readonly [MessageName, MessageName]>>;

/** A service name. */
export type ServiceName = keyof typeof SERVICES;
/** A method of the API: `Service/Method`. */
export type MethodName = { [S in ServiceName]: `${S}/${keyof (typeof SERVICES)[S] & string}` }[ServiceName];

// The JavaScript shapes of the messages (snake_case fields become camelCase; unset scalars read as ''/0/false).
export interface KeyInfoMessage { uuid: string; length: number; origin: string; createdAt: string }
export interface ResourceInfoMessage { path: string; size: number; updatedAt: string }
export interface FailedRuleMessage { rule: string; expression: string; message: string; reason: string; error: string; claimsJson: string }
export interface SimPlatformKeyMessage { platformKeyId: string; pem: string }
export interface AuditRecordMessage { time: string; action: string; decision: string; kid: string; path: string; name: string; peerAddress: string; frontEnd: string; policy: string; errorCode: string; json: string }

/** Request and response shapes by message name. */
export interface Messages {
  KeyInfo: KeyInfoMessage;
  CreateKeyRequest: Record<string, never>;
  CreateKeyResponse: { status: string; uuid: string; info?: KeyInfoMessage };
  GetKeyRequest: { uuid: string };
  GetKeyResponse: { status: string; key: Uint8Array };
  DeleteKeyRequest: { uuid: string };
  DeleteKeyResponse: { status: string };
  ListKeysRequest: Record<string, never>;
  ListKeysResponse: { keys: KeyInfoMessage[] };
  ImportKeyRequest: { key: Uint8Array; uuid: string };
  ImportKeyResponse: { status: string; uuid: string; info?: KeyInfoMessage };
  GetImagePublicKeyRequest: { uuid: string };
  GetImagePublicKeyResponse: { pem: string };
  ResourceInfo: ResourceInfoMessage;
  SetResourceRequest: { path: string; data: Uint8Array };
  SetResourceResponse: { info?: ResourceInfoMessage };
  GetResourceRequest: { path: string };
  GetResourceResponse: { data: Uint8Array };
  ListResourcesRequest: Record<string, never>;
  ListResourcesResponse: { resources: ResourceInfoMessage[] };
  DeleteResourceRequest: { path: string };
  DeleteResourceResponse: Record<string, never>;
  SetPolicyRequest: { name: string; content: string };
  SetPolicyResponse: { name: string; updatedAt: string };
  GetPolicyRequest: { name: string };
  GetPolicyResponse: { name: string; content: string; updatedAt: string; builtin: boolean };
  ListPoliciesRequest: Record<string, never>;
  ListPoliciesResponse: { stored: string[]; builtin: string[] };
  DeletePolicyRequest: { name: string };
  DeletePolicyResponse: Record<string, never>;
  TestPolicyRequest: { policyName: string; policyContent: string; evidence: Uint8Array; claimsJson: string; tee: string; reportData: string };
  FailedRule: FailedRuleMessage;
  TestPolicyResponse: { allow: boolean; policy: string; claimsDigest: string; failed: FailedRuleMessage[]; claimsJson: string };
  SetReferenceRequest: { name: string; content: string; mode: string };
  SetReferenceResponse: { name: string };
  GetReferenceRequest: { name: string };
  GetReferenceResponse: { name: string; content: string };
  ListReferencesRequest: Record<string, never>;
  ListReferencesResponse: { names: string[] };
  DeleteReferenceRequest: { name: string };
  DeleteReferenceResponse: Record<string, never>;
  SimPlatformKey: SimPlatformKeyMessage;
  GetTrustRequest: Record<string, never>;
  GetTrustResponse: { simPlatformKeys: SimPlatformKeyMessage[]; intelTrustAnchors: number; amdTrustAnchors: number };
  AddSimPlatformKeyRequest: { pem: string };
  AddSimPlatformKeyResponse: { platformKeyId: string; added: boolean };
  RemoveSimPlatformKeyRequest: { platformKeyId: string };
  RemoveSimPlatformKeyResponse: Record<string, never>;
  GetIdentityRequest: Record<string, never>;
  GetIdentityResponse: { pin: string; certificate: string };
  ReadAuditRequest: { since: string; until: string; decision: string; kid: string; path: string; limit: number };
  AuditRecord: AuditRecordMessage;
  ReadAuditResponse: { records: AuditRecordMessage[] };
}

/** The request message of a method. */
export type RequestOf<M extends MethodName> = M extends `${infer S extends ServiceName}/${infer N}`
  ? Messages[(typeof SERVICES)[S][N & keyof (typeof SERVICES)[S]] extends readonly [infer Q extends MessageName, MessageName] ? Q : never]
  : never;
/** The response message of a method. */
export type ResponseOf<M extends MethodName> = M extends `${infer S extends ServiceName}/${infer N}`
  ? Messages[(typeof SERVICES)[S][N & keyof (typeof SERVICES)[S]] extends readonly [MessageName, infer R extends MessageName] ? R : never]
  : never;

const SCALAR_TYPES: Record<Scalar, Type> = { string: Type.STRING, bytes: Type.BYTES, bool: Type.BOOL, uint32: Type.UINT32 };

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

const FILE = create(FileDescriptorProtoSchema, {
  name: 'inclavare/verdictd/management/v1/management.proto',
  package: PACKAGE,
  syntax: 'proto3',
  messageType: Object.entries(MESSAGE_FIELDS).map(([name, fields]) => ({
    name,
    field: (fields as readonly FieldSpec[]).map(([fname, number, type, repeated]) => ({
      name: fname,
      number,
      jsonName: camel(fname),
      label: repeated === 'repeated' ? Label.REPEATED : Label.OPTIONAL,
      ...(type.startsWith('.') ? { type: Type.MESSAGE, typeName: `.${PACKAGE}${type}` } : { type: SCALAR_TYPES[type as Scalar] }),
    })),
  })),
  service: Object.entries(SERVICES).map(([name, methods]) => ({
    name,
    method: Object.entries(methods).map(([mname, [req, res]]) => ({ name: mname, inputType: `.${PACKAGE}.${req}`, outputType: `.${PACKAGE}.${res}` })),
  })),
});

const REGISTRY = createFileRegistry(FILE, () => undefined);

function descOf(name: MessageName): DescMessage {
  const desc = REGISTRY.getMessage(`${PACKAGE}.${name}`);
  if (desc === undefined) throw new TypeError(`${name} is not declared`);
  return desc;
}

/** The request and response message names of `Service/Method`. */
export function messagesOf(method: MethodName): readonly [MessageName, MessageName] {
  const [service, name] = method.split('/') as [ServiceName, string];
  return (SERVICES[service] as Record<string, readonly [MessageName, MessageName]>)[name]!;
}

/** Every method of the API, as `Service/Method`. */
export function allMethods(): MethodName[] {
  return Object.entries(SERVICES).flatMap(([s, methods]) => Object.keys(methods).map((m) => `${s}/${m}` as MethodName));
}

/** The gRPC path of a method: `/inclavare.verdictd.management.v1.KeyManagerService/CreateKey`. */
export function grpcPath(method: MethodName): string {
  return `/${PACKAGE}.${method}`;
}

/** Encodes a message (absent fields take their defaults). */
export function encodeMessage<N extends MessageName>(name: N, value: Partial<Messages[N]>): Uint8Array {
  const desc = descOf(name);
  return toBinary(desc, create(desc, value as never));
}

/**
 * Decodes a message; throws (a plain Error from the protobuf reader) on bytes that are no such message.
 * Unknown fields are dropped. The result is a plain object of the declared shape, without `$typeName`.
 */
export function decodeMessage<N extends MessageName>(name: N, bytes: Uint8Array): Messages[N] {
  const { $typeName: _, ...rest } = fromBinary(descOf(name), bytes, { readUnknownFields: false }) as Record<string, unknown>;
  return stripTypeNames(rest) as Messages[N];
}

function stripTypeNames(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripTypeNames);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== '$typeName') out[k] = stripTypeNames(v);
  return out;
}
