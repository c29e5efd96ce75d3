/**
 * `verdict audit`: verdictd's audit log through the management API (AuditService/ReadAudit), filtered by time,
 * decision, kid or path; the same for either store.
 */
import type { AuditRecordMessage } from '../verdictd/management/messages.ts';
import { json, ok, usage, withClient, type CommandResult, type ConnectionOptions } from './connection.ts';

/** The flags of `verdict audit`. */
export interface AuditOptions extends ConnectionOptions {
  since?: string;
  until?: string;
  decision?: string;
  path?: string;
  kid?: string;
  limit?: string;
  json?: boolean;
}

function line(r: AuditRecordMessage): string {
  const target = r.kid || r.path || r.name;
  const extra = [r.policy && `policy=${r.policy}`, r.errorCode && `error=${r.errorCode}`].filter(Boolean).join(' ');
  return `${r.time}\t${r.decision}\t${r.action}\t${target || '-'}\t${r.frontEnd || '-'}\t${r.peerAddress || '-'}${extra ? `\t${extra}` : ''}\n`;
}

/** `audit [--since T] [--until T] [--decision D] [--path R | --kid K] [--limit N] [--json]`. */
export function auditRead(options: AuditOptions): Promise<CommandResult> {
  if (options.path !== undefined && options.kid !== undefined) usage('Cannot filter by --path and --kid together: a record names one or the other');
  let limit = 0;
  if (options.limit !== undefined) {
    limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit <= 0) usage(`Invalid --limit ${JSON.stringify(options.limit)}: expected a positive integer`);
  }
  for (const [flag, value] of [['--since', options.since], ['--until', options.until]] as const) {
    if (value !== undefined && Number.isNaN(Date.parse(value))) usage(`Invalid ${flag} ${JSON.stringify(value)}: expected a time, e.g. 2026-03-01T12:00:00Z or 2026-03-01`);
  }
  return withClient(options, async (c) => {
    const { records } = await c.call('AuditService/ReadAudit', {
      since: options.since === undefined ? '' : new Date(options.since).toISOString(),
      until: options.until === undefined ? '' : new Date(options.until).toISOString(),
      decision: options.decision ?? '',
      kid: options.kid ?? '',
      path: options.path ?? '',
      limit,
    });
    if (options.json) return ok(json(records.map((r) => JSON.parse(r.json) as unknown)));
    return ok(records.map(line).join(''));
  });
}
