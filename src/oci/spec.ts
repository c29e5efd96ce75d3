/**
 * The default OCI runtime config `rune spec` writes: runc's default spec (runtime-spec 1.0.2) plus the
 * enclave annotations, preset so users see where an enclave is configured.
 */
import type { OciConfig } from './config.ts';

/** Values for the enclave annotations of a generated spec. */
export interface EnclaveSpecOptions {
  type?: string;
  runtimePath?: string;
  runtimeArgs?: string;
  runtimeLogLevel?: string;
}

/** Options of {@link defaultSpec}. */
export interface SpecOptions {
  rootless?: boolean;
  enclave?: EnclaveSpecOptions;
}

const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** runc's default config, with the enclave annotations (an empty enclave.type means a plain container). */
export function defaultSpec(options: SpecOptions = {}): OciConfig {
  const enclave = options.enclave ?? {};
  const spec: OciConfig = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS, ambient: CAPS },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'rune',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    annotations: {
      'enclave.type': enclave.type ?? '',
      'enclave.runtime.path': enclave.runtimePath ?? '',
      'enclave.runtime.args': enclave.runtimeArgs ?? '',
      'enclave.runtime.loglevel': enclave.runtimeLogLevel ?? 'info',
    },
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  if (options.rootless) makeRootless(spec);
  return spec;
}

/** runc's rootless adjustments: a user namespace mapping the caller, no network namespace, sysfs bound. */
function makeRootless(spec: OciConfig): void {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const linux = spec.linux as { namespaces: { type: string }[]; resources?: unknown; uidMappings?: unknown; gidMappings?: unknown };
  linux.namespaces = linux.namespaces.filter((ns) => ns.type !== 'network').concat([{ type: 'user' }]);
  delete linux.resources;
  linux.uidMappings = [{ containerID: 0, hostID: uid, size: 1 }];
  linux.gidMappings = [{ containerID: 0, hostID: gid, size: 1 }];
  const mounts = spec.mounts as { destination: string; type: string; source: string; options?: string[] }[];
  for (const m of mounts) {
    if (m.destination === '/dev/pts') m.options = (m.options ?? []).filter((o) => o !== 'gid=5');
    if (m.destination === '/sys') {
      m.type = 'none';
      m.source = '/sys';
      m.options = ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'];
    }
  }
}
