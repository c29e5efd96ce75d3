/**
 * What exists for a container on this machine, next to what `rune list` says, for the fault-injection and
 * load tests (docs/security.md "Fault injection"): rune's and runc's state directories, the processes in the
 * container's cgroup (found by scanning /proc), its cgroup directories (cgroup v1 hybrid: one per
 * hierarchy), host mounts under rune's root or the container's bundle, and its inclavared registration
 * (registry entry and attestation socket directory). `consistencyProblems` says where `rune list` and the
 * machine disagree; `leftovers` names everything that is still there after a delete.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupParents, isAlive } from './fixtures.ts';

/** How to reach one rune installation and its inclavared. */
export interface RuneSetup {
  /** The rune binary (the launcher). */
  rune: string;
  /** rune's --root. */
  root: string;
  /** $INCLAVARED_ROOT of the daemon rune registers enclave containers with. */
  inclavaredRoot: string;
  /** The environment rune runs with. */
  env?: NodeJS.ProcessEnv;
}

/** One container as `rune list --format json` shows it. */
export interface Listed {
  id: string;
  pid: number;
  status: string;
  bundle: string;
}

/** Everything that exists for one container id. */
export interface ContainerReality {
  id: string;
  listed: Listed | undefined;
  /** ROOT/ID exists. */
  stateDir: boolean;
  /** ROOT/ID/runc/ID (runc's state) exists. */
  backendState: boolean;
  /** ROOT/ID/enclave.json exists. */
  enclave: boolean;
  /** Live (non-zombie) processes whose cgroup is the container's. */
  processes: number[];
  /** The container's cgroup directories. */
  cgroups: string[];
  /** Host mount points under ROOT/ID or the container's bundle. */
  mounts: string[];
  /** The inclavared key of ROOT/ID, whether the registry names it and whether its socket directory exists. */
  registration: { key: string; registered: boolean; socketDir: boolean };
}

/** `rune list --format json` (throws when rune fails). */
export function runeList(setup: RuneSetup): Listed[] {
  const res = spawnSync(setup.rune, ['--root', setup.root, 'list', '--format', 'json'], { env: setup.env ?? process.env, encoding: 'utf8', timeout: 60_000 });
  if (res.status !== 0) throw new Error(`rune list failed (${res.status ?? res.signal}): ${res.stderr}`);
  return (JSON.parse(res.stdout) as Listed[] | null) ?? [];
}

/** The inclavared key of a container: a digest of rune's state directory (src/rune/enclave/attestation.ts). */
export function registrationKey(root: string, id: string): string {
  return createHash('sha256').update(join(root, id)).digest('hex').slice(0, 24);
}

/** The ids in inclavared's registry (ROOT/containers.json). */
export function registeredKeys(inclavaredRoot: string): string[] {
  const file = join(inclavaredRoot, 'containers.json');
  if (!existsSync(file)) return [];
  return (JSON.parse(readFileSync(file, 'utf8')) as { containers: { id: string }[] }).containers.map((c) => c.id);
}

/** Socket directories under inclavared's ROOT/containers that its registry does not name (a crash's leftovers). */
export function orphanSocketDirs(inclavaredRoot: string): string[] {
  const dir = join(inclavaredRoot, 'containers');
  if (!existsSync(dir)) return [];
  const known = new Set(registeredKeys(inclavaredRoot));
  return readdirSync(dir).filter((name) => !known.has(name)).map((name) => join(dir, name));
}

/** A cgroup path names the container when its last component is the id (runc) or libpod-ID (podman). */
function cgroupNames(path: string, id: string): boolean {
  const last = path.slice(path.lastIndexOf('/') + 1);
  return last === id || last === `libpod-${id}`;
}

/** Live processes whose cgroup (in any hierarchy) is the container's. */
export function containerProcesses(id: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/cgroup`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const inside = text.split('\n').some((line) => {
      const path = line.split(':').slice(2).join(':');
      return path !== '' && cgroupNames(path, id);
    });
    if (inside && isAlive(Number(name))) pids.push(Number(name));
  }
  return pids;
}

/** The container's cgroup directories: ID or libpod-ID below each hierarchy (and this process's cgroup in it), or podman's libpod_parent. */
export async function containerCgroups(id: string): Promise<string[]> {
  const found: string[] = [];
  for (const parent of await cgroupParents()) {
    for (const dir of [join(parent, id), join(parent, 'libpod_parent', `libpod-${id}`)]) if (existsSync(dir)) found.push(dir);
  }
  return found;
}

/** Host mount points at or below any of `dirs`. */
export function mountsUnder(dirs: readonly string[]): string[] {
  const points: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp !== undefined && dirs.some((d) => mp === d || mp.startsWith(`${d}/`))) points.push(mp);
  }
  return points;
}

/** What exists for container `id`. `bundles` are extra directories whose host mounts count as the container's. */
export async function inspectContainer(setup: RuneSetup, id: string, options: { listed?: Listed[]; bundles?: readonly string[] } = {}): Promise<ContainerReality> {
  const listed = (options.listed ?? runeList(setup)).find((c) => c.id === id);
  const dir = join(setup.root, id);
  const key = registrationKey(setup.root, id);
  const bundles = [...(options.bundles ?? []), ...(listed !== undefined ? [listed.bundle] : [])];
  return {
    id,
    listed,
    stateDir: existsSync(dir),
    backendState: existsSync(join(dir, 'runc', id)),
    enclave: existsSync(join(dir, 'enclave.json')),
    processes: containerProcesses(id),
    cgroups: await containerCgroups(id),
    mounts: mountsUnder([dir, ...bundles]),
    registration: {
      key,
      registered: registeredKeys(setup.inclavaredRoot).includes(key),
      socketDir: existsSync(join(setup.inclavaredRoot, 'containers', key)),
    },
  };
}

/**
 * Where `rune list` and the machine disagree for one container: a listed container must have its state; a
 * created, running or paused one its init process alive in its cgroup; a stopped or unlisted one no
 * process; an unlisted one no cgroup; nothing may be mounted on the host for it; an attested enclave
 * container (`tee` given) must be registered with its socket while it is listed, and an unregistered key
 * must have no socket directory.
 */
export function consistencyProblems(r: ContainerReality, options: { attested?: boolean } = {}): string[] {
  const problems: string[] = [];
  const say = (what: string): void => void problems.push(`${r.id}: ${what}`);
  if (r.listed !== undefined) {
    if (!r.backendState) say(`listed as ${r.listed.status} without runc state`);
    if (['created', 'running', 'paused'].includes(r.listed.status)) {
      if (!isAlive(r.listed.pid)) say(`listed as ${r.listed.status} with pid ${r.listed.pid}, which is not alive`);
      else if (!r.processes.includes(r.listed.pid)) say(`listed pid ${r.listed.pid} is not in the container's cgroup`);
    } else if (r.processes.length > 0) {
      say(`listed as ${r.listed.status} but processes ${r.processes.join(', ')} run in its cgroup`);
    }
    if (options.attested === true && r.enclave && !(r.registration.registered && r.registration.socketDir)) {
      say(`listed enclave container without its inclavared registration (registered ${r.registration.registered}, socket dir ${r.registration.socketDir})`);
    }
  } else {
    if (r.processes.length > 0) say(`not listed but processes ${r.processes.join(', ')} run in its cgroup`);
    if (r.cgroups.length > 0) say(`not listed but its cgroups exist: ${r.cgroups.join(', ')}`);
  }
  if (r.mounts.length > 0) say(`host mounts left: ${r.mounts.join(', ')}`);
  if (r.registration.socketDir && !r.registration.registered) say(`socket directory of unregistered key ${r.registration.key} exists`);
  return problems;
}

/** Everything still there for a container that should be gone. */
export function leftovers(r: ContainerReality): string[] {
  const left: string[] = [];
  if (r.listed !== undefined) left.push(`listed as ${r.listed.status}`);
  if (r.stateDir) left.push('rune state dir');
  if (r.backendState) left.push('runc state dir');
  if (r.processes.length > 0) left.push(`processes ${r.processes.join(', ')}`);
  if (r.cgroups.length > 0) left.push(`cgroups ${r.cgroups.join(', ')}`);
  if (r.mounts.length > 0) left.push(`mounts ${r.mounts.join(', ')}`);
  if (r.registration.registered) left.push(`inclavared registration ${r.registration.key}`);
  if (r.registration.socketDir) left.push(`attestation socket dir ${r.registration.key}`);
  return left.map((l) => `${r.id}: ${l}`);
}
