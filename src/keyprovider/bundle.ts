/**
 * The unwrapping enclave's OCI bundle (docs/encrypted-images.md, "The unwrapping enclave"): a `sim` enclave
 * container whose workload is the host's node running dist/keyprovider-enclave.mjs. The rootfs holds that file
 * (so the rootfs digest covers it); /usr comes from the host read-only (node is the entrypoint, so its SHA-384
 * is measured; its libraries are not); verdictd's pin is an argument (measured: an enclave told to trust
 * another verdictd measures differently). No network namespace: the workload reaches verdictd on the host's
 * loopback, and what it sends there is RATS-TLS.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OciConfig } from '../oci/config.ts';
import { defaultSpec } from '../oci/spec.ts';
import { keyProviderError } from './codes.ts';

/** Where the workload's file is in the enclave's rootfs. */
export const ENCLAVE_SCRIPT = '/unwrap.mjs';
/** The workload's entrypoint (the host's node, bind-mounted with /usr). */
export const ENCLAVE_NODE = '/usr/bin/node';

/** Inputs of the bundle: what is measured. */
export interface EnclaveBundleOptions {
  /** The state directory: `<stateDir>/rootfs` is shared by every invocation. */
  stateDir: string;
  /** dist/keyprovider-enclave.mjs. */
  enclaveFile: string;
  /** verdictd's pin, `sha256:<hex>`. */
  verdictdKey: string;
}

/** Writes `file` with `bytes` unless it already holds them (atomically: concurrent invocations share it). */
function writeIfChanged(file: string, bytes: Uint8Array, mode: number): void {
  if (existsSync(file) && readFileSync(file).equals(bytes)) return;
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, bytes, { mode });
  renameSync(tmp, file);
}

/** The shared rootfs: the workload's file, mount points, and the host's /lib links (merged /usr). */
export function prepareEnclaveRootfs(options: EnclaveBundleOptions): string {
  let script: Buffer;
  try {
    script = readFileSync(options.enclaveFile);
  } catch (err) {
    throw keyProviderError('KEYPROVIDER_ERR_USAGE', `Cannot make the unwrapping enclave: cannot read ${options.enclaveFile} (build with npm run build, or pass --enclave-file)`, { cause: err });
  }
  const rootfs = join(options.stateDir, 'rootfs');
  for (const dir of ['proc', 'dev', 'sys', 'tmp', 'usr', 'etc']) mkdirSync(join(rootfs, dir), { recursive: true, mode: 0o755 });
  // /lib, /lib64: the same links as the host's (Debian's merged /usr), or bind mounts when they are directories.
  for (const dir of ['lib', 'lib64']) {
    const host = `/${dir}`;
    const inside = join(rootfs, dir);
    if (!existsSync(host) || existsSync(inside) || lstatSync(inside, { throwIfNoEntry: false }) !== undefined) continue;
    if (lstatSync(host).isSymbolicLink()) symlinkSync(readlinkSync(host), inside);
    else mkdirSync(inside, { mode: 0o755 });
  }
  writeIfChanged(join(rootfs, 'etc/passwd'), Buffer.from('root:x:0:0:root:/:/bin/false\n'), 0o644);
  writeIfChanged(join(rootfs, ENCLAVE_SCRIPT.slice(1)), script, 0o644);
  return rootfs;
}

/** The config.json of the enclave: sim, the workload, host /usr (and /lib, /lib64 when not links) read-only. */
export function enclaveConfig(rootfs: string, verdictdKey: string): OciConfig {
  const config = defaultSpec();
  const proc = config.process!;
  proc.terminal = false;
  proc.args = [ENCLAVE_NODE, ENCLAVE_SCRIPT, '--verdictd-key', verdictdKey];
  proc.env = ['PATH=/usr/bin', 'ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'];
  proc.cwd = '/';
  config.root = { path: rootfs, readonly: true };
  const binds = ['/usr', ...['/lib', '/lib64'].filter((d) => existsSync(d) && !lstatSync(d).isSymbolicLink())];
  config.mounts = [...((config.mounts as unknown[] | undefined) ?? []), ...binds.map((d) => ({ destination: d, type: 'bind', source: d, options: ['rbind', 'ro', 'nosuid', 'nodev'] }))];
  const linux = config.linux as { namespaces?: { type: string }[] } | undefined;
  if (linux?.namespaces) linux.namespaces = linux.namespaces.filter((ns) => ns.type !== 'network');
  config.hostname = 'unwrap';
  config.annotations = {};
  return config;
}

/** Writes a bundle for one invocation in `dir`; returns `dir`. */
export function writeEnclaveBundle(dir: string, options: EnclaveBundleOptions): string {
  const rootfs = prepareEnclaveRootfs(options);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(enclaveConfig(rootfs, options.verdictdKey), null, 2));
  return dir;
}
