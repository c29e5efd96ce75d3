/**
 * `tee-tools measure SOURCE`: the measurement rune will compute for a sim or wasm enclave container, from the
 * artifact before it runs (reference values; docs/attestation.md "tee-tools measure"). The same code as
 * `rune create` (readEnclaveConfig, findEntrypoint, measureWorkload) runs on:
 *
 *   a bundle directory      its config.json and rootfs, as rune would get them from the engine;
 *   oci:LAYOUT[:TAG]        an OCI image layout: the rootfs unpacked by `umoci raw unpack` into a temp dir
 *                           (as root: owners, modes, devices and whiteouts applied as in the engine's rootfs),
 *                           the process from the image config;
 *   an image in podman      `podman image mount` (the read-only overlay of the image's layers: exactly the
 *                           lower layers of a container's rootfs, whiteouts resolved by overlayfs and owners as
 *                           stored), the process from `podman image inspect`.
 *
 * For images the process is what `podman run IMAGE [COMMAND...]` gives: Entrypoint + Cmd (COMMAND replaces
 * Cmd), the image's Env, WorkingDir ("/" when empty); --env, --cwd and --mount add what the engine adds.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { OciConfig } from '../oci/config.ts';
import { readEnclaveConfig } from '../rune/enclave/config.ts';
import { measureWorkload, type MeasurementInput } from '../rune/enclave/measurement.ts';
import { findEntrypoint, type MountLike } from '../rune/enclave/rootfs-path.ts';
import { linuxSys } from '../sys/linux.ts';
import { TEE_TOOLS_ERROR_CODES, teeToolsError } from './codes.ts';
import { errorLine, EXIT, exitCodeOf, usageError, type CommandResult } from './io.ts';

/** The flags of `tee-tools measure`. */
export interface MeasureCommandOptions {
  source: string;
  /** For images: replaces the image's Cmd (as `podman run IMAGE COMMAND...`); for bundles: process.args. */
  command?: string[];
  /** KEY=VALUE added to the env (replacing a variable of the same name). */
  env?: string[];
  cwd?: string;
  /** Extra mount destinations (volumes): excluded from the rootfs digest, and searched for the entrypoint. */
  mounts?: string[];
  /** KEY=VALUE annotations (enclave.type, enclave.runtime.path, ...). */
  annotations?: string[];
  json?: boolean;
}

/** What `tee-tools measure --json` prints. */
export interface MeasureReport {
  measurement: string;
  /** The canonical description's inputs (docs/enclave-containers.md). */
  description: MeasurementInput;
  rootfsEntries: number;
  rootfsBytes: number;
  source: string;
}

interface Resolved {
  rootfs: string;
  config: OciConfig;
  /** An image's Entrypoint (a command given on the command line replaces only the Cmd after it). */
  entrypoint?: string[];
  cleanup: () => void;
}

function runTool(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error !== undefined || r.status !== 0) {
    const why = r.error?.message ?? (r.stderr.trim() || `exit status ${r.status}`);
    throw teeToolsError(TEE_TOOLS_ERROR_CODES.IO, `Cannot ${what}: ${cmd} ${args.join(' ')} failed: ${why}`, r.error ? { cause: r.error } : {});
  }
  return r.stdout;
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw teeToolsError(TEE_TOOLS_ERROR_CODES.IO, `Cannot read ${what} ${path}`, { cause: err });
  }
}

/** The image config's process part (OCI image spec "config"; podman inspect's Config has the same names). */
interface ImageProcess {
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
}

function imageEntrypoint(p: ImageProcess): string[] {
  return [...(p.Entrypoint ?? [])];
}

function imageConfig(p: ImageProcess): OciConfig {
  return {
    process: { args: [...(p.Entrypoint ?? []), ...(p.Cmd ?? [])], env: [...(p.Env ?? [])], cwd: p.WorkingDir || '/' },
    mounts: [],
    annotations: {},
  };
}

/** The config blob of `tag` (or the only image) in an OCI image layout. */
function layoutConfig(layout: string, tag: string | undefined): ImageProcess {
  const blob = (digest: string): unknown => readJson(join(layout, 'blobs', ...digest.split(':')), 'the blob');
  const index = readJson(join(layout, 'index.json'), 'the OCI layout index') as { manifests?: { digest: string; annotations?: Record<string, string> }[] };
  const manifests = index.manifests ?? [];
  const found = tag === undefined && manifests.length === 1 ? manifests[0] : manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === (tag ?? 'latest'));
  if (found === undefined) throw usageError(`Cannot measure oci:${layout}: it has no image tagged ${JSON.stringify(tag ?? 'latest')}`);
  const manifest = blob(found.digest) as { config?: { digest: string } };
  if (manifest.config === undefined) throw usageError(`Cannot measure oci:${layout}: ${found.digest} is not an image manifest (an index of several platforms is not supported)`);
  return ((blob(manifest.config.digest) as { config?: ImageProcess }).config ?? {});
}

function resolveSource(source: string): Resolved {
  if (source.startsWith('oci:')) {
    const rest = source.slice(4);
    const colon = rest.lastIndexOf(':');
    const [layout, tag] = colon > rest.lastIndexOf('/') ? [rest.slice(0, colon), rest.slice(colon + 1)] : [rest, undefined];
    const layoutProcess = layoutConfig(layout, tag);
    const config = imageConfig(layoutProcess);
    const dir = mkdtempSync(join(tmpdir(), 'tee-tools-measure-'));
    const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
    try {
      const rootfs = join(dir, 'rootfs');
      runTool('umoci', ['raw', 'unpack', '--image', `${layout}:${tag ?? 'latest'}`, rootfs], `unpack ${source}`);
      return { rootfs, config, entrypoint: imageEntrypoint(layoutProcess), cleanup };
    } catch (err) {
      cleanup();
      throw err;
    }
  }
  let isDir = false;
  try {
    isDir = statSync(source).isDirectory();
  } catch {
    // not a path: an image name
  }
  if (isDir) {
    const config = readJson(join(source, 'config.json'), 'the bundle config') as OciConfig;
    const root = config.root?.path ?? 'rootfs';
    return { rootfs: isAbsolute(root) ? root : join(source, root), config, cleanup: () => undefined };
  }
  const inspected = JSON.parse(runTool('podman', ['image', 'inspect', source], `find image ${source} in podman's store`)) as { Id: string; Config?: ImageProcess }[];
  const image = inspected[0];
  if (image === undefined) throw usageError(`Cannot measure ${source}: podman knows no such image`);
  const rootfs = runTool('podman', ['image', 'mount', image.Id], `mount image ${source}`).trim();
  return { rootfs, config: imageConfig(image.Config ?? {}), entrypoint: imageEntrypoint(image.Config ?? {}), cleanup: () => void spawnSync('podman', ['image', 'unmount', image.Id]) };
}

function keyValue(entry: string, flag: string): [string, string] {
  const eq = entry.indexOf('=');
  if (eq <= 0) throw usageError(`Invalid ${flag} ${JSON.stringify(entry)}: expected KEY=VALUE`);
  return [entry.slice(0, eq), entry.slice(eq + 1)];
}

/** Applies the overrides to a config (pure). */
export function applyOverrides(config: OciConfig, o: Pick<MeasureCommandOptions, 'command' | 'env' | 'cwd' | 'mounts' | 'annotations'>, imageEntrypoint?: readonly string[]): OciConfig {
  const process = { ...(config.process ?? {}) };
  const env = [...(process.env ?? [])];
  for (const entry of o.env ?? []) {
    const [key] = keyValue(entry, '--env');
    const at = env.findIndex((e) => e.startsWith(`${key}=`));
    if (at >= 0) env[at] = entry;
    else env.push(entry);
  }
  process.env = env;
  if (o.command !== undefined && o.command.length > 0) {
    // podman run IMAGE COMMAND: COMMAND replaces Cmd and follows the Entrypoint; a bundle's args are replaced.
    process.args = [...(imageEntrypoint ?? []), ...o.command];
  }
  if (o.cwd !== undefined) process.cwd = o.cwd;
  const mounts = [...((config.mounts as MountLike[] | undefined) ?? []), ...(o.mounts ?? []).map((destination) => ({ destination, type: 'bind' }))];
  const annotations = { ...(config.annotations ?? {}) };
  for (const entry of o.annotations ?? []) {
    const [key, value] = keyValue(entry, '--annotation');
    annotations[key] = value;
  }
  return { ...config, process, mounts, annotations };
}

/** Computes the measurement of a source (see the module comment). */
export async function measureSource(o: MeasureCommandOptions): Promise<MeasureReport> {
  const resolved = resolveSource(o.source);
  try {
    const config = applyOverrides(resolved.config, o, resolved.entrypoint);
    const enclave = readEnclaveConfig(config);
    if (enclave === undefined) {
      throw usageError(`Cannot measure ${o.source}: it configures no enclave (set ENCLAVE_TYPE and ENCLAVE_RUNTIME_PATH in its env or annotations, or pass --env ENCLAVE_TYPE=sim --env ENCLAVE_RUNTIME_PATH=sim)`);
    }
    const args = config.process?.args ?? [];
    if (args.length === 0 || typeof args[0] !== 'string' || args[0] === '') throw usageError(`Cannot measure ${o.source}: it has no process args (pass the command after --)`);
    const cwd = typeof config.process?.cwd === 'string' ? config.process.cwd : '/';
    const mounts = (config.mounts as MountLike[] | undefined) ?? [];
    const entry = findEntrypoint(resolved.rootfs, args[0], enclave.workloadEnv, cwd, mounts);
    if (entry === undefined) throw usageError(`Cannot measure ${o.source}: entrypoint ${JSON.stringify(args[0])} is not a file in its rootfs`);
    const sys = linuxSys();
    const m = await measureWorkload(
      { type: enclave.type, runtime: enclave.runtime, runtimeArgs: enclave.runtimeArgs, rootfs: resolved.rootfs, mounts, entrypoint: entry, args, env: enclave.workloadEnv, cwd, secrets: enclave.secrets },
      sys,
    );
    return { measurement: m.measurement, description: m.input, rootfsEntries: m.tree.entries, rootfsBytes: m.tree.bytes, source: o.source };
  } finally {
    resolved.cleanup();
  }
}

/** Runs `tee-tools measure`: exit 0 with the measurement, 2 when the source or a flag cannot be used. */
export async function measure(o: MeasureCommandOptions): Promise<CommandResult> {
  try {
    const r = await measureSource(o);
    return { exitCode: EXIT.ok, stdout: o.json === true ? `${JSON.stringify(r)}\n` : `${r.measurement}\n`, stderr: '' };
  } catch (err) {
    if (o.json === true) {
      const e = err as { code?: string; message?: string };
      return { exitCode: exitCodeOf(err), stdout: `${JSON.stringify({ measurement: null, error: { code: e.code ?? 'TEE_TOOLS_ERR_IO', message: e.message ?? String(err) } })}\n`, stderr: errorLine(err) };
    }
    return { exitCode: exitCodeOf(err), stdout: '', stderr: errorLine(err) };
  }
}
