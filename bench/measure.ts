/**
 * Benchmark: the rootfs measurement (src/rune/enclave/tree-digest.ts, what `rune create` and `tee-tools
 * measure` run) against the reference tools on the same tree in the same run: `sha384sum` of every regular
 * file (find | xargs) and `tar -c | sha384sum` of the whole tree. Page cache warm (one warm-up of each),
 * then rounds alternating the order; the figures are medians and the ratio ours / reference.
 *
 * Trees: a busybox rootfs (test/support/busybox.ts) and a generated Debian-sized tree (a few thousand files
 * in a few hundred directories, sizes from a few bytes to a few MB, symlinks).
 *
 * Usage: node --import tsx bench/measure.ts [--rounds N] [--files N]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBusyboxRootfs } from '../test/support/busybox.ts';
import { exclusionList, treeDigest } from '../src/rune/enclave/tree-digest.ts';
import { nodeTreeReader } from '../src/sys/tree.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const ROUNDS = arg('--rounds', 7);
const FILES = arg('--files', 5000);

/** A deterministic pseudo-random generator (xorshift32), so every run builds the same tree. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function makeLargeTree(dir: string, files: number): { bytes: number } {
  const r = rng(12345);
  const dirs = ['usr/bin', 'usr/lib', 'usr/share/doc', 'etc', 'var/lib/dpkg/info', 'usr/share/locale', 'usr/include'];
  for (let i = 0; i < files / 15; i++) dirs.push(`${dirs[Math.floor(r() * dirs.length)]}/d${i}`);
  for (const d of dirs) mkdirSync(join(dir, d), { recursive: true });
  let bytes = 0;
  const block = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 2654435761) >>> 24;
  for (let i = 0; i < files; i++) {
    // sizes: most files small (docs, configs, scripts), some shared libraries and binaries of MBs
    const u = r();
    const size = u < 0.6 ? Math.floor(r() * 4096) : u < 0.95 ? Math.floor(r() * 64 * 1024) : Math.floor(r() * 4 * 1024 * 1024);
    const d = dirs[Math.floor(r() * dirs.length)]!;
    const data = Buffer.from(block.subarray(0, size));
    data.writeUInt32BE(i, 0 < size - 4 ? 0 : 0);
    writeFileSync(join(dir, d, `f${i}`), size >= 4 ? data : Buffer.alloc(size, i));
    bytes += size;
    if (i % 10 === 0) symlinkSync(`f${i}`, join(dir, d, `l${i}`));
  }
  return { bytes };
}

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function sh(script: string): void {
  const r = spawnSync('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${script} failed`);
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function bench(name: string, dir: string): Promise<void> {
  const excluded = exclusionList([]);
  const ours = (): Promise<unknown> => treeDigest(dir, { excluded, reader: nodeTreeReader });
  const sums = (): void => sh(`cd '${dir}' && find . -type f -print0 | xargs -0 -r sha384sum > /dev/null`);
  const tar = (): void => sh(`tar -C '${dir}' -cf - . | sha384sum > /dev/null`);
  const info = await treeDigest(dir, { excluded, reader: nodeTreeReader });
  sums();
  tar();
  const t = { ours: [] as number[], sums: [] as number[], tar: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? ['ours', 'sums', 'tar'] : ['tar', 'sums', 'ours'];
    for (const which of order) {
      if (which === 'ours') t.ours.push(await timeAsync(ours));
      else if (which === 'sums') t.sums.push(time(sums));
      else t.tar.push(time(tar));
    }
  }
  const [o, s, r] = [median(t.ours), median(t.sums), median(t.tar)];
  console.log(
    `${name}: ${info.entries} entries, ${(info.bytes / 1e6).toFixed(1)} MB hashed | treeDigest ${o.toFixed(1)} ms | find+sha384sum ${s.toFixed(1)} ms (ratio ${(o / s).toFixed(2)}) | tar|sha384sum ${r.toFixed(1)} ms (ratio ${(o / r).toFixed(2)})`,
  );
}

const work = mkdtempSync(join(tmpdir(), 'measure-bench-'));
try {
  console.log(`${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node.js ${process.version}, ${ROUNDS} rounds, medians`);
  const busybox = join(work, 'busybox');
  makeBusyboxRootfs(busybox);
  await bench('busybox rootfs', busybox);
  const large = join(work, 'large');
  const { bytes } = makeLargeTree(large, FILES);
  await bench(`generated tree (${FILES} files, ${(bytes / 1e6).toFixed(0)} MB)`, large);
} finally {
  rmSync(work, { recursive: true, force: true });
}
