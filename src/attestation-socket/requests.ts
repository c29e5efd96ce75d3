/**
 * Strict parsing of request bodies on both sockets (pure). Both parse bytes from parties inclavared does
 * not trust (the attestation socket: any process in any enclave container), so every body must be one
 * UTF-8 JSON object whose members are exactly the documented ones, each a string of the documented form.
 * Unknown, missing and duplicate members are errors: a duplicate key would let two JSON parsers (ours and
 * a proxy's) disagree about what was asked. Everything else is INCLAVARED_ERR_BAD_REQUEST.
 */
import { badRequest } from './codes.ts';
import { SIM_MEASUREMENT_LENGTH, SIM_REPORT_DATA_LENGTH } from '../attestation/sim/parse.ts';

/** The enclave types a container can be registered with. */
export const ENCLAVE_TEES = ['sim', 'wasm', 'tdx', 'snp'] as const;
/** One of {@link ENCLAVE_TEES}. */
export type EnclaveTee = (typeof ENCLAVE_TEES)[number];

/** Measurement length: SHA-384 (48 bytes, 96 hex digits), the width of TDX and SNP measurements. */
export const MEASUREMENT_LENGTH = SIM_MEASUREMENT_LENGTH;
/** report_data is at most 64 bytes (128 hex digits). */
export const MAX_REPORT_DATA_LENGTH = SIM_REPORT_DATA_LENGTH;

/** `POST /v1/containers` on the control socket. */
export interface RegisterRequest {
  id: string;
  /**
   * 48 bytes; absent: a pending registration (the socket exists, evidence is refused until
   * {@link parseBindRequest}'s request binds the measurement, once).
   */
  measurement?: Uint8Array;
  tee: EnclaveTee;
  /** verdictd's address, HOST:PORT or [IPv6]:PORT: the one place this container's relay connects to. */
  relay?: string;
}

/** A relay address: HOST:PORT or [IPv6]:PORT. */
export const RELAY_ADDRESS = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;

/** `POST /v1/evidence` on an attestation socket. */
export interface EvidenceRequest {
  /** 0-64 bytes, as given (zero-padding to 64 happens where evidence is made). */
  reportData: Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Every JSON string token, escapes included (used only on text JSON.parse already accepted). */
const STRING_TOKEN = /"(?:[^"\\]|\\.)*"/g;

/**
 * Parses `body` as a JSON object whose members are exactly `fields`, all strings. Returns the members.
 * Exported for the fuzz tests.
 */
export function parseStrictObject<K extends string, O extends string = never>(body: Uint8Array, fields: readonly K[], optional: readonly O[] = []): Record<K, string> & Partial<Record<O, string>> {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw badRequest('Cannot parse the request: the body is not UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('Cannot parse the request: the body is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(`Cannot parse the request: the body must be a JSON object with ${fields.map((f) => `"${f}"`).join(', ')}`);
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  for (const key of keys) {
    if (!(fields as readonly string[]).includes(key) && !(optional as readonly string[]).includes(key)) {
      throw badRequest(`Cannot parse the request: unknown member ${JSON.stringify(key.slice(0, 64))} (allowed: ${[...fields, ...optional].join(', ')})`, {
        member: key.slice(0, 64),
      });
    }
    if (typeof obj[key] !== 'string') throw badRequest(`Cannot parse the request: "${key}" must be a string`);
  }
  for (const field of fields) {
    if (!Object.hasOwn(obj, field)) throw badRequest(`Cannot parse the request: "${field}" is missing`);
  }
  // All values are strings and the object is flat, so its string tokens alternate key, value: count keys.
  const tokens = text.match(STRING_TOKEN) ?? [];
  if (tokens.length !== 2 * keys.length) throw badRequest('Cannot parse the request: a member appears more than once');
  return obj as Record<K, string> & Partial<Record<O, string>>;
}

function hexBytes(value: string, name: string, maxBytes: number, exactBytes?: number): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(value)) throw badRequest(`Cannot parse the request: "${name}" must be hex digits (an even number)`);
  const bytes = Uint8Array.from(Buffer.from(value, 'hex'));
  if (exactBytes !== undefined && bytes.length !== exactBytes) {
    throw badRequest(`Cannot parse the request: "${name}" must be ${exactBytes} bytes (${2 * exactBytes} hex digits), got ${bytes.length}`);
  }
  if (bytes.length > maxBytes) {
    throw badRequest(`Cannot parse the request: "${name}" must be at most ${maxBytes} bytes (${2 * maxBytes} hex digits), got ${bytes.length}`);
  }
  return bytes;
}

/** Parses a control-socket registration. The id's form is checked where its paths are made. */
export function parseRegisterRequest(body: Uint8Array): RegisterRequest {
  const m = parseStrictObject(body, ['id', 'tee'] as const, ['measurement', 'relay'] as const);
  if (!(ENCLAVE_TEES as readonly string[]).includes(m.tee)) {
    throw badRequest(`Cannot parse the request: "tee" must be one of ${ENCLAVE_TEES.join(', ')}`);
  }
  const relay = m.relay;
  if (relay !== undefined && (!RELAY_ADDRESS.test(relay) || Number(RELAY_ADDRESS.exec(relay)![1]) > 65535)) {
    throw badRequest('Cannot parse the request: "relay" must be HOST:PORT or [IPv6]:PORT');
  }
  return {
    id: m.id,
    ...(m.measurement !== undefined ? { measurement: hexBytes(m.measurement, 'measurement', MEASUREMENT_LENGTH, MEASUREMENT_LENGTH) } : {}),
    tee: m.tee as EnclaveTee,
    ...(relay !== undefined ? { relay } : {}),
  };
}

/** Parses the measurement that completes a pending registration (PUT /v1/containers/<id>/measurement). */
export function parseBindRequest(body: Uint8Array): Uint8Array {
  const m = parseStrictObject(body, ['measurement'] as const);
  return hexBytes(m.measurement, 'measurement', MEASUREMENT_LENGTH, MEASUREMENT_LENGTH);
}

/**
 * Parses an evidence request. Only `reportData` is accepted: a workload that sends a `measurement` is
 * refused, never obeyed (the measurement is the one the host registered; docs/evidence-sim.md).
 */
export function parseEvidenceRequest(body: Uint8Array): EvidenceRequest {
  const m = parseStrictObject(body, ['reportData'] as const);
  return { reportData: hexBytes(m.reportData, 'reportData', MAX_REPORT_DATA_LENGTH) };
}
