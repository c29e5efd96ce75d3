/**
 * `verdict policy set|get|list|delete|test`. `test` judges evidence (verified by verdictd with its trust
 * configuration) or a claims record with a stored, shipped or local policy and prints the verdict: exit 0
 * when the policy allows, 1 when it denies (each failed rule named with the claims it read).
 */
import { TEE_TYPES } from '../attestation/registry.ts';
import type { ResponseOf } from '../verdictd/management/messages.ts';
import { json, ok, readInput, usage, withClient, type CommandResult, type ConnectionOptions } from './connection.ts';

/** `policy set NAME FILE|-`: stores the policy document after verdictd validated it. */
export async function policySet(name: string, file: string, options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  const content = (await readInput(file, 'the policy file')).toString('utf8');
  return withClient(options, async (c) => {
    const r = await c.call('PolicyService/SetPolicy', { name, content });
    return ok(options.json ? json(r) : '');
  });
}

/** `policy get NAME`: the policy's text as it was set (or the shipped one's). */
export function policyGet(name: string, options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const r = await c.call('PolicyService/GetPolicy', { name });
    if (!options.json) return ok(r.content.endsWith('\n') ? r.content : `${r.content}\n`);
    let policy: unknown = r.content;
    try {
      policy = JSON.parse(r.content);
    } catch {
      // Stored text is validated JSON; keep it as text if that ever changes.
    }
    return ok(json({ name: r.name, builtin: r.builtin, ...(r.updatedAt ? { updatedAt: r.updatedAt } : {}), policy }));
  });
}

/** `policy list`: stored policies, and the shipped ones a stored one does not replace (marked). */
export function policyList(options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const r = await c.call('PolicyService/ListPolicies', {});
    if (options.json) return ok(json(r));
    const shipped = r.builtin.filter((b) => !r.stored.includes(b)).map((b) => `${b}\t(shipped)\n`);
    return ok([...r.stored.map((s) => `${s}\n`), ...shipped].join(''));
  });
}

/** `policy delete NAME`. */
export function policyDelete(name: string, options: ConnectionOptions): Promise<CommandResult> {
  return withClient(options, async (c) => {
    await c.call('PolicyService/DeletePolicy', { name });
    return ok('');
  });
}

/** Options of `policy test`. */
export interface PolicyTestOptions extends ConnectionOptions {
  policyFile?: string;
  evidence?: string;
  claims?: string;
  tee?: string;
  reportData?: string;
  json?: boolean;
}

function describeVerdict(r: ResponseOf<'PolicyService/TestPolicy'>): string {
  const lines = [`${r.allow ? 'allow' : 'deny'}: policy "${r.policy}" (claims digest ${r.claimsDigest})`];
  for (const f of r.failed) {
    const claims = Object.entries(JSON.parse(f.claimsJson || '{}') as Record<string, unknown>).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
    lines.push(`  rule "${f.rule}" failed (${f.reason}): ${f.message}${f.error ? ` [${f.error}]` : ''}${claims.length ? ` [${claims.join(', ')}]` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `policy test [NAME]`: the verdict of a policy on --evidence or --claims; exit 0 allow, 1 deny. */
export async function policyTest(name: string | undefined, options: PolicyTestOptions): Promise<CommandResult> {
  if ((options.evidence === undefined) === (options.claims === undefined)) usage('Cannot test a policy: give --evidence FILE or --claims FILE (one of them)');
  if (name !== undefined && options.policyFile !== undefined) usage('Cannot test a policy: give a policy NAME or --policy-file, not both');
  if (options.tee !== undefined && options.tee !== 'auto' && !(TEE_TYPES as readonly string[]).includes(options.tee)) usage(`Invalid --tee ${JSON.stringify(options.tee)}: expected auto, ${TEE_TYPES.join(', ')}`);
  if (options.claims === undefined && (options.tee !== undefined || options.reportData !== undefined) && options.evidence === undefined) usage('--tee and --report-data go with --evidence');
  const policyContent = options.policyFile === undefined ? '' : (await readInput(options.policyFile, 'the policy file')).toString('utf8');
  const evidence = options.evidence === undefined ? new Uint8Array() : await readInput(options.evidence, 'the evidence file');
  const claimsJson = options.claims === undefined ? '' : (await readInput(options.claims, 'the claims file')).toString('utf8');
  return withClient(options, async (c) => {
    const r = await c.call('PolicyService/TestPolicy', { policyName: name ?? '', policyContent, evidence, claimsJson, tee: options.tee ?? '', reportData: options.reportData ?? '' });
    const exitCode = r.allow ? 0 : 1;
    if (!options.json) return { stdout: describeVerdict(r), exitCode };
    const failed = r.failed.map((f) => ({ rule: f.rule, expression: f.expression, message: f.message, reason: f.reason, ...(f.error ? { error: f.error } : {}), claims: JSON.parse(f.claimsJson || '{}') as unknown }));
    return { stdout: json({ allow: r.allow, policy: r.policy, claimsDigest: r.claimsDigest, failed, claims: JSON.parse(r.claimsJson || 'null') as unknown }), exitCode };
  });
}
