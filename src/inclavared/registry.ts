/**
 * The persisted registry: which containers have attestation sockets, with their measurement and TEE, in
 * ROOT/containers.json, so that a restarted daemon re-opens every socket. Written atomically (temporary
 * file, fsync, rename); read strictly (a registry that does not parse stops the daemon rather than
 * silently dropping containers' attestation).
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../sys/fs.ts';
import { INCLAVARED_ERROR_CODES, inclavaredError } from '../attestation-socket/codes.ts';
import type { ContainerRecord } from './evidence.ts';
import { validateContainerId } from '../attestation-socket/paths.ts';
import { ENCLAVE_TEES, MEASUREMENT_LENGTH, RELAY_ADDRESS, type EnclaveTee } from '../attestation-socket/requests.ts';

/** The registry file's format version. */
export const REGISTRY_VERSION = 1;

interface StoredContainer {
  id: string;
  tee: EnclaveTee;
  /** Absent: a pending registration. */
  measurement?: string;
  relay?: string;
}

const STORED_KEYS = new Set(['id', 'tee', 'measurement', 'relay']);

function stateError(message: string, cause?: unknown): Error {
  return inclavaredError(INCLAVARED_ERROR_CODES.STATE, message, { cause });
}

function isStored(value: unknown): value is StoredContainer {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    Object.keys(v).every((k) => STORED_KEYS.has(k)) &&
    (!Object.hasOwn(v, 'relay') || (typeof v.relay === 'string' && RELAY_ADDRESS.test(v.relay))) &&
    typeof v.id === 'string' &&
    typeof v.tee === 'string' &&
    (ENCLAVE_TEES as readonly string[]).includes(v.tee) &&
    (!Object.hasOwn(v, 'measurement') || (typeof v.measurement === 'string' && new RegExp(`^[0-9a-f]{${2 * MEASUREMENT_LENGTH}}$`).test(v.measurement)))
  );
}

/** Reads the registry; no file means no containers. Throws INCLAVARED_ERR_STATE when it is damaged. */
export function loadRegistry(stateFile: string): ContainerRecord[] {
  let text: string;
  try {
    text = readFileSync(stateFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw stateError(`Cannot read the registry ${stateFile}`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw stateError(`Cannot read the registry ${stateFile}: it is not JSON`, err);
  }
  const doc = parsed as { version?: unknown; containers?: unknown };
  if (doc?.version !== REGISTRY_VERSION || !Array.isArray(doc.containers)) {
    throw stateError(`Cannot read the registry ${stateFile}: it is not a version ${REGISTRY_VERSION} registry`);
  }
  const records: ContainerRecord[] = [];
  const seen = new Set<string>();
  for (const entry of doc.containers as unknown[]) {
    if (!isStored(entry)) throw stateError(`Cannot read the registry ${stateFile}: an entry is malformed`);
    try {
      validateContainerId(entry.id);
    } catch (err) {
      throw stateError(`Cannot read the registry ${stateFile}: an entry has an invalid id`, err);
    }
    if (seen.has(entry.id)) throw stateError(`Cannot read the registry ${stateFile}: container ${entry.id} appears twice`);
    seen.add(entry.id);
    records.push({
      id: entry.id,
      tee: entry.tee,
      ...(entry.measurement !== undefined ? { measurement: Uint8Array.from(Buffer.from(entry.measurement, 'hex')) } : {}),
      ...(entry.relay !== undefined ? { relay: entry.relay } : {}),
    });
  }
  return records;
}

/** Replaces the registry with `records`, atomically (not fsync'd: ROOT is runtime state, see writeFileAtomic's `durable`). */
export function saveRegistry(stateFile: string, records: Iterable<ContainerRecord>): void {
  const containers: StoredContainer[] = [...records].map((r) => ({
    id: r.id,
    tee: r.tee,
    ...(r.measurement !== undefined ? { measurement: Buffer.from(r.measurement).toString('hex') } : {}),
    ...(r.relay !== undefined ? { relay: r.relay } : {}),
  }));
  const text = `${JSON.stringify({ version: REGISTRY_VERSION, containers }, null, 2)}\n`;
  try {
    writeFileAtomic(stateFile, text, { mode: 0o600, durable: false });
  } catch (err) {
    throw stateError(`Cannot write the registry ${stateFile}`, err);
  }
}
