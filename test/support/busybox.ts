/**
 * Busybox bundles for tests and benchmarks: a rootfs from Debian's busybox-static and an OCI config.json
 * (rune's default spec, adjusted: no terminal unless asked, the given args, env and annotations).
 */
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { defaultSpec } from '../../src/oci/spec.ts';
import type { OciConfig } from '../../src/oci/config.ts';

const BUSYBOX = '/bin/busybox';

/** Creates `<dir>` as a busybox root filesystem (every applet linked in /bin). */
export function makeBusyboxRootfs(dir: string): void {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static`);
  for (const sub of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root']) mkdirSync(join(dir, sub), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, 'bin/busybox'));
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const applet of applets) if (applet !== 'busybox') symlinkSync('busybox', join(dir, 'bin', applet));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\nnobody:x:65534:\n');
  writeFileSync(join(dir, 'etc/hosts'), '127.0.0.1 localhost\n');
}

/** What a test bundle runs. */
export interface BundleOptions {
  args: string[];
  terminal?: boolean;
  env?: string[];
  annotations?: Record<string, string>;
  /** Reuse an existing rootfs directory (absolute path) instead of creating one in the bundle. */
  rootfs?: string;
  edit?: (config: OciConfig) => void;
}

/** Creates an OCI bundle in `dir` running `options.args` in busybox. Returns `dir`. */
export function makeBundle(dir: string, options: BundleOptions): string {
  mkdirSync(dir, { recursive: true });
  if (options.rootfs === undefined) makeBusyboxRootfs(join(dir, 'rootfs'));
  const config = defaultSpec();
  config.process!.terminal = options.terminal ?? false;
  config.process!.args = options.args;
  if (options.env) config.process!.env = config.process!.env!.concat(options.env);
  config.root = { path: options.rootfs ?? 'rootfs', readonly: true };
  config.annotations = options.annotations ?? {};
  options.edit?.(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}
