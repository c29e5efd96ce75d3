/**
 * Zombie reaping for init-runelet. As PID 1 of the container's PID namespace it inherits every orphaned
 * process, but Node.js only waits for the children it spawned itself. So on SIGCHLD (and once a second) the
 * reaper looks in /proc for zombies whose parent is this process and that Node.js does not own, and collects
 * them with waitpid(2) through koffi (loaded only when there is a zombie to reap). Children Node.js spawned
 * are left alone: libuv collects those and reports their exit status.
 */
import { readdirSync, readFileSync } from 'node:fs';

type Waitpid = (pid: number, status: Buffer, options: number) => number;

const WNOHANG = 1;

/** Pids of the zombies whose parent is `parent`, read from /proc. */
export function zombieChildren(parent: number, proc = '/proc'): number[] {
  const zombies: number[] = [];
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`${proc}/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' && Number(fields[1]) === parent) zombies.push(Number(entry));
  }
  return zombies;
}

/** Pids of the child processes Node.js itself owns (libuv reaps those). */
export function ownChildren(): Set<number> {
  const handles = (process as unknown as { _getActiveHandles(): { constructor: { name: string }; pid?: number }[] })._getActiveHandles();
  return new Set(handles.filter((h) => h.constructor.name === 'ChildProcess' && typeof h.pid === 'number').map((h) => h.pid!));
}

/** Starts reaping adopted zombies; returns a function that stops it. */
export function startReaper(): () => void {
  let waitpid: Waitpid | undefined;
  let running = false;
  const reap = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      const own = ownChildren();
      for (const pid of zombieChildren(process.pid)) {
        if (own.has(pid)) continue;
        if (waitpid === undefined) {
          const koffi = (await import('koffi')).default;
          waitpid = koffi.load('libc.so.6').func('int waitpid(int pid, _Out_ uint8_t *status, int options)') as unknown as Waitpid;
        }
        waitpid(pid, Buffer.alloc(4), WNOHANG);
      }
    } catch (err) {
      process.stderr.write(`init-runelet: cannot reap zombies: ${(err as Error).message}\n`);
    } finally {
      running = false;
    }
  };
  const onChild = (): void => void reap();
  process.on('SIGCHLD', onChild);
  const timer = setInterval(onChild, 1000);
  timer.unref();
  return () => {
    process.off('SIGCHLD', onChild);
    clearInterval(timer);
  };
}
