/**
 * The shim's task service (containerd.task.v2.Task over ttrpc; docs/shim.md): every call on a container is a
 * rune command (create, start, kill, pause, resume, ps, update, delete) or a signal to an exec's process; the
 * processes' state machines live in src/shim/process/proc.ts. One service serves every container of a pod.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeError } from '../errors/errors.ts';
import { shimError } from './codes.ts';
import type { ShimConfig } from './config.ts';
import type { EventPublisher } from './events.ts';
import { BUNDLE_ARGS_FILE, bundleArgsText, runeArgs, runeEnv, SHIM_ID_RE } from './manager.ts';
import { runtimeOptionsOfAny } from './options.ts';
import { Proc, STATUS, type StdioPaths } from './process/proc.ts';
import { cgroupPaths, oomKillCount, readMetrics } from './stats.ts';
import type { Handlers, MethodHandler } from './ttrpc/server.ts';
import { TYPE_URLS, decodeMessage, encodeMessage, timestampOf, type AnyMessage, type MessageName } from './ttrpc/messages.ts';

/** The ttrpc service name. */
export const TASK_SERVICE = 'containerd.task.v2.Task';

const SIGKILL = 9;

interface Container {
  id: string;
  bundle: string;
  init: Proc;
  execs: Map<string, Proc>;
  rootfsMounted: boolean;
  memoryCgroup: string;
  oomKills: bigint;
  /** Resolves once TaskStart was queued (or the container will never start): TaskExit waits for it. */
  started: Promise<void>;
  markStarted: () => void;
}

/** What the service needs from its daemon. */
export interface TaskServiceOptions {
  namespace: string;
  config: ShimConfig;
  /** The config named by the options did not load: every Create fails with it. */
  configError?: Error;
  /** The directory of the shim's files (rune-shim-monitor). */
  shimDir: string;
  events: EventPublisher;
  log: (msg: string) => void;
  /** Called after Shutdown was answered, when the shim should exit. */
  onShutdown: () => void;
  /** Called after each Start settled (the daemon starts the next spare after its first). */
  afterStart?: () => void;
}

function runCommand(file: string, args: readonly string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env, maxBuffer: 16 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The last error rune wrote to its --log (JSON lines), else its stderr. */
function runeFailure(bundle: string, stderr: string): string {
  try {
    const lines = readFileSync(path.join(bundle, 'log.json'), 'utf8').trim().split('\n').reverse();
    for (const line of lines) {
      try {
        const entry = JSON.parse(line) as { level?: string; msg?: string };
        if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) return entry.msg;
      } catch {
        // not JSON
      }
    }
  } catch {
    // no log
  }
  return stderr.trim() || 'rune failed without a message';
}

/** The task service. */
export class TaskService {
  readonly #opts: TaskServiceOptions;
  readonly #containers = new Map<string, Container>();
  #oomTimer: NodeJS.Timeout | undefined;

  constructor(opts: TaskServiceOptions) {
    this.#opts = opts;
  }

  /** How many containers the shim serves. */
  get size(): number {
    return this.#containers.size;
  }

  /** The ttrpc handlers of every method. */
  handlers(): Handlers {
    const m = new Map<string, MethodHandler>();
    const add = (method: string, req: MessageName, res: MessageName, fn: (r: Record<string, unknown>) => Promise<Record<string, unknown>>): void => {
      m.set(`${TASK_SERVICE}/${method}`, async (payload) => {
        let decoded: Record<string, unknown>;
        try {
          decoded = decodeMessage(req, payload);
        } catch (e) {
          throw shimError('SHIM_ERR_BAD_REQUEST', `Cannot decode ${method}'s request: its bytes are no ${req}`, { cause: e });
        }
        return encodeMessage(res, await fn(decoded));
      });
    };
    add('State', 'StateRequest', 'StateResponse', (r) => this.state(r as never));
    add('Create', 'CreateTaskRequest', 'CreateTaskResponse', (r) => this.create(r as never));
    add('Start', 'StartRequest', 'StartResponse', (r) => this.start(r as never).finally(() => this.#opts.afterStart?.()));
    add('Delete', 'DeleteRequest', 'DeleteResponse', (r) => this.delete(r as never));
    add('Pids', 'PidsRequest', 'PidsResponse', (r) => this.pids(r as never));
    add('Pause', 'PauseRequest', 'Empty', (r) => this.pause(r as never, true));
    add('Resume', 'ResumeRequest', 'Empty', (r) => this.pause(r as never, false));
    add('Checkpoint', 'CheckpointTaskRequest', 'Empty', () => {
      throw shimError('SHIM_ERR_NOT_IMPLEMENTED', 'Cannot checkpoint: containerd-shim-rune-v2 does not implement Checkpoint (enclave memory cannot be dumped)');
    });
    add('Kill', 'KillRequest', 'Empty', (r) => this.kill(r as never));
    add('Exec', 'ExecProcessRequest', 'Empty', (r) => this.exec(r as never));
    add('ResizePty', 'ResizePtyRequest', 'Empty', (r) => this.resizePty(r as never));
    add('CloseIO', 'CloseIORequest', 'Empty', (r) => this.closeIO(r as never));
    add('Update', 'UpdateTaskRequest', 'Empty', (r) => this.update(r as never));
    add('Wait', 'WaitRequest', 'WaitResponse', (r) => this.wait(r as never));
    add('Stats', 'StatsRequest', 'StatsResponse', (r) => this.stats(r as never));
    add('Connect', 'ConnectRequest', 'ConnectResponse', (r) => this.connect(r as never));
    add('Shutdown', 'ShutdownRequest', 'Empty', (r) => this.shutdown(r as never));
    return m;
  }

  #rune(bundle: string, args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const { config, namespace } = this.#opts;
    return runCommand(config.runtime, runeArgs(config, namespace, bundle, args), runeEnv(config), input);
  }

  async #runeOk(c: Container, what: string, args: readonly string[], input?: string): Promise<string> {
    const r = await this.#rune(c.bundle, args, input);
    if (r.code !== 0) throw shimError('SHIM_ERR_RUNTIME', `Cannot ${what} container ${c.id}: ${runeFailure(c.bundle, r.stderr)}`);
    return r.stdout;
  }

  #container(id: string): Container {
    const c = this.#containers.get(id);
    if (c === undefined) throw shimError('SHIM_ERR_NOT_FOUND', `Cannot find container ${JSON.stringify(id)} in this shim`);
    return c;
  }

  #proc(id: string, execId: string): { c: Container; p: Proc } {
    const c = this.#container(id);
    if (execId === '') return { c, p: c.init };
    const p = c.execs.get(execId);
    if (p === undefined) throw shimError('SHIM_ERR_NOT_FOUND', `Cannot find exec ${JSON.stringify(execId)} in container ${id}`);
    return { c, p };
  }

  #env(): NodeJS.ProcessEnv {
    return runeEnv(this.#opts.config);
  }

  /** Enclave defaults of the config, written into config.json's process.env where the container sets none. */
  #applyEnclaveDefaults(bundle: string, spec: Record<string, unknown>): void {
    const defaults = this.#opts.config.enclaveDefaults;
    if (Object.keys(defaults).length === 0) return;
    const proc = spec.process as { env?: string[] } | undefined;
    const env = proc?.env ?? [];
    const ann = (spec.annotations ?? {}) as Record<string, string>;
    const isEnclave = env.some((e) => e.startsWith('ENCLAVE_TYPE=')) || typeof ann['enclave.type'] === 'string';
    if (!isEnclave || proc === undefined) return;
    const annotationOf: Record<string, string> = { ENCLAVE_RUNTIME_LOGLEVEL: 'enclave.runtime.loglevel', ENCLAVE_VERDICTD: 'enclave.verdictd', ENCLAVE_VERDICTD_KEY: 'enclave.verdictd.key' };
    let changed = false;
    for (const [name, value] of Object.entries(defaults)) {
      if (env.some((e) => e.startsWith(`${name}=`)) || ann[annotationOf[name] ?? ''] !== undefined) continue;
      env.push(`${name}=${value}`);
      changed = true;
    }
    if (changed) {
      proc.env = env;
      writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    }
  }

  async create(r: { id: string; bundle: string; rootfs: { type: string; source: string; options: string[] }[]; terminal: boolean; stdin: string; stdout: string; stderr: string; checkpoint: string; options?: AnyMessage }): Promise<Record<string, unknown>> {
    if (this.#opts.configError) throw this.#opts.configError;
    if (!SHIM_ID_RE.test(r.id)) throw shimError('SHIM_ERR_BAD_REQUEST', `Invalid container id ${JSON.stringify(r.id)}: use letters, digits, "_", "." and "-"`);
    if (this.#containers.has(r.id)) throw shimError('SHIM_ERR_ALREADY_EXISTS', `Container ${r.id} exists already in this shim`);
    if (r.checkpoint !== '') throw shimError('SHIM_ERR_NOT_IMPLEMENTED', 'Cannot restore from a checkpoint: containerd-shim-rune-v2 does not implement checkpoints');
    if (r.options !== undefined && (r.options.typeUrl !== '' || r.options.value.length > 0)) runtimeOptionsOfAny(r.options);
    const bundle = r.bundle;
    if (!path.isAbsolute(bundle) || !existsSync(path.join(bundle, 'config.json'))) {
      throw shimError('SHIM_ERR_BUNDLE', `Cannot create container ${r.id}: bundle ${JSON.stringify(bundle)} has no config.json`);
    }
    let spec: Record<string, unknown>;
    try {
      spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw shimError('SHIM_ERR_BUNDLE', `Cannot create container ${r.id}: ${path.join(bundle, 'config.json')} is not JSON`, { cause: e });
    }
    this.#applyEnclaveDefaults(bundle, spec);
    writeFileSync(path.join(bundle, BUNDLE_ARGS_FILE), bundleArgsText(this.#opts.config, this.#opts.namespace));
    const rootfs = path.join(bundle, 'rootfs');
    let mounted = false;
    for (const m of r.rootfs) {
      const args = ['-t', m.type, ...(m.options.length > 0 ? ['-o', m.options.join(',')] : []), m.source, rootfs];
      const res = await runCommand('mount', args, process.env);
      if (res.code !== 0) {
        if (mounted) await runCommand('umount', ['-l', rootfs], process.env);
        throw shimError('SHIM_ERR_BUNDLE', `Cannot mount the rootfs of ${r.id} (${m.type} ${m.source}): ${res.stderr.trim()}`);
      }
      mounted = true;
    }
    const stdio: StdioPaths = { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal };
    const init = new Proc(r.id, '', stdio);
    let markStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const c: Container = { id: r.id, bundle, init, execs: new Map(), rootfsMounted: mounted, memoryCgroup: '', oomKills: 0n, started, markStarted };
    this.#containers.set(r.id, c);
    init.onExit((p) => this.#initExited(c, p));
    const consoleSocket = r.terminal ? path.join(bundle, 'console.sock') : undefined;
    const pidFile = path.join(bundle, 'init.pid');
    const args = ['create', '--bundle', bundle, '--pid-file', pidFile, ...(consoleSocket ? ['--console-socket', consoleSocket] : []), r.id];
    const res = await init.launch({ monitor: path.join(this.#opts.shimDir, 'rune-shim-monitor'), runtime: this.#opts.config.runtime, args: runeArgs(this.#opts.config, this.#opts.namespace, bundle, args), pidFile, ...(consoleSocket ? { consoleSocket } : {}), env: this.#env() });
    if (res.runtimeStatus !== 0) {
      this.#containers.delete(r.id);
      init.dispose();
      if (mounted) await runCommand('umount', ['-l', rootfs], process.env);
      throw shimError('SHIM_ERR_RUNTIME', `Cannot create container ${r.id}: ${runeFailure(bundle, '')}`);
    }
    void this.#opts.events.publish('TaskCreate', { containerId: r.id, bundle, rootfs: r.rootfs, io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal }, pid: init.pid });
    return { pid: init.pid };
  }

  #initExited(c: Container, p: Proc): void {
    // The exec processes end with the container's init (as runc's shim does): none is left behind.
    for (const e of c.execs.values()) {
      try {
        e.signal(SIGKILL);
      } catch {
        // gone
      }
    }
    this.#checkOom(c);
    void c.started.then(() => this.#opts.events.publish('TaskExit', { containerId: c.id, id: c.id, pid: p.pid, exitStatus: p.exitStatus, exitedAt: timestampOf(p.exitedAt ?? new Date()) }));
  }

  #checkOom(c: Container): void {
    if (c.memoryCgroup === '') return;
    const n = oomKillCount(c.memoryCgroup);
    if (n > c.oomKills) {
      c.oomKills = n;
      void this.#opts.events.publish('TaskOOM', { containerId: c.id });
    }
  }

  #watchOom(): void {
    if (this.#oomTimer) return;
    this.#oomTimer = setInterval(() => {
      for (const c of this.#containers.values()) if (c.init.state === 'running') this.#checkOom(c);
    }, 1000);
    this.#oomTimer.unref();
  }

  async start(r: { id: string; execId: string }): Promise<Record<string, unknown>> {
    const { c, p } = this.#proc(r.id, r.execId);
    if (p.state !== 'created') throw shimError('SHIM_ERR_STATE', `Cannot start ${r.execId || r.id}: it is ${p.state}, not created`);
    if (r.execId === '') {
      const mem = cgroupPaths(p.pid).memory;
      if (mem) {
        c.memoryCgroup = mem;
        c.oomKills = oomKillCount(mem);
      }
      try {
        await this.#runeOk(c, 'start', ['start', r.id]);
      } catch (e) {
        c.markStarted();
        throw e;
      }
      if (p.state === 'created') p.state = 'running';
      this.#watchOom();
      void this.#opts.events.publish('TaskStart', { containerId: r.id, pid: p.pid });
      c.markStarted();
      return { pid: p.pid };
    }
    if (c.init.state === 'stopped') throw shimError('SHIM_ERR_STATE', `Cannot start exec ${r.execId}: container ${r.id} has stopped`);
    const pidFile = path.join(c.bundle, `${r.execId}.pid`);
    const consoleSocket = p.stdio.terminal ? path.join(c.bundle, `${r.execId}.console.sock`) : undefined;
    p.onExit((q) => void this.#opts.events.publish('TaskExit', { containerId: r.id, id: r.execId, pid: q.pid, exitStatus: q.exitStatus, exitedAt: timestampOf(q.exitedAt ?? new Date()) }));
    const args = ['exec', '--process', p.specFile, '--detach', '--pid-file', pidFile, ...(consoleSocket ? ['--console-socket', consoleSocket] : []), r.id];
    const res = await p.launch({ monitor: path.join(this.#opts.shimDir, 'rune-shim-monitor'), runtime: this.#opts.config.runtime, args: runeArgs(this.#opts.config, this.#opts.namespace, c.bundle, args), pidFile, ...(consoleSocket ? { consoleSocket } : {}), env: this.#env() });
    if (res.runtimeStatus !== 0) {
      p.fail(255);
      throw shimError('SHIM_ERR_RUNTIME', `Cannot exec ${r.execId} in container ${r.id}: ${runeFailure(c.bundle, '')}`);
    }
    if (p.state === 'created') p.state = 'running';
    void this.#opts.events.publish('TaskExecStarted', { containerId: r.id, execId: r.execId, pid: p.pid });
    return { pid: p.pid };
  }

  async delete(r: { id: string; execId: string }): Promise<Record<string, unknown>> {
    const { c, p } = this.#proc(r.id, r.execId);
    if (p.state === 'running' || p.state === 'paused') throw shimError('SHIM_ERR_STATE', `Cannot delete ${r.execId || r.id}: it is still ${p.state}; kill it first`);
    const answer = { pid: p.pid, exitStatus: p.exitStatus, exitedAt: timestampOf(p.exitedAt ?? new Date()) };
    if (r.execId !== '') {
      c.execs.delete(r.execId);
      p.dispose();
      if (p.specFile) rmSync(p.specFile, { force: true });
      return answer;
    }
    const force = p.state === 'created';
    c.markStarted();
    await this.#runeOk(c, 'delete', ['delete', ...(force ? ['--force'] : []), r.id]);
    if (force) {
      // A created process never ran: the runtime killed it; collect its exit through the monitor.
      await Promise.race([p.waitExit(), new Promise((res) => setTimeout(res, 2000).unref())]);
    }
    for (const e of c.execs.values()) e.dispose();
    p.dispose();
    if (c.rootfsMounted) await runCommand('umount', ['-l', path.join(c.bundle, 'rootfs')], process.env);
    this.#containers.delete(r.id);
    void this.#opts.events.publish('TaskDelete', { containerId: r.id, pid: p.pid, exitStatus: p.exitStatus, exitedAt: answer.exitedAt, id: r.id });
    return { ...answer, exitStatus: p.exitStatus };
  }

  state(r: { id: string; execId: string }): Promise<Record<string, unknown>> {
    const { c, p } = this.#proc(r.id, r.execId);
    return Promise.resolve({
      id: r.execId || r.id, bundle: c.bundle, pid: p.pid, status: STATUS[p.state], stdin: p.stdio.stdin, stdout: p.stdio.stdout, stderr: p.stdio.stderr,
      terminal: p.stdio.terminal, exitStatus: p.exitStatus, ...(p.exitedAt ? { exitedAt: timestampOf(p.exitedAt) } : {}), execId: r.execId,
    });
  }

  async pids(r: { id: string }): Promise<Record<string, unknown>> {
    const c = this.#container(r.id);
    const out = await this.#runeOk(c, 'list the processes of', ['ps', '--format', 'json', r.id]);
    let pids: number[];
    try {
      pids = JSON.parse(out || '[]') as number[];
    } catch (e) {
      throw shimError('SHIM_ERR_RUNTIME', `Cannot list the processes of ${r.id}: rune ps printed no JSON list`, { cause: e });
    }
    const execOf = new Map([...c.execs.values()].map((e) => [e.pid, e.execId]));
    return {
      processes: (pids ?? []).map((pid) => {
        const execId = execOf.get(pid);
        return execId === undefined ? { pid } : { pid, info: { typeUrl: TYPE_URLS.ProcessDetails, value: encodeMessage('ProcessDetails', { execId }) } };
      }),
    };
  }

  async pause(r: { id: string }, pause: boolean): Promise<Record<string, unknown>> {
    const c = this.#container(r.id);
    await this.#runeOk(c, pause ? 'pause' : 'resume', [pause ? 'pause' : 'resume', r.id]);
    if (c.init.state !== 'stopped') c.init.state = pause ? 'paused' : 'running';
    void this.#opts.events.publish(pause ? 'TaskPaused' : 'TaskResumed', { containerId: r.id });
    return {};
  }

  async kill(r: { id: string; execId: string; signal: number; all: boolean }): Promise<Record<string, unknown>> {
    const { c, p } = this.#proc(r.id, r.execId);
    if (r.signal <= 0 || r.signal > 64) throw shimError('SHIM_ERR_BAD_REQUEST', `Invalid signal ${r.signal}`);
    if (r.execId !== '') {
      if (p.state === 'stopped') throw shimError('SHIM_ERR_NOT_FOUND', `Cannot signal exec ${r.execId}: the process has finished`);
      try {
        p.signal(r.signal);
      } catch (e) {
        throw shimError('SHIM_ERR_NOT_FOUND', `Cannot signal exec ${r.execId}: ${describeError(e)}`);
      }
      return {};
    }
    if (p.state === 'stopped' && !r.all) throw shimError('SHIM_ERR_NOT_FOUND', `Cannot signal container ${r.id}: the process has finished`);
    const res = await this.#rune(c.bundle, ['kill', ...(r.all ? ['--all'] : []), r.id, String(r.signal)]);
    if (res.code !== 0 && p.state !== 'stopped') throw shimError('SHIM_ERR_RUNTIME', `Cannot signal container ${r.id}: ${runeFailure(c.bundle, res.stderr)}`);
    return {};
  }

  exec(r: { id: string; execId: string; terminal: boolean; stdin: string; stdout: string; stderr: string; spec?: AnyMessage }): Promise<Record<string, unknown>> {
    const c = this.#container(r.id);
    if (!SHIM_ID_RE.test(r.execId)) throw shimError('SHIM_ERR_BAD_REQUEST', `Invalid exec id ${JSON.stringify(r.execId)}`);
    if (c.execs.has(r.execId)) throw shimError('SHIM_ERR_ALREADY_EXISTS', `Exec ${r.execId} exists already in container ${r.id}`);
    if (c.init.state === 'stopped') throw shimError('SHIM_ERR_STATE', `Cannot exec in container ${r.id}: it has stopped`);
    let spec: unknown;
    try {
      spec = JSON.parse(Buffer.from(r.spec?.value ?? new Uint8Array()).toString('utf8'));
    } catch (e) {
      throw shimError('SHIM_ERR_BAD_REQUEST', `Cannot exec ${r.execId}: the process spec is not JSON`, { cause: e });
    }
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw shimError('SHIM_ERR_BAD_REQUEST', `Cannot exec ${r.execId}: the process spec is not a JSON object`);
    const p = new Proc(r.id, r.execId, { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal });
    p.specFile = path.join(c.bundle, `${r.execId}.process.json`);
    writeFileSync(p.specFile, JSON.stringify(spec));
    c.execs.set(r.execId, p);
    void this.#opts.events.publish('TaskExecAdded', { containerId: r.id, execId: r.execId });
    return Promise.resolve({});
  }

  resizePty(r: { id: string; execId: string; width: number; height: number }): Promise<Record<string, unknown>> {
    const { p } = this.#proc(r.id, r.execId);
    if (!p.stdio.terminal) throw shimError('SHIM_ERR_STATE', `Cannot resize ${r.execId || r.id}: it has no terminal`);
    p.resize(r.width, r.height);
    return Promise.resolve({});
  }

  closeIO(r: { id: string; execId: string; stdin: boolean }): Promise<Record<string, unknown>> {
    const { p } = this.#proc(r.id, r.execId);
    if (r.stdin) p.closeStdin();
    return Promise.resolve({});
  }

  async update(r: { id: string; resources?: AnyMessage }): Promise<Record<string, unknown>> {
    const c = this.#container(r.id);
    const json = Buffer.from(r.resources?.value ?? new Uint8Array()).toString('utf8');
    try {
      JSON.parse(json);
    } catch (e) {
      throw shimError('SHIM_ERR_BAD_REQUEST', `Cannot update ${r.id}: the resources are not JSON (LinuxResources)`, { cause: e });
    }
    const file = path.join(c.bundle, 'update-resources.json');
    writeFileSync(file, json);
    try {
      await this.#runeOk(c, 'update', ['update', '--resources', file, r.id]);
    } finally {
      rmSync(file, { force: true });
    }
    return {};
  }

  async wait(r: { id: string; execId: string }): Promise<Record<string, unknown>> {
    const { p } = this.#proc(r.id, r.execId);
    await p.waitExit();
    return { exitStatus: p.exitStatus, exitedAt: timestampOf(p.exitedAt ?? new Date()) };
  }

  stats(r: { id: string }): Promise<Record<string, unknown>> {
    const c = this.#container(r.id);
    if (c.init.state === 'stopped' || c.init.pid <= 0) throw shimError('SHIM_ERR_STATE', `Cannot read the stats of ${r.id}: it is not running`);
    const metrics = readMetrics(cgroupPaths(c.init.pid));
    return Promise.resolve({ stats: { typeUrl: TYPE_URLS.Metrics, value: encodeMessage('Metrics', metrics) } });
  }

  connect(r: { id: string }): Promise<Record<string, unknown>> {
    const c = this.#containers.get(r.id);
    return Promise.resolve({ shimPid: process.pid, taskPid: c?.init.pid ?? 0, version: 'rune.v2' });
  }

  shutdown(r: { id: string; now: boolean }): Promise<Record<string, unknown>> {
    if (r.now || this.#containers.size === 0) setImmediate(() => this.#opts.onShutdown());
    return Promise.resolve({});
  }

  /** Kills every container (the shim is going away): used on SIGTERM. */
  async killAll(): Promise<void> {
    for (const c of this.#containers.values()) {
      await this.#rune(c.bundle, ['delete', '--force', c.id]);
      if (c.rootfsMounted) await runCommand('umount', ['-l', path.join(c.bundle, 'rootfs')], process.env);
    }
  }
}
