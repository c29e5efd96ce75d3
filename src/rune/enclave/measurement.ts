/**
 * The measurement of a software enclave (sim, wasm, or a PAL runtime without hardware measurement): SHA-384
 * over a canonical description of what runs. rune computes it on the host at create; `tee-tools measure`
 * computes the same value from a bundle or an image, so reference values can be produced before deployment.
 *
 * Canonical description (version 2), serialized as JSON (JSON.stringify: no spaces) with the keys in exactly
 * this order (docs/enclave-containers.md, "The measurement"):
 *   {"version":2,"type":…,"runtime":…,"runtimeDigest":…,"runtimeArgs":…,"entrypoint":…,
 *    "entrypointDigest":…,"args":[…],"env":[…],"cwd":…,"rootfs":…,"excluded":[…]}
 * `runtime` is "sim", "wasm" or the PAL library's file name; `runtimeDigest` the SHA-384 of the PAL library
 * ("" for built-in runtimes); `entrypointDigest` the SHA-384 of the entrypoint file's bytes (for wasm: the
 * module; it may come from a bind mount, which the rootfs digest excludes); `env` stably sorted by variable
 * name (the order among entries of the same name is kept: it decides which one getenv returns); `rootfs`
 * the file-tree digest of the rootfs (./tree-digest.ts) without the paths in `excluded`. Digests are
 * lowercase hex. Version 1 (entrypoint, args, env and cwd only) had no `rootfs`, so the two never collide.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, posix } from 'node:path';
import type { Sys } from '../../sys/sys.ts';
import { runeError } from '../codes.ts';
import { resolveInRootfs, type MountLike } from './rootfs-path.ts';
import { exclusionList, type TreeDigest } from './tree-digest.ts';
import { rootfsDigest } from './native-walk.ts';
import type { CacheStats, DigestCache } from './digest-cache.ts';

/** What a software enclave's measurement covers. */
export interface MeasurementInput {
  type: string;
  runtime: string;
  runtimeDigest: string;
  runtimeArgs: string;
  entrypoint: string;
  entrypointDigest: string;
  args: string[];
  env: string[];
  cwd: string;
  /** The file-tree digest of the rootfs (lowercase hex). */
  rootfs: string;
  /** The paths the rootfs digest skipped (exclusionList). */
  excluded: string[];
  /** The secrets the container fetches and the verdictd key it trusts (absent when it declares none). */
  secrets?: MeasuredSecrets;
}

/**
 * What the measurement covers of a container's secrets: which resources it fetches and which verdictd key it
 * trusts to hand them over. Not the address: where verdictd is reached changes nothing that the pin does not
 * already decide, and a measurement should not change with the network.
 */
export interface MeasuredSecrets {
  resources: string[];
  verdictdKey: string;
}

/** SHA-384 of bytes, lowercase hex. */
export function sha384Hex(bytes: Uint8Array): string {
  return createHash('sha384').update(bytes).digest('hex');
}

/** The env in canonical order: stably sorted by name (the bytes before the first "="). */
export function canonicalEnv(env: readonly string[]): string[] {
  const name = (e: string): Buffer => Buffer.from(e.includes('=') ? e.slice(0, e.indexOf('=')) : e);
  return env
    .map((e, i) => ({ e, i, n: name(e) }))
    .sort((a, b) => Buffer.compare(a.n, b.n) || a.i - b.i)
    .map(({ e }) => e);
}

/** The canonical description, byte for byte. */
export function canonicalDescription(input: MeasurementInput): string {
  return JSON.stringify({
    version: 2,
    type: input.type,
    runtime: input.runtime,
    runtimeDigest: input.runtimeDigest,
    runtimeArgs: input.runtimeArgs,
    entrypoint: input.entrypoint,
    entrypointDigest: input.entrypointDigest,
    args: input.args,
    env: canonicalEnv(input.env),
    cwd: input.cwd,
    rootfs: input.rootfs,
    excluded: input.excluded,
    // Only when declared: a container without secrets measures as before this field existed.
    ...(input.secrets !== undefined ? { secrets: { resources: input.secrets.resources, verdictdKey: input.secrets.verdictdKey } } : {}),
  });
}

/** The measurement (48 bytes, lowercase hex). Pure. */
export function computeMeasurement(input: MeasurementInput): string {
  return sha384Hex(Buffer.from(canonicalDescription(input), 'utf8'));
}

/** Name and digest of a runtime: built-ins by name, PAL libraries by file name and content. */
export function runtimeIdentity(runtime: string, read: (path: string) => Uint8Array = readFileSync): { runtime: string; runtimeDigest: string } {
  if (runtime === 'sim' || runtime === 'wasm') return { runtime, runtimeDigest: '' };
  return { runtime: basename(runtime), runtimeDigest: sha384Hex(read(runtime)) };
}

/** What {@link measureWorkload} needs of the OS: the tree reader, reading a PAL library, resolving paths. */
export type MeasurementFs = Pick<Sys, 'tree' | 'readFile' | 'lstat' | 'readlink'>;

/** A workload as rune is about to run it (the entrypoint already found in the rootfs or a bind mount). */
export interface WorkloadToMeasure {
  type: string;
  /** 'sim', 'wasm' or the PAL library's host path. */
  runtime: string;
  runtimeArgs: string;
  /** Host path of the container's rootfs. */
  rootfs: string;
  /** The config's mounts: their destinations are excluded from the rootfs digest. */
  mounts: readonly MountLike[];
  entrypoint: { inContainer: string; host: string };
  args: string[];
  env: string[];
  cwd: string;
  secrets?: MeasuredSecrets | undefined;
}

/** A computed measurement with what went into it. */
export interface WorkloadMeasurement {
  measurement: string;
  input: MeasurementInput;
  tree: TreeDigest;
  /** How the digest cache served this measurement (when one was used). */
  cache?: CacheStats & { note?: string };
}

/**
 * Computes the measurement of a workload: the rootfs digest, the entrypoint's and runtime's digests. With a
 * digest cache (./digest-cache.ts), unchanged files' digests come from it; the result is the same.
 */
export async function measureWorkload(w: WorkloadToMeasure, fs: MeasurementFs, options: { cache?: DigestCache; absent?: readonly string[] } = {}): Promise<WorkloadMeasurement> {
  const destinations = w.mounts.map((m) => m.destination).filter((d): d is string => typeof d === 'string');
  // A destination through a symlink in the rootfs is mounted where the link leads (runc resolves it inside).
  const excluded = exclusionList(destinations, (d) => `/${posix.relative(w.rootfs, resolveInRootfs(w.rootfs, d, fs))}`);
  const session = options.cache !== undefined ? await options.cache.session(w.rootfs) : undefined;
  // An entrypoint on another file system (a volume) is looked up in that file system's volume.
  const entrySession = session !== undefined && !(await session.holds(w.entrypoint.host)) ? await options.cache!.session(dirname(w.entrypoint.host)) : session;
  const [tree, entrypointDigest] = await Promise.all([
    rootfsDigest(w.rootfs, { excluded, reader: fs.tree, ...(options.absent !== undefined ? { absent: options.absent } : {}), ...(session !== undefined ? { contents: session } : {}) }, session),
    (entrySession !== undefined ? entrySession.digestPath(Buffer.from(w.entrypoint.host)) : fs.tree.hashFile(Buffer.from(w.entrypoint.host), 'sha384')).catch((err: unknown) => {
      throw runeError('RUNE_ERR_MEASUREMENT', `Cannot measure the entrypoint ${w.entrypoint.inContainer} (${w.entrypoint.host}): ${(err as Error).message}`, { cause: err });
    }),
  ]);
  const input: MeasurementInput = {
    type: w.type,
    ...runtimeIdentity(w.runtime, (path) => fs.readFile(path)),
    runtimeArgs: w.runtimeArgs,
    entrypoint: w.entrypoint.inContainer,
    entrypointDigest: entrypointDigest.toString('hex'),
    args: w.args,
    env: w.env,
    cwd: w.cwd,
    rootfs: tree.digest,
    excluded,
    ...(w.secrets !== undefined ? { secrets: { resources: w.secrets.resources, verdictdKey: w.secrets.verdictdKey } } : {}),
  };
  const cacheNote = session?.save();
  if (entrySession !== session) entrySession?.save();
  return { measurement: computeMeasurement(input), input, tree, ...(session !== undefined ? { cache: { ...session.stats, ...(cacheNote !== undefined ? { note: cacheNote } : {}) } } : {}) };
}
