/**
 * Reading an OCI bundle's config.json (runtime-spec config.md) with errors that name the file and the
 * problem. Pure apart from the one file read.
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
// RUNE_ERR_BUNDLE and RUNE_ERR_CONFIG are rune's codes (the user runs rune): one table, rune's.
import { runeError } from '../rune/codes.ts';

/** The parts of an OCI runtime config rune reads; everything else passes through untouched. */
export interface OciConfig {
  ociVersion?: string;
  process?: { env?: string[]; args?: string[]; terminal?: boolean; [key: string]: unknown };
  root?: { path?: string; readonly?: boolean };
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** A bundle's config, its absolute directory and config path. */
export interface BundleConfig {
  bundle: string;
  configPath: string;
  config: OciConfig;
}

/** How readBundleConfig reads files (rune passes its OS seam, src/sys/sys.ts). */
export interface BundleReader {
  stat(path: string): { type: string } | undefined;
  readFile(path: string): Buffer;
}

const nodeReader: BundleReader = {
  stat: (path) => ({ type: statSync(path).isDirectory() ? 'directory' : 'other' }),
  readFile: (path) => readFileSync(path),
};

/** Reads and checks `<bundle>/config.json`. Throws RUNE_ERR_BUNDLE / RUNE_ERR_CONFIG with what to do. */
export function readBundleConfig(bundleDir: string, fs: BundleReader = nodeReader): BundleConfig {
  const bundle = resolve(bundleDir);
  let isDir = false;
  try {
    isDir = fs.stat(bundle)?.type === 'directory';
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw runeError(
      'RUNE_ERR_BUNDLE',
      `Cannot use bundle ${bundle}: it does not exist or is not a directory; pass the bundle directory with --bundle`,
    );
  }
  const configPath = join(bundle, 'config.json');
  let text: string;
  try {
    text = fs.readFile(configPath).toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist (create one with `rune spec`)' : `it cannot be read (${code})`;
    throw runeError('RUNE_ERR_CONFIG', `Cannot read ${configPath}: ${why}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw runeError(
      'RUNE_ERR_CONFIG',
      `Cannot parse ${configPath}: it is not valid JSON (${(err as Error).message})`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw runeError('RUNE_ERR_CONFIG', `Cannot use ${configPath}: it must hold a JSON object`);
  }
  const config = parsed as OciConfig;
  if (config.annotations !== undefined && (typeof config.annotations !== 'object' || config.annotations === null)) {
    throw runeError('RUNE_ERR_CONFIG', `Cannot use ${configPath}: "annotations" must be an object`);
  }
  // every entry too: readEnclaveConfig() filters the env with string methods (found by scripts/fuzz.sh, oci-config)
  if (config.process?.env !== undefined && (!Array.isArray(config.process.env) || !config.process.env.every((e) => typeof e === 'string'))) {
    throw runeError('RUNE_ERR_CONFIG', `Cannot use ${configPath}: "process.env" must be an array of strings`);
  }
  return { bundle, configPath, config };
}

/**
 * One enclave setting, read as the original did: the process env first (`NAME=value`), then the annotation.
 * Returns undefined when neither is set.
 */
export function enclaveSetting(config: OciConfig, envName: string, annotation: string): string | undefined {
  const prefix = `${envName}=`;
  for (const entry of config.process?.env ?? []) {
    if (typeof entry === 'string' && entry.startsWith(prefix)) return entry.slice(prefix.length);
  }
  const value = config.annotations?.[annotation];
  return typeof value === 'string' ? value : undefined;
}

/** The configured enclave type, or undefined for a plain container (unset or empty). */
export function enclaveType(config: OciConfig): string | undefined {
  const type = enclaveSetting(config, 'ENCLAVE_TYPE', 'enclave.type');
  return type === undefined || type === '' ? undefined : type;
}
