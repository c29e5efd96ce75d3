/** `verdict resource set|get|list|delete`: resources by path `repo/type/tag`. Contents go to stdout only on `get`. */
import { writeFile } from 'node:fs/promises';
import { json, ok, readInput, withClient, type CommandResult, type ConnectionOptions } from './connection.ts';

/** `resource set PATH FILE|-`: creates or replaces the resource with the file's bytes (or stdin's). */
export async function resourceSet(path: string, file: string, options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  const data = await readInput(file, 'the resource file');
  return withClient(options, async (c) => {
    const { info } = await c.call('ResourceService/SetResource', { path, data });
    return ok(options.json ? json(info ?? {}) : '');
  });
}

/** `resource get PATH`: the content, raw on stdout, into --out (mode 0600), or base64 in --json. */
export function resourceGet(path: string, options: ConnectionOptions & { out?: string; json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const { data } = await c.call('ResourceService/GetResource', { path });
    if (options.out !== undefined) {
      await writeFile(options.out, data, { mode: 0o600 });
      return ok('');
    }
    return ok(options.json ? json({ path, size: data.length, base64: Buffer.from(data).toString('base64') }) : data);
  });
}

/** `resource list`: every path with its size and update time. */
export function resourceList(options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const { resources } = await c.call('ResourceService/ListResources', {});
    if (options.json) return ok(json(resources));
    return ok(resources.map((r) => `${r.path}\t${r.size}\t${r.updatedAt}\n`).join(''));
  });
}

/** `resource delete PATH`. */
export function resourceDelete(path: string, options: ConnectionOptions): Promise<CommandResult> {
  return withClient(options, async (c) => {
    await c.call('ResourceService/DeleteResource', { path });
    return ok('');
  });
}
