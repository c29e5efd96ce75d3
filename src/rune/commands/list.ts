/**
 * `rune list [--format table|json] [-q]`: answers from rune's state directories, asking the backend for each
 * container's live state. Output is runc's: a tab-aligned table, a JSON array (`null` when empty, as runc
 * prints it), or ids only.
 */
import { runeError } from '../codes.ts';
import { captureBackend, findBackend } from '../backend.ts';
import type { RuneContext } from '../context.ts';
import { patchEnclaveState } from '../enclave/lifecycle.ts';
import { backendHasState, containerPaths, isEnclaveContainer } from '../state.ts';

/** One container as `list --format json` prints it (runc's containerState). */
export interface ListedContainer {
  ociVersion: string;
  id: string;
  pid: number;
  status: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

/** Lists rune's containers. */
export function listContainers(ctx: RuneContext): ListedContainer[] {
  let ids: string[];
  try {
    ids = ctx.sys.readDir(ctx.root).filter((d) => d.type === 'directory').map((d) => d.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw runeError('RUNE_ERR_STATE', `Cannot read rune's state directory ${ctx.root}`, { cause: err });
  }
  const result: ListedContainer[] = [];
  let backend: string | undefined;
  for (const id of ids) {
    const paths = containerPaths(ctx.root, id);
    if (!backendHasState(ctx.sys, paths, id)) continue; // being created, or left by a crash: not a container yet
    backend ??= findBackend(ctx.sys, ctx.backendFlag);
    const res = captureBackend(ctx.sys, backend, ['--root', paths.backendRoot, 'state', id]);
    if (res.status !== 0) continue; // deleted while we looked
    const parsed = JSON.parse(res.stdout) as Record<string, unknown>;
    const state = (isEnclaveContainer(ctx.sys, paths) ? patchEnclaveState(ctx.sys, paths, parsed) : parsed) as unknown as ListedContainer;
    result.push({
      ociVersion: state.ociVersion,
      id: state.id,
      pid: state.pid,
      status: state.status,
      bundle: state.bundle,
      rootfs: state.rootfs,
      created: state.created,
      owner: state.owner ?? '',
      ...(state.annotations ? { annotations: state.annotations } : {}),
    });
  }
  return result;
}

/** Renders the list in one of runc's formats. */
export function renderList(containers: ListedContainer[], format: string, quiet: boolean): string {
  if (quiet) return containers.map((c) => `${c.id}\n`).join('');
  if (format === 'json') return `${containers.length === 0 ? 'null' : JSON.stringify(containers)}\n`;
  const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']].concat(
    containers.map((c) => [c.id, String(c.pid), c.status, c.bundle, c.created, c.owner]),
  );
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  // runc's tabwriter: minwidth 12, padding 3.
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(Math.max(12, widths[col]! + 3)))).join('').trimEnd() + '\n').join('');
}

/** `rune list`. Returns the exit status. */
export function list(options: { format: string; quiet: boolean }, ctx: RuneContext): number {
  if (options.format !== 'table' && options.format !== 'json') {
    throw runeError('RUNE_ERR_USAGE', `Invalid format ${JSON.stringify(options.format)}: use table or json`);
  }
  ctx.sys.stdout(renderList(listContainers(ctx), options.format, options.quiet));
  return 0;
}
