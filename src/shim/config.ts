/**
 * The shim's configuration: a TOML file named by the runtime options (`runtimeoptions.v1.Options.config_path`,
 * i.e. CRI's `[...runtimes.rune.options] ConfigPath`, or `ctr run --runtime-config-path`), else
 * /etc/inclavare-containers/config.toml when it exists, else the defaults. docs/shim.md lists the keys.
 *
 * The original's keys are accepted where they still mean something (`log_level`, the enclave runtime's
 * defaults); its keys for parts this project does not have (Occlum carrier, signing server, epm) are
 * accepted and ignored so an existing file still loads; anything else is an error naming the key.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'smol-toml';
import { shimError } from './codes.ts';

/** Where the shim looks when no options name a config. */
export const DEFAULT_CONFIG_PATH = '/etc/inclavare-containers/config.toml';

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** The shim's log levels. */
export type ShimLogLevel = (typeof LOG_LEVELS)[number];

/** The resolved configuration. */
export interface ShimConfig {
  /** The file it came from; '' for the defaults. */
  source: string;
  logLevel: ShimLogLevel;
  /** rune's state root; the shim passes `--root <root>/<namespace>`. */
  root: string;
  /** The rune binary. */
  runtime: string;
  /** inclavared's directory ($INCLAVARED_ROOT for rune); '' leaves rune's default. */
  inclavaredRoot: string;
  /** Defaults applied to enclave containers that do not set them (env var → value). */
  enclaveDefaults: Record<string, string>;
  /** Keep a spare daemon started ahead for the next shim (docs/shim.md "The spare daemon"). */
  spare: boolean;
  /** Keys of the original's config that were ignored. */
  ignored: string[];
}

/** The original's keys that name parts this project does not have. */
const IGNORED_KEYS = new Set([
  'sgx_tool_sign', 'containerd.socket', 'epm.socket', 'signature.server_address', 'enclave_runtime.signature_method',
  'enclave_runtime.occlum.enclave_runtime_path', 'enclave_runtime.occlum.enclave_libos_path',
]);

/** Enclave defaults: config key under [enclave_runtime] → the ENCLAVE_* variable rune reads. */
const ENCLAVE_KEYS: Record<string, string> = {
  log_level: 'ENCLAVE_RUNTIME_LOGLEVEL',
  verdictd: 'ENCLAVE_VERDICTD',
  verdictd_key: 'ENCLAVE_VERDICTD_KEY',
};

/** The defaults, with rune and the state root as given. */
export function defaultConfig(shimDir: string): ShimConfig {
  return {
    source: '',
    logLevel: 'info',
    root: '/run/containerd/rune',
    runtime: path.join(shimDir, 'rune'),
    inclavaredRoot: '',
    enclaveDefaults: {},
    spare: true,
    ignored: [],
  };
}

function bad(file: string, message: string, cause?: unknown): Error {
  return shimError('SHIM_ERR_BAD_CONFIG', `Invalid shim config ${file}: ${message}`, cause === undefined ? {} : { cause });
}

function str(file: string, key: string, v: unknown): string {
  if (typeof v !== 'string') throw bad(file, `${key} must be a string`);
  return v;
}

/** Parses the TOML text of a config file. */
export function parseConfig(text: string, file: string, shimDir: string): ShimConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    throw bad(file, 'it is not valid TOML', e);
  }
  const cfg = { ...defaultConfig(shimDir), source: file };
  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix === '' ? k : `${prefix}.${k}`;
      if (IGNORED_KEYS.has(key)) {
        cfg.ignored.push(key);
        continue;
      }
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
        if (['inclavared', 'enclave_runtime', 'containerd', 'epm', 'signature', 'enclave_runtime.occlum'].includes(key)) {
          walk(v as Record<string, unknown>, key);
          continue;
        }
        throw bad(file, `unknown table [${key}]`);
      }
      switch (key) {
        case 'log_level': {
          const level = str(file, key, v);
          if (!(LOG_LEVELS as readonly string[]).includes(level)) throw bad(file, `log_level must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(level)}`);
          cfg.logLevel = level as ShimLogLevel;
          break;
        }
        case 'spare':
          if (typeof v !== 'boolean') throw bad(file, 'spare must be true or false');
          cfg.spare = v;
          break;
        case 'root':
        case 'runtime': {
          const p = str(file, key, v);
          if (!path.isAbsolute(p)) throw bad(file, `${key} must be an absolute path`);
          cfg[key] = p;
          break;
        }
        case 'inclavared.root': {
          const p = str(file, key, v);
          if (!path.isAbsolute(p)) throw bad(file, `${key} must be an absolute path`);
          cfg.inclavaredRoot = p;
          break;
        }
        default: {
          const m = /^enclave_runtime\.([a-z_]+)$/.exec(key);
          const env = m ? ENCLAVE_KEYS[m[1]!] : undefined;
          if (env === undefined) throw bad(file, `unknown key ${key}`);
          cfg.enclaveDefaults[env] = str(file, key, v);
        }
      }
    }
  };
  walk(doc, '');
  return cfg;
}

/** Loads the config at `file` ('' → the default path if it exists, else the defaults). */
export function loadConfig(file: string, shimDir: string): ShimConfig {
  if (file === '') {
    let text: string;
    try {
      text = readFileSync(DEFAULT_CONFIG_PATH, 'utf8');
    } catch {
      return defaultConfig(shimDir);
    }
    return parseConfig(text, DEFAULT_CONFIG_PATH, shimDir);
  }
  if (!path.isAbsolute(file)) throw bad(file, 'the config path must be absolute');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw bad(file, 'it cannot be read', e);
  }
  return parseConfig(text, file, shimDir);
}
