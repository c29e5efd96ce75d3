/**
 * Benchmark: containerd-shim-rune-v2 against containerd's runc shim, in one run on one containerd.
 *
 * 1. `ctr run --rm` of a plain container to its exit, alternating, N rounds:
 *      ours   --runtime io.containerd.rune.v2 (our shim, rune), a spare daemon waiting (docs/shim.md): its
 *             start hands the shim to the spare, no Node.js start
 *      handoff  handed to a waiting spare, with `spare = false`: the shim starts no next spare during the run
 *      nospare  `spare = false` and no spare waiting: start fork+execs Node.js
 *             (untimed between the runs: the spare is left to finish booting before the next timed run,
 *             killed before `nospare`, and made again by an untimed run before `ours`)
 *      runcb  --runtime io.containerd.runc.v2 --runc-binary dist/rune (runc's shim with BinaryName=rune)
 *      runc   --runtime io.containerd.runc.v2 (runc's shim, runc)
 *    and prints the medians and the ratios ours/runcb, ours/runc, runcb/runc.
 *    Then back to back: blocks of 10 runs with nothing waited for between them, spares on and off (a spare
 *    may not be ready yet, and its boot competes with the next run).
 * 2. Where our shim's time goes: Node.js start of the lean entry (`containerd-shim-rune-v2 -v`), the daemon's
 *    module load, the events path taken (ttrpc Forward vs the publish binary).
 * 3. Through CRI, one pod per round with K short containers (create, start, wait for the exit, remove), runtime
 *    handler "rune" (our shim) against "runc-shim" (runc's shim with BinaryName = rune), alternating: the
 *    pod's total, and the median time of a container after the pod's first (our shim's start is paid once
 *    per pod: the later containers reuse the running shim, and `start` is the C launcher's).
 *
 * Usage: node --import tsx bench/shim.ts [--rounds N]   (root; npm run build first)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { CRI_RUNTIME_HANDLER, RUNC_SHIM_HANDLER, startContainerd } from '../test/support/containerd.ts';
import { CriClient, type PodSandboxConfig } from '../test/support/cri.ts';
import { isAlive, listProcesses, makeOciImage, makeTempDir, removeTempDir, repoRoot, waitFor } from '../test/support/fixtures.ts';
import { SPARE_ARGV0 } from '../src/shim/spare.ts';

const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 20;
const DIST = path.join(repoRoot, 'dist');
const IMAGE = 'docker.io/inclavare/busybox:latest';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

let logFile = '';

function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    const log = logFile ? readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n') : '';
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.toString()}\ncontainerd's log:\n${log}`);
  }
  return ms;
}

const tmp = await makeTempDir('rune-bench-shim-');
const configPath = path.join(tmp, 'shim.toml');
writeFileSync(configPath, `root = ${JSON.stringify(path.join(tmp, 'containerd', 'rune-root'))}\n`);
const noSpareConfig = path.join(tmp, 'shim-nospare.toml');
writeFileSync(noSpareConfig, `root = ${JSON.stringify(path.join(tmp, 'containerd', 'rune-root'))}\nspare = false\n`);
const containerd = await startContainerd(tmp, { runtimeBinary: path.join(DIST, 'rune'), shim: { dir: DIST, configPath } });
logFile = containerd.logFile;
try {
  await containerd.importImage(await makeOciImage(path.join(tmp, 'image'), { name: IMAGE, cmd: ['sh'] }), 'default');
  const fifo = path.join(tmp, 'fifo');
  mkdirSync(fifo);
  const base = ['-a', containerd.address, '-n', 'default', 'run', '--rm', '--fifo-dir', fifo];
  /** Spares of this containerd: pid, control socket, whether it listens, its CPU time so far (ms). */
  const spares = async (): Promise<{ pid: number; ready: boolean; cpuMs: number }[]> =>
    (await listProcesses()).filter((p) => p.argv[0] === SPARE_ARGV0 && p.argv.includes(containerd.address) && isAlive(p.pid)).map((p) => {
      try {
        const control = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('RUNE_SHIM_SPARE='))?.slice(16) ?? '';
        const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return { pid: p.pid, ready: control !== '' && existsSync(control), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / 100 };
      } catch {
        return { pid: p.pid, ready: false, cpuMs: 0 };
      }
    });
  const spareBoot: number[] = [];
  let handedOver = 0; // ours and handoff rounds whose shim was the spare
  const ensureSpare = async (): Promise<number> => {
    if (!(await spares()).some((s) => s.ready)) timed('ctr', [...base, '--runtime', 'io.containerd.rune.v2', '--runtime-config-path', configPath, IMAGE, `mk-${Date.now()}`, 'true']);
    let pid = 0;
    await waitFor('a spare to listen', async () => {
      const ready = (await spares()).find((s) => s.ready);
      if (ready) {
        pid = ready.pid;
        spareBoot.push(ready.cpuMs);
      }
      return ready !== undefined;
    }, { timeoutMs: 20_000, intervalMs: 20 });
    return pid;
  };
  const killSpares = async (): Promise<void> => {
    const list = await spares();
    for (const s of list) process.kill(s.pid, 'SIGTERM');
    await waitFor('spares to exit', () => list.every((s) => !isAlive(s.pid)), { timeoutMs: 10_000 });
  };
  const variants: Record<string, (id: string) => string[]> = {
    ours: (id) => [...base, '--runtime', 'io.containerd.rune.v2', '--runtime-config-path', configPath, IMAGE, id, 'true'],
    // Handed to a waiting spare, but with `spare = false` the shim starts no next spare during the run.
    handoff: (id) => [...base, '--runtime', 'io.containerd.rune.v2', '--runtime-config-path', noSpareConfig, IMAGE, id, 'true'],
    nospare: (id) => [...base, '--runtime', 'io.containerd.rune.v2', '--runtime-config-path', noSpareConfig, IMAGE, id, 'true'],
    runcb: (id) => [...base, '--runtime', 'io.containerd.runc.v2', '--runc-binary', path.join(DIST, 'rune'), '--runc-root', containerd.runtimeRoot, IMAGE, id, 'true'],
    runc: (id) => [...base, '--runtime', 'io.containerd.runc.v2', IMAGE, id, 'true'],
  };
  const times: Record<string, number[]> = { ours: [], handoff: [], nospare: [], runcb: [], runc: [] };
  const prepare = async (name: string): Promise<number> => {
    if (name === 'ours' || name === 'handoff') return ensureSpare();
    if (name === 'nospare') await killSpares();
    else await ensureSpare(); // the spare made by `ours` boots before the next timed run, not during it
    return 0;
  };
  // One warm-up round each (page cache, containerd's snapshot of the image).
  for (const [name, args] of Object.entries(variants)) {
    await prepare(name);
    timed('ctr', args(`warm-${name}`));
  }
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, args] of Object.entries(variants)) {
      const spare = await prepare(name);
      times[name]!.push(timed('ctr', args(`b-${name}-${i}`)));
      // Used: the spare became a shim (its title changed) or already exited with the container.
      if ((name === 'ours' || name === 'handoff') && (!isAlive(spare) || !readFileSync(`/proc/${spare}/cmdline`, 'utf8').startsWith(`${SPARE_ARGV0}\0`))) handedOver++;
    }
  }
  await killSpares();
  // Back to back, nothing waited for between runs (a loop of ctr runs): blocks of 10 with spares and without.
  const loop: Record<string, number[]> = { ours: [], nospare: [] };
  for (let b = 0; b < Math.max(2, Math.floor(ROUNDS / 5)); b++) {
    for (const name of ['ours', 'nospare'] as const) {
      if (name === 'nospare') await killSpares();
      const t0 = performance.now();
      for (let k = 0; k < 10; k++) timed('ctr', variants[name]!(`l-${name}-${b}-${k}`));
      loop[name]!.push((performance.now() - t0) / 10);
    }
  }
  await killSpares();
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<string, number>;
  const entry = median(Array.from({ length: 10 }, () => timed(path.join(DIST, 'containerd-shim-rune-v2'), ['-v'])));
  const bare = median(Array.from({ length: 10 }, () => timed(process.execPath, ['-e', '0'])));
  const daemonChunk = median(Array.from({ length: 10 }, () => timed(process.execPath, ['--input-type=module', '-e',
    `const fs = await import('node:fs'); const d = fs.readdirSync(${JSON.stringify(path.join(DIST, 'chunks'))}).find((f) => /^daemon-.*\\.mjs$/.test(f)); await import(${JSON.stringify(path.join(DIST, 'chunks'))} + '/' + d);`])));
  const rows = [
    `cpus: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; rounds: ${ROUNDS} (alternating)`,
    `ctr run --rm (plain, to exit), median ms: ours (spare) ${m.ours!.toFixed(0)} | ours, no spare ${m.nospare!.toFixed(0)} | runc shim + rune ${m.runcb!.toFixed(0)} | runc shim + runc ${m.runc!.toFixed(0)}`,
    `ratio ours / (runc shim + rune): ${(m.ours! / m.runcb!).toFixed(2)}x (spare used in ${handedOver}/${2 * ROUNDS} runs); without a spare: ${(m.nospare! / m.runcb!).toFixed(2)}x`,
    `handed to a spare but starting no next one during the run (spare = false): ${m.handoff!.toFixed(0)} ms, ${(m.handoff! / m.runcb!).toFixed(2)}x`,
    `a spare's CPU time to boot and load the daemon (niced, off the timed runs), median: ${median(spareBoot).toFixed(0)} ms`,
    `back to back (blocks of 10 runs, nothing waited for), ms per run: with spares ${median(loop.ours!).toFixed(0)} | spare = false ${median(loop.nospare!).toFixed(0)} | ratio ${(median(loop.ours!) / median(loop.nospare!)).toFixed(2)}x`,
    `ratio ours / (runc shim + runc): ${(m.ours! / m.runc!).toFixed(2)}x`,
    `ratio (runc shim + rune) / (runc shim + runc): ${(m.runcb! / m.runc!).toFixed(2)}x`,
    `node -e 0: ${bare.toFixed(0)} ms; containerd-shim-rune-v2 -v (launcher + lean entry): ${entry.toFixed(0)} ms; daemon chunk load (node + import): ${daemonChunk.toFixed(0)} ms`,
  ];
  console.log(rows.join('\n'));

  // 3. Pods through CRI.
  await containerd.importImage(await makeOciImage(path.join(tmp, 'image-k8s'), { name: IMAGE, cmd: ['sh'] }), 'k8s.io');
  const cri = new CriClient(containerd.address);
  const K = 5;
  const podRounds = Math.max(3, Math.floor(ROUNDS / 3));
  const pod = async (handler: string): Promise<{ total: number; later: number[] }> => {
    const t0 = performance.now();
    const sandbox: PodSandboxConfig = {
      metadata: { name: `bench-${handler}`, uid: randomUUID(), namespace: 'default', attempt: 0 },
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
    };
    const podId = await cri.runPodSandbox(sandbox, handler);
    const later: number[] = [];
    for (let k = 0; k < K; k++) {
      const c0 = performance.now();
      const id = await cri.createContainer(podId, { metadata: { name: `c${k}`, attempt: 0 }, image: { image: IMAGE }, command: ['true'], linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } }, sandbox);
      await cri.startContainer(id);
      while ((await cri.containerStatus(id)).state !== 'CONTAINER_EXITED') await new Promise((r) => setTimeout(r, 5));
      await cri.removeContainer(id);
      if (k > 0) later.push(performance.now() - c0);
    }
    await cri.stopPodSandbox(podId);
    await cri.removePodSandbox(podId);
    return { total: performance.now() - t0, later };
  };
  const pods: Record<string, { total: number[]; later: number[] }> = { [CRI_RUNTIME_HANDLER]: { total: [], later: [] }, [RUNC_SHIM_HANDLER]: { total: [], later: [] } };
  for (let i = 0; i < podRounds; i++) {
    for (const h of [CRI_RUNTIME_HANDLER, RUNC_SHIM_HANDLER]) {
      const r = await pod(h);
      pods[h]!.total.push(r.total);
      pods[h]!.later.push(...r.later);
    }
  }
  cri.close();
  const ours = pods[CRI_RUNTIME_HANDLER]!;
  const theirs = pods[RUNC_SHIM_HANDLER]!;
  console.log([
    `CRI, ${podRounds} pods each (sandbox + ${K} containers run to exit), alternating:`,
    `pod total median ms: ours ${median(ours.total).toFixed(0)} | runc shim + rune ${median(theirs.total).toFixed(0)} | ratio ${(median(ours.total) / median(theirs.total)).toFixed(2)}x`,
    `a container after the pod's first, median ms: ours ${median(ours.later).toFixed(0)} | runc shim + rune ${median(theirs.later).toFixed(0)} | ratio ${(median(ours.later) / median(theirs.later)).toFixed(2)}x`,
  ].join('\n'));
} finally {
  await containerd.stop();
  await removeTempDir(tmp);
}
