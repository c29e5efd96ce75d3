/**
 * Canonical JSON (the RFC 8785 rules for the values claims and audit records hold: object members sorted by
 * UTF-16 code units, no whitespace, JSON.stringify's string and number forms), and the claims digest that
 * audit records and release verdicts carry: SHA-256 of the canonical JSON of the claims record.
 */
import { createHash } from 'node:crypto';
import type { Claims } from '../attestation/claims.ts';

/** The canonical JSON text of a JSON value; `undefined` members are left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonical JSON has no form for a non-finite number');
    if (typeof value === 'bigint') return value.toString();
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const members = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${members.join(',')}}`;
}

/** SHA-256 (lowercase hex) of the canonical JSON of a claims record: what audit records and verdicts name. */
export function claimsDigest(claims: Claims): string {
  return createHash('sha256').update(canonicalJson(claims)).digest('hex');
}
