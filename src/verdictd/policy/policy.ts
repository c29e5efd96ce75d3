/**
 * verdictd policies: data, not code (docs/verdictd.md, "Policies"). A policy is a JSON document
 *
 *   { "name": "prod", "description": "...", "rules": [ { "name", "expression", "message" }, ... ] }
 *
 * whose rules are CEL expressions (https://cel.dev, evaluated by @bufbuild/cel) over two variables:
 * `claims`, the normalized claims record (src/attestation/claims.ts), and `reference`, the reference-value
 * sets by name (`reference.<set>.<field>`, policy/reference.ts). Every rule must evaluate to `true`; anything
 * else (false, an error such as a missing claim or a type mismatch, a non-boolean) denies, naming the rule.
 *
 * Parsing checks the document and that every expression parses; evaluation (evaluatePolicy) is a pure
 * function of (claims, compiled policy, reference sets) that never throws.
 */
import { celEnv, isCelError, isCelList, isCelMap, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import type { Claims } from '../../attestation/claims.ts';
import { verdictdError } from '../codes.ts';
import { isValidName, NAME_PATTERN, type ReferenceSet } from './reference.ts';

/** One rule of a policy document. */
export interface PolicyRule {
  /** Unique within the policy; named in denials and in the audit log. */
  name: string;
  /** A CEL expression over `claims` and `reference` that must be `true`. */
  expression: string;
  /** What a denial by this rule tells the client (default: the expression). */
  message?: string;
}

/** A policy document as stored and shipped. */
export interface PolicyDocument {
  name: string;
  description?: string;
  rules: PolicyRule[];
}

/** A rule ready to evaluate. */
export interface CompiledRule {
  name: string;
  expression: string;
  message: string;
  /** The claim paths the expression reads (`measurements.mrenclave`, `debug`, ...), for denials. */
  claimPaths: string[];
  evaluate: (bindings: Record<string, CelInput>) => CelResult;
}

/** A policy whose expressions are parsed and planned once. */
export interface CompiledPolicy {
  name: string;
  description: string | undefined;
  rules: CompiledRule[];
}

/** Why a rule did not hold. */
export type RuleFailureReason = 'false' | 'error' | 'not-boolean';

/** One rule that did not hold, with the values of the claims it reads. */
export interface FailedRule {
  rule: string;
  expression: string;
  message: string;
  reason: RuleFailureReason;
  /** For `error` and `not-boolean`: what CEL said (e.g. `no such claim or reference value: mrenclave`). */
  error?: string;
  /** Each claim path the expression reads → its value (`null` for a null claim; absent claims are listed as `"<absent>"`). */
  claims: Record<string, unknown>;
}

/** The outcome of a policy: allow only when no rule failed. */
export interface Verdict {
  allow: boolean;
  policy: string;
  failed: FailedRule[];
}

const MAX_RULES = 256;
const MAX_EXPRESSION = 4096;
const MAX_TEXT = 256 * 1024;
/** The shown value of a claim the evidence does not carry. */
export const ABSENT = '<absent>';

const ENV = celEnv({ funcs: strings });

function invalid(policy: string, message: string, cause?: unknown): never {
  throw verdictdError('VERDICTD_ERR_POLICY_INVALID', `Cannot accept policy ${policy}: ${message}`, cause === undefined ? {} : { cause });
}

/**
 * Parses and validates a policy document (JSON text or an already parsed value): known members only, a valid
 * name, 1 to 256 rules with unique names, every expression a CEL expression that parses. Throws
 * VERDICTD_ERR_POLICY_INVALID naming the rule. With `name`, a document without a name takes it and one with
 * another name is refused.
 */
export function parsePolicy(input: string | unknown, name?: string): PolicyDocument {
  let value = input;
  const label = name === undefined ? 'document' : `"${name}"`;
  if (typeof input === 'string') {
    if (input.length > MAX_TEXT) invalid(label, `it is larger than ${MAX_TEXT} characters`);
    try {
      value = JSON.parse(input);
    } catch (err) {
      invalid(label, `it is not JSON (${(err as Error).message})`, err);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(label, 'expected a JSON object { "name", "description", "rules" }');
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (!['name', 'description', 'rules'].includes(key)) invalid(label, `unknown member "${key}"`);
  const policyName = obj.name ?? name;
  if (!isValidName(policyName)) invalid(label, `"name" must match ${NAME_PATTERN} (got ${JSON.stringify(policyName)})`);
  if (name !== undefined && policyName !== name) invalid(label, `the document is named "${policyName}"`);
  const where = `"${policyName}"`;
  if (obj.description !== undefined && typeof obj.description !== 'string') invalid(where, '"description" must be a string');
  if (!Array.isArray(obj.rules) || obj.rules.length === 0) invalid(where, '"rules" must be a non-empty list (a policy that allows everything says so: see allow-all)');
  if (obj.rules.length > MAX_RULES) invalid(where, `more than ${MAX_RULES} rules`);
  const seen = new Set<string>();
  const rules = (obj.rules as unknown[]).map((r, i): PolicyRule => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) invalid(where, `rule ${i} must be an object { "name", "expression", "message" }`);
    const rule = r as Record<string, unknown>;
    for (const key of Object.keys(rule)) if (!['name', 'expression', 'message'].includes(key)) invalid(where, `rule ${i} has an unknown member "${key}"`);
    if (!isValidName(rule.name)) invalid(where, `rule ${i}: "name" must match ${NAME_PATTERN}`);
    if (seen.has(rule.name)) invalid(where, `two rules are named "${rule.name}"`);
    seen.add(rule.name);
    if (typeof rule.expression !== 'string' || rule.expression.trim() === '') invalid(where, `rule "${rule.name}": "expression" must be a CEL expression`);
    if (rule.expression.length > MAX_EXPRESSION) invalid(where, `rule "${rule.name}": the expression is longer than ${MAX_EXPRESSION} characters`);
    if (rule.message !== undefined && typeof rule.message !== 'string') invalid(where, `rule "${rule.name}": "message" must be a string`);
    try {
      parse(rule.expression);
    } catch (err) {
      invalid(where, `rule "${rule.name}": the expression does not parse: ${(err as Error).message}`, err);
    }
    return { name: rule.name, expression: rule.expression, ...(rule.message === undefined ? {} : { message: rule.message }) };
  });
  return { name: policyName, ...(obj.description === undefined ? {} : { description: obj.description as string }), rules };
}

/** Parses (when given text) and plans every rule of a policy once. Throws as parsePolicy(). */
export function compilePolicy(input: string | PolicyDocument, name?: string): CompiledPolicy {
  const doc = parsePolicy(input, name);
  return {
    name: doc.name,
    description: doc.description,
    rules: doc.rules.map((rule) => {
      const ast = parse(rule.expression);
      return {
        name: rule.name,
        expression: rule.expression,
        message: rule.message ?? `${rule.expression} must hold`,
        claimPaths: claimPathsOf(ast.expr),
        evaluate: plan(ENV, ast) as CompiledRule['evaluate'],
      };
    }),
  };
}

/**
 * The verdict of `policy` on `claims` with the reference-value sets `references` (by name). Pure and total:
 * every rule is evaluated (all failures are reported), and any failure to evaluate one denies.
 */
export function evaluatePolicy(claims: Claims, policy: CompiledPolicy, references: Readonly<Record<string, ReferenceSet>>): Verdict {
  let bindings: Record<string, CelInput>;
  try {
    bindings = { claims: toCel(claims), reference: toCel(Object.fromEntries(Object.entries(references).map(([k, set]) => [k, set.values]))) };
  } catch (err) {
    // Claims that are not JSON-shaped (cannot come from a verifier): deny every rule rather than throw.
    const error = `the claims cannot be evaluated: ${(err as Error).message}`;
    return { allow: false, policy: policy.name, failed: policy.rules.map((r) => ({ rule: r.name, expression: r.expression, message: r.message, reason: 'error', error, claims: {} })) };
  }
  const failed: FailedRule[] = [];
  for (const rule of policy.rules) {
    let result: CelResult | Error;
    try {
      result = rule.evaluate(bindings);
    } catch (err) {
      result = err instanceof Error ? err : new Error(String(err));
    }
    if (result === true) continue;
    const base = { rule: rule.name, expression: rule.expression, message: rule.message, claims: claimValues(claims, rule.claimPaths) };
    if (result === false) failed.push({ ...base, reason: 'false' });
    else if (isCelError(result) || result instanceof Error) failed.push({ ...base, reason: 'error', error: celErrorText(result) });
    else failed.push({ ...base, reason: 'not-boolean', error: `the expression evaluated to ${describeCel(result)}, not a bool` });
  }
  return { allow: failed.length === 0, policy: policy.name, failed };
}

/** One line per failed rule, for denial messages: `rule "not-debug" (!claims.debug): debug enclaves ... [debug=true]`. */
export function describeFailures(failed: readonly FailedRule[]): string {
  return failed
    .map((f) => {
      const values = Object.entries(f.claims).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
      return `rule "${f.rule}" (${f.expression}) failed: ${f.message}${f.error === undefined ? '' : ` (${f.error})`}${values === '' ? '' : ` [${values}]`}`;
    })
    .join('; ');
}

function celErrorText(err: Error): string {
  const m = /^field not found: (.*)$/.exec(err.message);
  return m === null ? err.message : `no such claim or reference value: ${m[1]}`;
}

function describeCel(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return `the int ${v}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return `the double ${v}`;
  if (isCelList(v)) return 'a list';
  if (isCelMap(v)) return 'a map';
  return typeof v;
}

/**
 * A JSON-shaped value as CEL input: integers become CEL `int` (bigint) so `claims.svn >= 2` and
 * `claims.productId == 1` hold as written; objects become maps (own members only, so nothing of a
 * prototype is reachable); undefined members are left out (absent: `has()` is false, reading fails).
 */
export function toCel(value: unknown, depth = 0): CelInput {
  if (depth > 32) throw new TypeError('value nested too deeply');
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (typeof value === 'bigint') return value;
  if (Array.isArray(value)) return value.map((v) => toCel(v, depth + 1));
  if (typeof value === 'object') {
    const map = new Map<string, CelInput>();
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) map.set(k, toCel(v, depth + 1));
    return map as CelInput;
  }
  throw new TypeError(`no CEL value for a ${typeof value}`);
}

type AstNode = { exprKind?: { case?: string; value?: unknown } } & Record<string, unknown>;

/** The dotted path of `a.b.c` (or `a['b'].c`) rooted at an identifier, or null. */
function chainOf(node: AstNode): string[] | null {
  const kind = node.exprKind;
  if (kind?.case === 'identExpr') return [(kind.value as { name: string }).name];
  if (kind?.case === 'selectExpr') {
    const sel = kind.value as { operand?: AstNode; field: string };
    const head = sel.operand === undefined ? null : chainOf(sel.operand);
    return head === null ? null : [...head, sel.field];
  }
  if (kind?.case === 'callExpr') {
    const call = kind.value as { function: string; args: AstNode[] };
    const [operand, index] = call.args;
    const key = index?.exprKind?.case === 'constExpr' ? (index.exprKind.value as { constantKind?: { case?: string; value?: unknown } }).constantKind : undefined;
    if (call.function === '_[_]' && operand !== undefined && key?.case === 'stringValue') {
      const head = chainOf(operand);
      return head === null ? null : [...head, key.value as string];
    }
  }
  return null;
}

/** The claim paths (without the leading `claims.`) an expression reads, in order of appearance. */
function claimPathsOf(root: unknown): string[] {
  const paths: string[] = [];
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    const chain = (node as AstNode).exprKind !== undefined ? chainOf(node as AstNode) : null;
    if (chain !== null && chain[0] === 'claims' && chain.length > 1) {
      const path = chain.slice(1).join('.');
      if (!paths.includes(path)) paths.push(path);
      return;
    }
    for (const [k, v] of Object.entries(node)) if (k !== '$typeName') visit(v);
  };
  visit(root);
  return paths;
}

/** The claims' value at each path (as JSON values), `<absent>` where the claims have none. */
function claimValues(claims: Claims, paths: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const path of paths) {
    let cur: unknown = claims;
    for (const part of path.split('.')) {
      cur = cur !== null && typeof cur === 'object' && Object.hasOwn(cur, part) ? (cur as Record<string, unknown>)[part] : undefined;
    }
    out[path] = cur === undefined ? ABSENT : cur;
  }
  return out;
}
