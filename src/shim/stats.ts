/**
 * Stats and OOM for cgroup v1 (the hosts this project runs on: reference/environment.md): the container's
 * cgroups come from /proc/<init pid>/cgroup, the numbers from the controllers' files, answered as
 * io.containerd.cgroups.v1.Metrics (pids, cpu, memory, memory_oom_control).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** The v1 cgroup directory of each controller a process is in. */
export function cgroupPaths(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [, controllers, rel] = line.split(':', 3) as [string, string | undefined, string | undefined];
    if (controllers === undefined || rel === undefined || controllers === '') continue;
    for (const c of controllers.split(',')) out[c] = path.join(CGROUP_ROOT, controllers, rel);
  }
  return out;
}

function num(file: string): bigint {
  try {
    const t = readFileSync(file, 'utf8').trim();
    return t === 'max' ? 0n : BigInt(t);
  } catch {
    return 0n;
  }
}

function keyed(file: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [k, v] = line.trim().split(/\s+/);
      if (k && v && /^\d+$/.test(v)) out[k] = BigInt(v);
    }
  } catch {
    // not there
  }
  return out;
}

/** The Metrics message (as an object for encodeMessage) of the cgroups in `paths`. */
export function readMetrics(paths: Record<string, string>): Record<string, unknown> {
  const metrics: Record<string, unknown> = {};
  if (paths.pids) metrics.pids = { current: num(path.join(paths.pids, 'pids.current')), limit: num(path.join(paths.pids, 'pids.max')) };
  const cpuacct = paths.cpuacct;
  if (cpuacct) {
    const stat = keyed(path.join(cpuacct, 'cpuacct.stat'));
    const tick = 10_000_000n; // USER_HZ 100: one tick is 10 ms in ns
    let perCpu: bigint[] = [];
    try {
      perCpu = readFileSync(path.join(cpuacct, 'cpuacct.usage_percpu'), 'utf8').trim().split(/\s+/).filter(Boolean).map((v) => BigInt(v));
    } catch {
      // not there
    }
    const throttle = paths.cpu ? keyed(path.join(paths.cpu, 'cpu.stat')) : {};
    metrics.cpu = {
      usage: { total: num(path.join(cpuacct, 'cpuacct.usage')), kernel: (stat.system ?? 0n) * tick, user: (stat.user ?? 0n) * tick, perCpu },
      throttling: { periods: throttle.nr_periods ?? 0n, throttledPeriods: throttle.nr_throttled ?? 0n, throttledTime: throttle.throttled_time ?? 0n },
    };
  }
  const mem = paths.memory;
  if (mem) {
    const s = keyed(path.join(mem, 'memory.stat'));
    const entry = (prefix: string): Record<string, bigint> => ({
      limit: num(path.join(mem, `${prefix}.limit_in_bytes`)),
      usage: num(path.join(mem, `${prefix}.usage_in_bytes`)),
      max: num(path.join(mem, `${prefix}.max_usage_in_bytes`)),
      failcnt: num(path.join(mem, `${prefix}.failcnt`)),
    });
    const oom = keyed(path.join(mem, 'memory.oom_control'));
    metrics.memory = {
      cache: s.cache ?? 0n, rss: s.rss ?? 0n, rssHuge: s.rss_huge ?? 0n, mappedFile: s.mapped_file ?? 0n, dirty: s.dirty ?? 0n,
      writeback: s.writeback ?? 0n, pgPgIn: s.pgpgin ?? 0n, pgPgOut: s.pgpgout ?? 0n, pgFault: s.pgfault ?? 0n, pgMajFault: s.pgmajfault ?? 0n,
      inactiveAnon: s.inactive_anon ?? 0n, activeAnon: s.active_anon ?? 0n, inactiveFile: s.inactive_file ?? 0n, activeFile: s.active_file ?? 0n,
      unevictable: s.unevictable ?? 0n, hierarchicalMemoryLimit: s.hierarchical_memory_limit ?? 0n, hierarchicalSwapLimit: s.hierarchical_memsw_limit ?? 0n,
      usage: entry('memory'), swap: entry('memory.memsw'), kernel: entry('memory.kmem'), kernelTcp: entry('memory.kmem.tcp'),
    };
    metrics.memoryOomControl = { oomKillDisable: oom.oom_kill_disable ?? 0n, underOom: oom.under_oom ?? 0n, oomKill: oom.oom_kill ?? 0n };
  }
  return metrics;
}

/** memory.oom_control's oom_kill counter of a memory cgroup directory (0 when unreadable). */
export function oomKillCount(memoryDir: string): bigint {
  return keyed(path.join(memoryDir, 'memory.oom_control')).oom_kill ?? 0n;
}
