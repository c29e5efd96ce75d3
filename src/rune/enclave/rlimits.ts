/**
 * process.rlimits of an enclave container (issue #11, item 7). runc applies a config's rlimits to PID 1,
 * which in an enclave container is init-runelet on Node.js: under a low RLIMIT_NPROC or RLIMIT_NOFILE Node.js
 * aborts before the workload starts (`uv_thread_create` fails). So:
 *
 * - `sim`: init-runelet starts without the config's rlimits (it inherits the backend's, as any process runc
 *   starts without rlimits does) and starts the workload through rlimit-exec, which sets exactly the config's
 *   soft and hard limits and then execs it: the workload sees what it would see under runc.
 * - `wasm` and native PALs run the workload inside init-runelet's own process, so the limits stay on it; the
 *   ones under which Node.js cannot run at all are refused at create, naming the setting.
 *
 * Either way a limit runc could not set (soft above hard; a hard limit above rune's own without
 * CAP_SYS_RESOURCE) fails create, as it fails runc's create.
 */
import { readFileSync } from 'node:fs';
import type { InclavareError } from '../../errors/errors.ts';
import { runeError } from '../codes.ts';
import type { PalRlimit } from '../../pal/types.ts';

/** Resource numbers of setrlimit(2) on Linux (asm-generic/resource.h; the same on x86-64 and arm64). */
export const RLIMIT_RESOURCES: Readonly<Record<string, number>> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/**
 * RLIMIT_NPROC below which an enclave container is refused (init-runelet's Node.js runs 5 tasks with the
 * flags rune starts it with; they count towards the limit of its user), and the fewest file descriptors
 * init-runelet's Node.js needs (17 measured) when it runs the workload in its own process.
 */
export const INIT_RUNELET_MIN_NPROC = 16;
export const INIT_RUNELET_MIN_NOFILE = 64;

/** One entry of process.rlimits. */
export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

const UNLIMITED = 2 ** 64 - 1;

function invalid(message: string): InclavareError {
  return runeError('RUNE_ERR_ENCLAVE_CONFIG', message);
}

/** Limits of this process from /proc/self/limits: resource name (as in the OCI config) → hard limit. */
export function ownHardLimits(text: string = readFileSync('/proc/self/limits', 'utf8')): Map<string, number> {
  const names: Record<string, string> = {
    'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA', 'Max stack size': 'RLIMIT_STACK',
    'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS', 'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE',
    'Max locked memory': 'RLIMIT_MEMLOCK', 'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS', 'Max pending signals': 'RLIMIT_SIGPENDING',
    'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE', 'Max realtime priority': 'RLIMIT_RTPRIO', 'Max realtime timeout': 'RLIMIT_RTTIME',
  };
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const name = m ? names[m[1]!] : undefined;
    if (m && name) out.set(name, m[3] === 'unlimited' ? UNLIMITED : Number(m[3]));
  }
  return out;
}

/** True when this process may raise hard limits (CAP_SYS_RESOURCE, capability 24, in its effective set). */
export function canRaiseHardLimits(status: string = readFileSync('/proc/self/status', 'utf8')): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  return eff !== undefined && (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
}

/** What the enclave runtime's settings ask of init-runelet and of the workload. */
export interface EnclaveRlimits {
  /** Limits the workload starts with (sim: applied by rlimit-exec). */
  workload: PalRlimit[];
  /** process.rlimits of the derived config: the limits init-runelet itself runs under. */
  initRunelet: OciRlimit[] | undefined;
}

/** Options of {@link planRlimits}. */
export interface PlanRlimitsOptions {
  runtime: string;
  /** RLIMIT_NPROC does not bind a process whose real uid is the host's root (fork(2)); it binds everyone else. */
  nprocApplies: boolean;
  ownHard?: Map<string, number>;
  canRaise?: boolean;
}

/** Validates process.rlimits as runc would and decides where each limit is applied; throws naming a setting it cannot honour. */
export function planRlimits(rlimits: unknown, options: PlanRlimitsOptions): EnclaveRlimits {
  if (rlimits === undefined || rlimits === null) return { workload: [], initRunelet: undefined };
  if (!Array.isArray(rlimits)) throw invalid('Invalid process.rlimits: expected an array of {type, soft, hard}');
  const list = rlimits as OciRlimit[];
  const ownHard = options.ownHard ?? ownHardLimits();
  const canRaise = options.canRaise ?? canRaiseHardLimits();
  const workload: PalRlimit[] = [];
  for (const limit of list) {
    const resource = typeof limit?.type === 'string' ? RLIMIT_RESOURCES[limit.type] : undefined;
    if (resource === undefined) throw invalid(`Invalid process.rlimits entry ${JSON.stringify(limit)}: unknown rlimit type`);
    if (!Number.isInteger(limit.soft) || !Number.isInteger(limit.hard) || limit.soft < 0 || limit.hard < 0) {
      throw invalid(`Invalid process.rlimits ${limit.type}: soft and hard must be non-negative integers`);
    }
    if (limit.soft > limit.hard) throw invalid(`Invalid process.rlimits ${limit.type}: the soft limit ${limit.soft} is above the hard limit ${limit.hard}`);
    const own = ownHard.get(limit.type);
    if (!canRaise && own !== undefined && limit.hard > own) {
      throw invalid(`Cannot set process.rlimits ${limit.type} hard limit ${limit.hard}: it is above this runtime's own hard limit ${own} and raising it needs CAP_SYS_RESOURCE`);
    }
    const value = (v: number): number => (v >= UNLIMITED ? Infinity : v);
    workload.push({ resource, soft: value(limit.soft), hard: value(limit.hard) });
  }
  for (const limit of list) {
    if (limit.type === 'RLIMIT_NPROC' && options.nprocApplies && limit.soft < INIT_RUNELET_MIN_NPROC) {
      throw invalid(
        `Cannot honour process.rlimits RLIMIT_NPROC ${limit.soft} in an enclave container: the limit counts every task of the container's user, init-runelet's Node.js threads included, and leaves too few to the workload; it needs at least ${INIT_RUNELET_MIN_NPROC} (raise the limit, or run the container as a user the limit does not bind)`,
      );
    }
  }
  if (options.runtime === 'sim') return { workload, initRunelet: undefined };
  for (const limit of list) {
    if (limit.type === 'RLIMIT_NOFILE' && limit.soft < INIT_RUNELET_MIN_NOFILE) {
      throw invalid(
        `Cannot honour process.rlimits RLIMIT_NOFILE ${limit.soft} with enclave runtime ${options.runtime}: the runtime runs inside init-runelet's Node.js process, which needs at least ${INIT_RUNELET_MIN_NOFILE} open files (use ENCLAVE_RUNTIME_PATH=sim, or raise the limit)`,
      );
    }
  }
  return { workload: [], initRunelet: list };
}
