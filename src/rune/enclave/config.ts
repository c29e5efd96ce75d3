/**
 * Enclave configuration of a container, read as the original did: each setting from the process env in
 * config.json first (`ENCLAVE_TYPE=...`), then from the annotation (`enclave.type`). Unlike the original, an
 * invalid value is an error naming the setting and the allowed values; nothing falls back silently.
 */
import { isAbsolute } from 'node:path';
import type { InclavareError } from '../../errors/errors.ts';
import { runeError } from '../codes.ts';
import { enclaveSetting, type OciConfig } from '../../oci/config.ts';
import { parsePin } from '../../rats-tls/pin.ts';

/** Enclave types: the original's hardware types, software enclaves, and confidential-VM nodes. */
export const ENCLAVE_TYPES = ['intelSgx', 'AwsNitroEnclaves', 'Jailhouse', 'sim', 'tdx', 'snp'] as const;
export type EnclaveType = (typeof ENCLAVE_TYPES)[number];

/** Built-in enclave runtimes; anything else must be an absolute path to a PAL shared library. */
export const BUILTIN_RUNTIMES = ['sim', 'wasm'] as const;

/** PAL log levels (the PAL API's, docs/enclave-runtimes.md "Native PAL libraries"). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'fatal', 'panic', 'off'] as const;
export type EnclaveLogLevel = (typeof LOG_LEVELS)[number];

/** The settings, by env var name and annotation. */
const SETTINGS = {
  type: ['ENCLAVE_TYPE', 'enclave.type'],
  runtimePath: ['ENCLAVE_RUNTIME_PATH', 'enclave.runtime.path'],
  runtimeArgs: ['ENCLAVE_RUNTIME_ARGS', 'enclave.runtime.args'],
  logLevel: ['ENCLAVE_RUNTIME_LOGLEVEL', 'enclave.runtime.loglevel'],
  raType: ['ENCLAVE_RA_TYPE', 'enclave.attestation.ra_type'],
  secrets: ['ENCLAVE_SECRETS', 'enclave.secrets'],
  verdictd: ['ENCLAVE_VERDICTD', 'enclave.verdictd'],
  verdictdKey: ['ENCLAVE_VERDICTD_KEY', 'enclave.verdictd.key'],
} as const;

/** Where verdictd is when ENCLAVE_VERDICTD is not set: its default listener, on the host. */
export const DEFAULT_VERDICTD = '127.0.0.1:1234';

/** A resource path `repo/type/tag` (verdictd's and KBS's form: each part `[A-Za-z0-9][A-Za-z0-9._-]*`). */
const RESOURCE_PATH = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The secrets a container declares (docs/secrets.md). */
export interface SecretsConfig {
  /** Resource paths `repo/type/tag`, in the order given, without duplicates. */
  resources: string[];
  /** verdictd's address as the host reaches it: HOST:PORT or [IPv6]:PORT. */
  verdictd: string;
  /** The pin of verdictd's public key, `sha256:<hex>`. */
  verdictdKey: string;
}

/** A validated enclave configuration. */
export interface EnclaveConfig {
  type: EnclaveType;
  /** 'sim', 'wasm', or the absolute host path of a PAL library. */
  runtime: string;
  /** Runtime arguments with the original's commas turned into spaces (what pal_init receives). */
  runtimeArgs: string;
  logLevel: EnclaveLogLevel;
  /** The workload's env: the container's env without the ENCLAVE_* settings rune consumed. */
  workloadEnv: string[];
  /** The secrets to fetch before the workload starts; undefined when none are declared. */
  secrets?: SecretsConfig;
}

function invalid(message: string): InclavareError {
  return runeError('RUNE_ERR_ENCLAVE_CONFIG', message);
}

/** Reads the enclave configuration; undefined for a plain container (no type, or an empty one). */
export function readEnclaveConfig(config: OciConfig): EnclaveConfig | undefined {
  const get = (key: keyof typeof SETTINGS): string | undefined => enclaveSetting(config, SETTINGS[key][0], SETTINGS[key][1]);
  const type = get('type');
  if (type === undefined || type === '') return undefined;
  if (!(ENCLAVE_TYPES as readonly string[]).includes(type)) {
    throw invalid(`Invalid enclave type ${JSON.stringify(type)} (ENCLAVE_TYPE / enclave.type): use one of ${ENCLAVE_TYPES.join(', ')}`);
  }
  const runtime = get('runtimePath') ?? '';
  if (runtime === '') {
    throw invalid(
      `Missing enclave runtime for enclave type ${type}: set ENCLAVE_RUNTIME_PATH / enclave.runtime.path to sim, wasm or the absolute path of a PAL library (liberpal-*.so)`,
    );
  }
  if (!(BUILTIN_RUNTIMES as readonly string[]).includes(runtime) && !isAbsolute(runtime)) {
    throw invalid(
      `Invalid enclave runtime ${JSON.stringify(runtime)} (ENCLAVE_RUNTIME_PATH / enclave.runtime.path): use sim, wasm or the absolute path of a PAL library`,
    );
  }
  const logLevel = get('logLevel') || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw invalid(`Invalid enclave runtime log level ${JSON.stringify(logLevel)} (ENCLAVE_RUNTIME_LOGLEVEL / enclave.runtime.loglevel): use one of ${LOG_LEVELS.join(', ')}`);
  }
  const raType = get('raType');
  if (raType !== undefined && raType !== '' && !['epidUnlinkable', 'epidLinkable', 'ecdsa'].includes(raType)) {
    throw invalid(`Invalid attestation type ${JSON.stringify(raType)} (ENCLAVE_RA_TYPE / enclave.attestation.ra_type): use epidUnlinkable, epidLinkable or ecdsa`);
  }
  const secrets = readSecrets(get('secrets'), get('verdictd'), get('verdictdKey'));
  if (secrets !== undefined && type !== 'sim' && type !== 'tdx' && type !== 'snp') {
    throw invalid(`Cannot deliver secrets (ENCLAVE_SECRETS / enclave.secrets) to enclave type ${type}: this rune delivers them to sim, tdx and snp enclaves`);
  }
  const consumed = Object.values(SETTINGS).map(([env]) => `${env}=`);
  const workloadEnv = (config.process?.env ?? []).filter((e) => !consumed.some((prefix) => e.startsWith(prefix)));
  return {
    type: type as EnclaveType,
    runtime,
    runtimeArgs: (get('runtimeArgs') ?? '').split(',').map((a) => a.trim()).filter(Boolean).join(' '),
    logLevel: logLevel as EnclaveLogLevel,
    workloadEnv,
    ...(secrets !== undefined ? { secrets } : {}),
  };
}

/** Validates ENCLAVE_SECRETS, ENCLAVE_VERDICTD and ENCLAVE_VERDICTD_KEY; undefined when no secret is declared. */
function readSecrets(list: string | undefined, address: string | undefined, key: string | undefined): SecretsConfig | undefined {
  const resources = [...new Set((list ?? '').split(',').map((r) => r.trim()).filter(Boolean))];
  if (resources.length === 0) {
    if ((address ?? '') !== '' || (key ?? '') !== '') {
      throw invalid('ENCLAVE_VERDICTD / ENCLAVE_VERDICTD_KEY are set but ENCLAVE_SECRETS (enclave.secrets) names no secret: list the resource paths repo/type/tag to fetch, or drop them');
    }
    return undefined;
  }
  for (const r of resources) {
    if (!RESOURCE_PATH.test(r)) {
      throw invalid(`Invalid secret ${JSON.stringify(r)} in ENCLAVE_SECRETS / enclave.secrets: give resource paths repo/type/tag, comma separated (each part letters, digits, ".", "_", "-")`);
    }
  }
  const verdictd = address === undefined || address === '' ? DEFAULT_VERDICTD : address;
  if (!/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(verdictd) || Number(verdictd.slice(verdictd.lastIndexOf(':') + 1)) > 65535) {
    throw invalid(`Invalid verdictd address ${JSON.stringify(verdictd)} (ENCLAVE_VERDICTD / enclave.verdictd): give HOST:PORT or [IPv6]:PORT as the host reaches it, e.g. ${DEFAULT_VERDICTD}`);
  }
  if (key === undefined || key === '') {
    throw invalid(
      'Cannot deliver secrets without knowing which verdictd to trust: set ENCLAVE_VERDICTD_KEY / enclave.verdictd.key to the pin of its key (sha256:<hex>, printed by `verdict identity` and at verdictd start)',
    );
  }
  const pin = parsePin(key);
  if (pin === undefined) {
    throw invalid(`Invalid verdictd key pin ${JSON.stringify(key)} (ENCLAVE_VERDICTD_KEY / enclave.verdictd.key): give sha256: and 64 hex digits, as \`verdict identity\` prints it`);
  }
  return { resources, verdictd, verdictdKey: pin };
}
