/**
 * Expected claims, checked by one pure function: `appraiseClaims(claims, expected)` lists every expectation the
 * claims fail, each with its name. RATS-TLS's `verify.expected` goes through it, and a policy engine
 * (verdictd) can reuse it for its reference values: same names, same comparison rules, no I/O, no clock.
 *
 * Rules: every given field must be equal; absent fields expect nothing. `tee`, `debug`, `productId` and `svn`
 * compare with `===`. `measurements.*` and `platform.*` are hex (or names, for `platform.productName`) and
 * compare case-insensitively; a claim the evidence does not carry fails its expectation (fail closed).
 */
import type { Claims, Measurements, PlatformIds, TeeType } from './claims.ts';

/** Claims that must hold; every given field must equal the claim of the same name. */
export interface ClaimExpectations {
  tee?: TeeType;
  debug?: boolean;
  productId?: number;
  svn?: number;
  measurements?: Partial<Record<keyof Measurements, string>>;
  platform?: Partial<Record<keyof PlatformIds, string>>;
}

/** One expectation the claims failed. */
export interface FailedExpectation {
  /** The claim's name: `tee`, `debug`, `productId`, `svn`, `measurements.<name>` or `platform.<name>`. */
  name: string;
  /** The expected value, as given (hex lowercased). */
  expected: string | number | boolean;
  /** The claim's value; undefined when the evidence does not carry it. */
  actual: string | number | boolean | undefined;
  /** For messages: "`name` is `actual`, expected `expected`". */
  message: string;
}

const SCALARS = ['tee', 'debug', 'productId', 'svn'] as const;
const GROUPS = ['measurements', 'platform'] as const;

/**
 * Every expectation in `expected` that `claims` fail, in a fixed order (tee, debug, productId, svn, then
 * measurements and platform in the order given); empty when all hold. Pure.
 */
export function appraiseClaims(claims: Claims, expected: ClaimExpectations): FailedExpectation[] {
  const failed: FailedExpectation[] = [];
  for (const name of SCALARS) {
    const want = expected[name];
    if (want === undefined) continue;
    const have = claims[name];
    if (have !== want) failed.push({ name, expected: want, actual: have, message: `${name} is ${String(have)}, expected ${String(want)}` });
  }
  for (const group of GROUPS) {
    const have = claims[group] as Record<string, string | undefined>;
    for (const [member, value] of Object.entries(expected[group] ?? {})) {
      if (value === undefined) continue;
      const want = value.toLowerCase();
      const actual = Object.hasOwn(have, member) ? have[member] : undefined;
      if (actual?.toLowerCase() !== want) {
        const name = `${group}.${member}`;
        failed.push({ name, expected: want, actual, message: `${name} is ${actual ?? 'absent'}, expected ${want}` });
      }
    }
  }
  return failed;
}
