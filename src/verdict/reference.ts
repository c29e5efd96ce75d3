/**
 * `verdict reference set|get|list|delete`: named reference-value sets, `{"name", "values": {field: [values]}}`.
 * `reference set NAME --from-image SOURCE` computes the measurement with `tee-tools measure`'s code and adds it
 * to the set's `measurement` list.
 */
import { measureSource, type MeasureCommandOptions } from '../tee-tools/measure.ts';
import type { ReferenceValue } from '../verdictd/policy/reference.ts';
import { json, ok, readInput, withClient, type CommandResult, type ConnectionOptions } from './connection.ts';

/** The flags of `reference set NAME --from-image SOURCE`: those of `tee-tools measure`, and --replace. */
export interface ReferenceFromImageOptions extends ConnectionOptions, Omit<MeasureCommandOptions, 'json'> {
  /** The measurement list becomes this one value (the set's other fields are kept); default: added to it. */
  replace?: boolean;
  json?: boolean;
}

/**
 * `reference set NAME --from-image SOURCE`: measures SOURCE as `tee-tools measure` does and stores the set
 * NAME with that measurement in its `measurement` list (created if absent; merged unless --replace); prints
 * the measurement and the source.
 */
export async function referenceSetFromImage(name: string, options: ReferenceFromImageOptions): Promise<CommandResult> {
  const { measurement, source } = await measureSource(options);
  return withClient(options, async (c) => {
    // verdictd merges in one atomic step of its store: two operators (or replicas) adding at once lose nothing.
    const mode = options.replace === true ? 'replace-fields' : 'merge';
    await c.call('ReferenceService/SetReference', { name, content: JSON.stringify({ name, values: { measurement: [measurement] } }), mode });
    const { values } = JSON.parse((await c.call('ReferenceService/GetReference', { name })).content) as { values: Record<string, ReferenceValue[]> };
    return ok(options.json ? json({ name, measurement, source, values }) : `${name}: measurement ${measurement} (from ${source})\n`);
  });
}

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
