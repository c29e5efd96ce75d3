/** `verdict reference set|get|list|delete`: named reference-value sets, `{"name", "values": {field: [values]}}`. */
import { json, ok, readInput, withClient, type CommandResult, type ConnectionOptions } from './connection.ts';

/** `reference set NAME FILE|-`: the set's JSON (its `name` may be left out; NAME is used). */
export async function referenceSet(name: string, file: string, options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  const content = (await readInput(file, 'the reference-value file')).toString('utf8');
  return withClient(options, async (c) => {
    const r = await c.call('ReferenceService/SetReference', { name, content });
    return ok(options.json ? json(r) : '');
  });
}

/** `reference get NAME`: the set as JSON. */
export function referenceGet(name: string, options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const r = await c.call('ReferenceService/GetReference', { name });
    return ok(json(JSON.parse(r.content)));
  });
}

/** `reference list`: the sets' names. */
export function referenceList(options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const { names } = await c.call('ReferenceService/ListReferences', {});
    return ok(options.json ? json(names) : names.map((n) => `${n}\n`).join(''));
  });
}

/** `reference delete NAME`. */
export function referenceDelete(name: string, options: ConnectionOptions): Promise<CommandResult> {
  return withClient(options, async (c) => {
    await c.call('ReferenceService/DeleteReference', { name });
    return ok('');
  });
}
