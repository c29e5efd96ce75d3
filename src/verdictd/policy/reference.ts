/**
 * Reference-value sets: named lists of acceptable claim values that policies read as
 * `reference.<set>.<field>` (e.g. `claims.measurements.measurement in reference.prod.measurement`).
 *
 * A set is `{ "name": "prod", "values": { "<field>": [values...] } }`; each field holds a list of strings,
 * integers or booleans. Hex strings (16 or more hex digits, as measurements and key ids are) are lowercased,
 * because claims carry lowercase hex. Pure: parsing and validation only.
 */
import { verdictdError } from '../codes.ts';

/** One reference value: a string (hex lowercased), an integer or a boolean. */
export type ReferenceValue = string | number | boolean;

/** A named set of reference values: field → acceptable values. */
export interface ReferenceSet {
  name: string;
  values: Record<string, ReferenceValue[]>;
}

/** Names of sets, policies and rules: a letter or digit, then letters, digits, `.`, `_`, `-`; at most 64. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Field names of a set, usable in CEL as `reference.<set>.<field>`. */
export const FIELD_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Upper bound on values per field and fields per set, to keep a set a reasonable record. */
const MAX_VALUES = 4096;
const MAX_FIELDS = 256;
const HEX = /^[0-9a-fA-F]{16,}$/;

/** True when `name` is a valid set, policy or rule name. */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

function invalid(message: string): never {
  throw verdictdError('VERDICTD_ERR_REFERENCE_INVALID', `Cannot accept the reference-value set: ${message}`);
}

/**
 * Validates a reference-value set (already parsed JSON) and returns its normalized copy; throws
 * VERDICTD_ERR_REFERENCE_INVALID naming what is wrong. With `name`, the set takes that name when it has
 * none and must match it when it has one.
 */
export function parseReferenceSet(input: unknown, name?: string): ReferenceSet {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) invalid('expected a JSON object { "name", "values" }');
  const obj = input as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (key !== 'name' && key !== 'values') invalid(`unknown member "${key}" (expected "name" and "values")`);
  const setName = obj.name ?? name;
  if (!isValidName(setName)) invalid(`"name" must match ${NAME_PATTERN} (got ${JSON.stringify(setName)})`);
  if (name !== undefined && setName !== name) invalid(`the set is named "${setName}", not "${name}"`);
  const values = obj.values;
  if (values === null || typeof values !== 'object' || Array.isArray(values)) invalid('"values" must be an object of field → list of values');
  const fields = Object.entries(values as Record<string, unknown>);
  if (fields.length > MAX_FIELDS) invalid(`more than ${MAX_FIELDS} fields`);
  const out: Record<string, ReferenceValue[]> = {};
  for (const [field, list] of fields) {
    if (!FIELD_PATTERN.test(field)) invalid(`field "${field}" must match ${FIELD_PATTERN}`);
    if (!Array.isArray(list)) invalid(`field "${field}" must be a list of values`);
    if (list.length > MAX_VALUES) invalid(`field "${field}" has more than ${MAX_VALUES} values`);
    out[field] = list.map((v: unknown, i) => {
      if (typeof v === 'string') return HEX.test(v) ? v.toLowerCase() : v;
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
      return invalid(`field "${field}"[${i}] must be a string, an integer or a boolean (got ${JSON.stringify(v)})`);
    });
  }
  return { name: setName, values: out };
}
