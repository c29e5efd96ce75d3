/**
 * The in-process fuzzing engine behind scripts/fuzz.sh and the suite's short pass (test/unit/fuzz.test.ts).
 *
 * Structure-aware mutation, guided by outcomes: each target gives seeds (real vectors from test/vectors and
 * valid structures the code itself builds) and, optionally, mutators that know its format. Every input is
 * 1 to 4 stacked mutations of a pool entry: bit flips, interesting bytes and integers at any offset (all
 * fixed-layout length fields), byte runs inserted, deleted, duplicated, splices of two pool entries,
 * truncation, dictionary tokens, DER TLV length edits and JSON value edits. An input whose outcome (the
 * error code and the digit-free shape of its message, or the target's own label) was never seen joins the
 * pool: the run keeps the inputs that reach a new rejection, so later mutations start deeper in the parser.
 * (Jazzer.js, the coverage-guided fuzzer for Node, ships no Linux prebuilt in 4.0.0; docs/security.md.)
 *
 * The oracle, per input: the target either returns (an outcome label) or throws InclavareError whose class
 * is not `internal`. Anything else is a crash: a TypeError, a RangeError, a plain Error, an internal error,
 * or the target's own OracleViolation (a 5xx answer, a released key). An input slower than 1 s is a hang; a
 * watchdog thread kills the process (after saving the input) if one input runs more than 10 s without
 * returning. An input over 1 s is run again alone; only if it is slow again is it a hang (on this shared
 * machine a niced process can wait a second for the CPU). Memory: every `sampleEvery` inputs the heap is collected and measured (the JS heap plus array
 * buffers, where Node keeps Buffer bytes); a run fails when it grows at every one of 8 samples in a row by more than 32 MiB in total, or by 512 MiB at all.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { isInclavareError } from '../../src/errors/errors.ts';

/** Where stored inputs live: test/fuzz/corpus/<target>/ (seeds found interesting, and crash-<hash> files). */
export const CORPUS_ROOT = join(import.meta.dirname, 'corpus');
/** An input slower than this is a hang. */
export const HANG_MS = 1000;
/** The watchdog kills the process when one input has run this long. */
export const WATCHDOG_MS = 10_000;

/** Bounds of the guidance state (a target whose messages quote fuzzed text unquoted would grow it forever). */
const MAX_OUTCOMES = 20_000;
const MAX_POOL = 4000;

/** A target's own verdict that an input broke a promise (a 5xx answer, a key released to a fuzzed request). */
export class OracleViolation extends Error {
  override name = 'OracleViolation';
}

/** A seeded PRNG (xorshift128+ reduced to 32 bits): replayable runs. */
export class Rng {
  // plain fields: tsx lowers #private fields to WeakMap lookups, which costs more than the rest of a mutation
  private _s0: number;
  private _s1: number;
  private _s2: number;
  private _s3: number;
  constructor(seed: number) {
    // splitmix32 to spread the seed
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this._s0 = next() | 1;
    this._s1 = next();
    this._s2 = next();
    this._s3 = next();
  }
  /** xoshiro128** */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this._s1, 5), 7), 9) >>> 0;
    const t = this._s1 << 9;
    this._s2 ^= this._s0;
    this._s3 ^= this._s1;
    this._s1 ^= this._s2;
    this._s0 ^= this._s3;
    this._s2 ^= t;
    this._s3 = rotl(this._s3, 11);
    return r;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** One mutation: returns a new input (never modifies its argument in place). */
export type Mutator = (input: Uint8Array, rng: Rng, ctx: MutationContext) => Uint8Array;

export interface MutationContext {
  /** Another pool entry, for splicing. */
  other(): Uint8Array;
  dictionary: readonly Uint8Array[];
  maxLength: number;
}

/** What a target gives the engine once set up. */
export interface TargetInstance {
  /** Valid (or interesting) inputs to start from; at least one. */
  seeds: Uint8Array[];
  /**
   * Feeds one input to the parsers; returns an outcome label (for guidance) or throws. Throwing
   * InclavareError (not of class internal) is an accepted rejection; anything else is a crash.
   */
  run(input: Uint8Array): string | void | Promise<string | void>;
  /** Format-aware mutators, used for about half of the mutations. */
  mutators?: Mutator[];
  /** The share of mutations made by `mutators` rather than the generic ones (default 0.5). */
  specificShare?: number;
  /** Tokens the generic mutators insert and overwrite with. */
  dictionary?: Uint8Array[];
  /** Largest input generated (default 64 KiB). */
  maxLength?: number;
  /** Inputs run at once (async targets whose time is spent waiting on sockets; default 1). */
  concurrency?: number;
  /** Called every `resetEvery` inputs: drops accumulated state (a store full of fuzzed resources). */
  reset?(): Promise<void>;
  resetEvery?: number;
  close?(): Promise<void>;
}

/** A fuzz target: one parser family of untrusted bytes. */
export interface FuzzTarget {
  name: string;
  /** What it feeds and where (one line, for `scripts/fuzz.sh --list` and docs/security.md). */
  description: string;
  setup(): Promise<TargetInstance>;
}

const te = new TextEncoder();
export const utf8 = (s: string): Uint8Array => te.encode(s);

// ---------------------------------------------------------------------------------------------------------
// Generic mutators

const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x30, 0x0a, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x5c];
const INTERESTING_32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3ff, 0x400, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

function clampLength(out: Uint8Array, max: number): Uint8Array {
  return out.length > max ? out.subarray(0, max) : out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const flipBits: Mutator = (input, rng) => {
  if (input.length === 0) return rng.bytes(1);
  const out = input.slice();
  for (let k = 1 + rng.int(4); k > 0; k--) {
    const i = rng.int(out.length);
    out[i] = out[i]! ^ (1 << rng.int(8));
  }
  return out;
};

const setByte: Mutator = (input, rng) => {
  if (input.length === 0) return rng.bytes(1);
  const out = input.slice();
  out[rng.int(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING_8) : rng.int(256);
  return out;
};

/** Overwrites 1, 2, 4 or 8 bytes with an interesting integer, either endianness, or adds a small delta to the value there. */
const setInteger: Mutator = (input, rng) => {
  const width = rng.pick([1, 2, 4, 8]);
  if (input.length < width) return setByte(input, rng, { other: () => input, dictionary: [], maxLength: input.length + 1 });
  const out = input.slice();
  const at = rng.chance(0.5) ? rng.int(out.length - width + 1) & ~(width - 1) : rng.int(out.length - width + 1);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const little = rng.chance(0.7);
  if (width === 8) {
    view.setBigUint64(at, rng.chance(0.5) ? 0xffffffffffffffffn : BigInt(rng.pick(INTERESTING_32)), little);
    return out;
  }
  const max = 2 ** (8 * width);
  let value: number;
  if (rng.chance(0.5)) value = rng.pick(INTERESTING_32) % max;
  else {
    const current = width === 1 ? view.getUint8(at) : width === 2 ? view.getUint16(at, little) : view.getUint32(at, little);
    value = (current + rng.pick([-1, 1, -2, 2, 16, -16, 256, -256, 4096])) % max;
    if (value < 0) value += max;
  }
  if (width === 1) view.setUint8(at, value);
  else if (width === 2) view.setUint16(at, value, little);
  else view.setUint32(at, value, little);
  return out;
};

const insertBytes: Mutator = (input, rng, ctx) => {
  const at = rng.int(input.length + 1);
  const n = rng.chance(0.8) ? 1 + rng.int(8) : 1 + rng.int(512);
  const fill = rng.chance(0.3) ? new Uint8Array(n).fill(rng.pick(INTERESTING_8)) : rng.bytes(n);
  return clampLength(concat(input.subarray(0, at), fill, input.subarray(at)), ctx.maxLength);
};

const deleteBytes: Mutator = (input, rng) => {
  if (input.length < 2) return input.slice();
  const at = rng.int(input.length);
  const n = 1 + rng.int(rng.chance(0.7) ? Math.min(16, input.length - at) : input.length - at);
  return concat(input.subarray(0, at), input.subarray(at + n));
};

const duplicateRange: Mutator = (input, rng, ctx) => {
  if (input.length === 0) return rng.bytes(4);
  const at = rng.int(input.length);
  const n = 1 + rng.int(Math.min(256, input.length - at));
  const times = rng.chance(0.9) ? 1 : 1 + rng.int(64);
  const chunk = input.subarray(at, at + n);
  const parts = [input.subarray(0, at + n)];
  for (let k = 0; k < times; k++) parts.push(chunk);
  parts.push(input.subarray(at + n));
  return clampLength(concat(...parts), ctx.maxLength);
};

const copyWithin: Mutator = (input, rng) => {
  if (input.length < 2) return input.slice();
  const out = input.slice();
  const from = rng.int(out.length);
  const to = rng.int(out.length);
  const n = 1 + rng.int(Math.min(64, out.length - Math.max(from, to)));
  out.copyWithin(to, from, from + n);
  return out;
};

const truncate: Mutator = (input, rng) => input.slice(0, rng.int(input.length + 1));

const splice: Mutator = (input, rng, ctx) => {
  const other = ctx.other();
  const a = rng.int(input.length + 1);
  const b = rng.int(other.length + 1);
  return clampLength(concat(input.subarray(0, a), other.subarray(b)), ctx.maxLength);
};

const dictionary: Mutator = (input, rng, ctx) => {
  if (ctx.dictionary.length === 0) return flipBits(input, rng, ctx);
  const token = rng.pick(ctx.dictionary);
  const at = rng.int(input.length + 1);
  if (rng.chance(0.5)) return clampLength(concat(input.subarray(0, at), token, input.subarray(at)), ctx.maxLength);
  return clampLength(concat(input.subarray(0, at), token, input.subarray(Math.min(input.length, at + token.length))), ctx.maxLength);
};

export const GENERIC_MUTATORS: readonly Mutator[] = [flipBits, flipBits, setByte, setInteger, setInteger, insertBytes, deleteBytes, duplicateRange, copyWithin, truncate, splice, dictionary];

// ---------------------------------------------------------------------------------------------------------
// Structure-aware mutators

/** The offsets of DER length octets in `bytes` (a walk of nested TLVs from offset 0, up to `limit` of them). */
export function derLengthOffsets(bytes: Uint8Array, limit = 4096): { tag: number; lengthAt: number; lengthBytes: number; contentAt: number; length: number }[] {
  const found: { tag: number; lengthAt: number; lengthBytes: number; contentAt: number; length: number }[] = [];
  const walk = (start: number, end: number, depth: number): void => {
    let at = start;
    while (at + 2 <= end && found.length < limit) {
      const tag = bytes[at]!;
      if ((tag & 0x1f) === 0x1f) return; // high tag numbers: not in X.509
      const first = bytes[at + 1]!;
      let length: number;
      let lengthBytes: number;
      if (first < 0x80) {
        length = first;
        lengthBytes = 1;
      } else {
        const n = first & 0x7f;
        if (n === 0 || n > 4 || at + 2 + n > end) return;
        length = 0;
        for (let k = 0; k < n; k++) length = length * 256 + bytes[at + 2 + k]!;
        lengthBytes = 1 + n;
      }
      const contentAt = at + 1 + lengthBytes;
      if (contentAt + length > end) return;
      found.push({ tag, lengthAt: at + 1, lengthBytes, contentAt, length });
      // constructed, or an OCTET/BIT STRING that may wrap DER (extensions)
      if (depth < 24 && ((tag & 0x20) !== 0 || tag === 0x04 || tag === 0x03)) walk(tag === 0x03 ? contentAt + 1 : contentAt, contentAt + length, depth + 1);
      at = contentAt + length;
    }
  };
  walk(0, bytes.length, 0);
  return found;
}

function derLength(n: number, form: number): Uint8Array {
  if (form === 0 && n < 0x80) return Uint8Array.of(n);
  const out: number[] = [];
  for (let v = n; v > 0 || out.length === 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  while (out.length < form) out.unshift(0);
  return Uint8Array.from([0x80 | out.length, ...out]);
}

/** DER: edits a TLV's length (±1, 0, huge, indefinite, a non-minimal encoding), its tag, or drops/duplicates/swaps whole elements. */
export const derMutator: Mutator = (input, rng) => {
  const tlvs = derLengthOffsets(input);
  if (tlvs.length === 0) return flipBits(input, rng, { other: () => input, dictionary: [], maxLength: input.length });
  const t = rng.pick(tlvs);
  const start = t.lengthAt - 1;
  const end = t.contentAt + t.length;
  switch (rng.int(7)) {
    case 0: {
      const newLength = rng.pick([0, t.length - 1, t.length + 1, t.length + 2, 0x7f, 0x80, 0xffff, 0x7fffffff]);
      return concat(input.subarray(0, t.lengthAt), derLength(Math.max(0, newLength), 0), input.subarray(t.contentAt));
    }
    case 1: // non-minimal length encoding
      return concat(input.subarray(0, t.lengthAt), derLength(t.length, 1 + rng.int(3)), input.subarray(t.contentAt));
    case 2: // indefinite length
      return concat(input.subarray(0, t.lengthAt), Uint8Array.of(0x80), input.subarray(t.contentAt));
    case 3: {
      const out = input.slice();
      out[start] = rng.pick([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x17, 0x18, 0x30, 0x31, 0xa0, 0xa3, 0x80, 0x00, t.tag ^ 0x20]);
      return out;
    }
    case 4: // drop the element
      return concat(input.subarray(0, start), input.subarray(end));
    case 5: // duplicate the element
      return concat(input.subarray(0, end), input.subarray(start, end), input.subarray(end));
    default: {
      // replace the element with another one of this input
      const u = rng.pick(tlvs);
      return concat(input.subarray(0, start), input.subarray(u.lengthAt - 1, u.contentAt + u.length), input.subarray(end));
    }
  }
};

const JSON_EDGE_VALUES: unknown[] = [null, true, false, 0, -1, 1e308, -0, 2 ** 53 + 1, 0.5, '', 'x', '\u0000', '\ud800', 'a'.repeat(5000), [], {}, [[[[[[]]]]]], { a: { b: { c: {} } } }, '../../etc/passwd', 'kbs:///a/b/c', '00'.repeat(64)];

function jsonNodes(value: unknown, path: (string | number)[], out: (string | number)[][], limit: number): void {
  if (out.length >= limit || path.length > 48) return;
  out.push(path);
  if (Array.isArray(value)) value.forEach((v, i) => jsonNodes(v, [...path, i], out, limit));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) jsonNodes(v, [...path, k], out, limit);
}

/** JSON: parses the input and replaces, removes or duplicates one value (type swaps, edge numbers, long strings, deep nesting); non-JSON input gets a bit flip. */
export const jsonMutator: Mutator = (input, rng, ctx) => {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(input).toString('utf8'));
  } catch {
    return dictionary(input, rng, ctx);
  }
  const nodes: (string | number)[][] = [];
  jsonNodes(doc, [], nodes, 2000);
  const path = rng.pick(nodes);
  const pick = (): unknown => {
    switch (rng.int(4)) {
      case 0: {
        const n = rng.pick(nodes);
        let v: unknown = doc;
        for (const k of n) v = (v as Record<string | number, unknown>)[k];
        // a copy: the value may be an ancestor of where it goes
        return v === undefined ? null : JSON.parse(JSON.stringify(v));
      }
      case 1:
        return rng.pick([0, 1, -1, 255, 256, 65535, 2 ** 31, 2 ** 32, 1.5, -1e-7, Number.MAX_SAFE_INTEGER]);
      case 2: {
        if (!rng.chance(0.05)) return rng.pick(JSON_EDGE_VALUES);
        let deep: unknown = 'x';
        for (let k = rng.int(1500); k > 0; k--) deep = [deep];
        return deep;
      }
      default:
        return rng.pick(JSON_EDGE_VALUES);
    }
  };
  if (path.length === 0) doc = pick();
  else {
    let parent: unknown = doc;
    for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k];
    const key = path[path.length - 1]!;
    const p = parent as Record<string | number, unknown>;
    const r = rng.int(10);
    if (r === 0 && Array.isArray(p)) p.splice(key as number, 1);
    else if (r === 0) delete p[key];
    else if (r === 1 && Array.isArray(p)) p.push(structuredClone(p[key]));
    else if (r === 1) p[`${String(key)}_`] = structuredClone(p[key]);
    else if (r === 2 && typeof p[key] === 'string') p[key] = (p[key] as string).slice(0, rng.int((p[key] as string).length + 1)) + rng.pick(['', '"', '\\', '\u0000', 'é', '=', '/', '..', '%2e']);
    else p[key] = pick();
  }
  let text: string;
  try {
    text = JSON.stringify(doc) ?? 'null';
  } catch {
    return dictionary(input, rng, ctx); // nested deeper than JSON.stringify goes
  }
  // duplicate keys and trailing bytes, which JSON.stringify never writes
  if (rng.chance(0.05) && text.startsWith('{"')) {
    const close = text.indexOf('"', 2);
    text = `{${text.slice(1, close + 1)}:1,${text.slice(1)}`;
  }
  return clampLength(utf8(text), ctx.maxLength);
};

// ---------------------------------------------------------------------------------------------------------
// Running

export interface RunOptions {
  runs: number;
  seed: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Measure memory every this many inputs (default max(1000, runs / 40)). */
  sampleEvery?: number;
  /** Write crashing inputs to test/fuzz/corpus/<target>/crash-<hash> (default true). */
  saveCrashes?: boolean;
  /** Write up to this many pool entries that reached new outcomes to the corpus (default 0). */
  saveNew?: number;
  /** Stop at the first failure (default true). */
  stopOnFailure?: boolean;
  /** Use the watchdog thread (default true). */
  watchdog?: boolean;
}

export interface Failure {
  kind: 'crash' | 'hang' | 'memory';
  message: string;
  input?: Uint8Array;
  file?: string;
}

export interface RunResult {
  target: string;
  runs: number;
  seconds: number;
  perSecond: number;
  /** The slowest input (ms) and its outcome. */
  slowestMs: number;
  slowestOutcome: string;
  slowestInput: Uint8Array;
  /** Inputs over 1 s that took under 1 s when run again (a loaded machine). */
  unconfirmedSlow: number;
  /** Distinct outcomes seen; the pool's size at the end. */
  outcomes: number;
  pool: number;
  /** Outcome label → count (top ones). */
  counts: Map<string, number>;
  heapStartMb: number;
  heapEndMb: number;
  heapMaxMb: number;
  rssMaxMb: number;
  failures: Failure[];
}

let gcFn: (() => void) | undefined;
function collect(): void {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
}

/** The outcome of an accepted rejection: its code and the shape of its message (digits, hex and quoted text removed). */
function outcomeOf(err: { code: string; message: string }): string {
  const shape = err.message
    .replace(/"(?:[^"\\]|\\.)*"?/g, 'S')
    .replace(/'[^']*'/g, 'C')
    .replace(/0x[0-9a-f]+|[0-9a-f]{8,}|\d+/gi, 'N')
    .replace(/\.\.\./g, '')
    .slice(0, 100);
  return `${err.code}: ${shape}`;
}

export function hashOf(input: Uint8Array): string {
  return createHash('sha256').update(input).digest('hex').slice(0, 16);
}

/** The stored inputs of a target: test/fuzz/corpus/<target>/* (crashes included). */
export function storedInputs(target: string): { name: string; bytes: Uint8Array }[] {
  const dir = join(CORPUS_ROOT, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => statSync(join(dir, f)).isFile() && f !== 'README.md')
    .sort()
    .map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(dir, f))) }));
}

/** Runs one input through the oracle; returns its outcome or a failure description. */
export type Verdict = { ok: true; outcome: string } | { ok: false; message: string };

function verdictOfError(err: unknown): Verdict {
  if (isInclavareError(err) && err.errorClass !== 'internal') return { ok: true, outcome: outcomeOf(err) };
  const e = err as Error;
  const what = isInclavareError(err) ? `internal error ${err.code}` : `${e?.name ?? typeof err}`;
  return { ok: false, message: `${what}: ${e?.message ?? String(err)}\n${e?.stack?.split('\n').slice(1, 8).join('\n') ?? ''}` };
}

/** Runs one input through the oracle: synchronously for a synchronous target (no microtask per input). */
export function judgeNow(instance: TargetInstance, input: Uint8Array): Verdict | Promise<Verdict> {
  let r: string | void | Promise<string | void>;
  try {
    r = instance.run(input);
  } catch (err) {
    return verdictOfError(err);
  }
  if (r instanceof Promise) return r.then((label) => ({ ok: true as const, outcome: label ?? 'accepted' }), verdictOfError);
  return { ok: true, outcome: r ?? 'accepted' };
}

/** Runs one input through the oracle; returns its outcome or a failure description. */
export async function judge(instance: TargetInstance, input: Uint8Array): Promise<Verdict> {
  return judgeNow(instance, input);
}

interface Watchdog {
  beat(input: Uint8Array): void;
  idle(): void;
  stop(): Promise<void>;
}

const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeFileSync, mkdirSync } = require('node:fs');
const { createHash } = require('node:crypto');
const state = new Int32Array(workerData.state);
const data = new Uint8Array(workerData.data);
let last = -1, since = Date.now();
setInterval(() => {
  if (Atomics.load(state, 2) === 1) process.exit(0);
  const beat = Atomics.load(state, 0);
  if (beat !== last || Atomics.load(state, 3) === 0) { last = beat; since = Date.now(); return; }
  if (Date.now() - since < workerData.limitMs) return;
  const input = data.slice(0, Atomics.load(state, 1));
  const name = 'hang-' + createHash('sha256').update(input).digest('hex').slice(0, 16);
  try { mkdirSync(workerData.dir, { recursive: true }); writeFileSync(workerData.dir + '/' + name, input); } catch {}
  process.stderr.write('fuzz: target ' + workerData.target + ': one input ran over ' + workerData.limitMs + ' ms; saved it as ' + workerData.dir + '/' + name + ' and killed the process\\n');
  process.kill(process.pid, 'SIGKILL');
}, 250);
`;

function startWatchdog(target: string, maxLength: number, save: boolean): Watchdog {
  const state = new SharedArrayBuffer(16);
  const data = new SharedArrayBuffer(Math.max(1, maxLength));
  const s = new Int32Array(state);
  const d = new Uint8Array(data);
  const dir = save ? join(CORPUS_ROOT, target) : join(process.env.TMPDIR ?? '/tmp', `fuzz-hang-${target}`);
  const worker = new Worker(WATCHDOG_SOURCE, { eval: true, workerData: { state, data, limitMs: WATCHDOG_MS, dir, target } });
  worker.unref();
  let n = 0;
  return {
    beat(input) {
      const len = Math.min(input.length, d.length);
      d.set(input.subarray(0, len));
      Atomics.store(s, 1, len);
      Atomics.store(s, 3, 1);
      Atomics.store(s, 0, ++n);
    },
    idle() {
      Atomics.store(s, 3, 0);
    },
    async stop() {
      Atomics.store(s, 2, 1);
      await worker.terminate();
    },
  };
}

/** Fuzzes `target` for `options.runs` inputs. */
export async function fuzzTarget(target: FuzzTarget, options: RunOptions): Promise<RunResult> {
  const log = options.log ?? (() => {});
  const instance = await target.setup();
  const maxLength = instance.maxLength ?? 65536;
  const rng = new Rng(options.seed);
  const stored = storedInputs(target.name).map((s) => s.bytes);
  const pool: Uint8Array[] = [...instance.seeds, ...stored];
  if (pool.length === 0) pool.push(new Uint8Array(0));
  const fresh: Uint8Array[] = [];
  const seen = new Map<string, number>();
  const failures: Failure[] = [];
  const stopOnFailure = options.stopOnFailure ?? true;
  const saveCrashes = options.saveCrashes ?? true;
  const sampleEvery = options.sampleEvery ?? Math.max(1000, Math.floor(options.runs / 40));
  const specific = instance.mutators ?? [];
  const specificShare = instance.specificShare ?? 0.5;
  const ctx: MutationContext = { other: () => rng.pick(pool), dictionary: instance.dictionary ?? [], maxLength };
  const watchdog = options.watchdog === false ? undefined : startWatchdog(target.name, maxLength, saveCrashes);

  const fail = (kind: Failure['kind'], message: string, input?: Uint8Array): void => {
    let file: string | undefined;
    if (input !== undefined && saveCrashes) {
      const dir = join(CORPUS_ROOT, target.name);
      mkdirSync(dir, { recursive: true });
      file = join(dir, `${kind}-${hashOf(input)}`);
      writeFileSync(file, input);
    }
    failures.push({ kind, message, ...(input ? { input } : {}), ...(file ? { file } : {}) });
    log(`  FAIL ${kind}: ${message.split('\n')[0]}${file ? `\n  input saved: ${file}` : ''}`);
  };

  collect();
  const memoryNow = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const heapStart = memoryNow();
  let heapMax = heapStart;
  let rssMax = process.memoryUsage().rss;
  const samples: number[] = [];
  let slowestMs = 0;
  let slowestOutcome = '';
  let slowestInput: Uint8Array = new Uint8Array(0);
  let unconfirmed = 0;
  const started = performance.now();
  let done = 0;
  // Every seed and stored input first, unmutated: the corpus is replayed on every run.
  const queue = pool.slice();
  try {
    const width = instance.concurrency ?? 1;
    let nextSample = sampleEvery;
    let nextReset = instance.resetEvery ?? Infinity;
    let stop = false;
    const next = (): { input: Uint8Array; queued: boolean } => {
      if (queue.length > 0) return { input: queue.shift()!, queued: true };
      let input = rng.pick(pool);
      for (let k = rng.chance(0.5) ? 1 : 1 + rng.int(4); k > 0; k--) {
        const m = specific.length > 0 && rng.chance(specificShare) ? rng.pick(specific) : rng.pick(GENERIC_MUTATORS);
        input = m(input, rng, ctx);
      }
      return { input: input.length > maxLength ? input.subarray(0, maxLength) : input, queued: false };
    };
    const timed = async (input: Uint8Array): Promise<{ verdict: Verdict; ms: number }> => {
      const t0 = performance.now();
      const verdict = await judgeNow(instance, input);
      return { verdict, ms: performance.now() - t0 };
    };
    while (done < options.runs && !stop) {
      const batch: { input: Uint8Array; queued: boolean }[] = [];
      for (let j = 0; j < width && done + batch.length < options.runs; j++) batch.push(next());
      // with several inputs in flight, the watchdog saves the first of them
      watchdog?.beat(batch[0]!.input);
      let results: { verdict: Verdict; ms: number }[];
      if (batch.length === 1) {
        const t0 = performance.now();
        const pending = judgeNow(instance, batch[0]!.input);
        const verdict = pending instanceof Promise ? await pending : pending;
        results = [{ verdict, ms: performance.now() - t0 }];
      } else results = await Promise.all(batch.map((b) => timed(b.input)));
      watchdog?.idle();
      for (let j = 0; j < batch.length; j++) {
        const { input, queued } = batch[j]!;
        const { verdict, ms } = results[j]!;
        done++;
        if (!verdict.ok) {
          fail('crash', verdict.message, input);
          if (stopOnFailure) stop = true;
          continue;
        }
        if (ms > slowestMs) {
          slowestMs = ms;
          slowestOutcome = verdict.outcome;
          slowestInput = input;
        }
        if (ms > HANG_MS) {
          // Confirmed by a second run alone: on a loaded machine a niced process can lose the CPU for a second.
          const again = await timed(input);
          if (again.ms > HANG_MS) {
            fail('hang', `one input took ${ms.toFixed(0)} ms, and ${again.ms.toFixed(0)} ms again (> ${HANG_MS} ms): ${verdict.outcome}`, input);
            if (stopOnFailure) stop = true;
          } else {
            unconfirmed++;
            log(`  note: one input took ${ms.toFixed(0)} ms but ${again.ms.toFixed(1)} ms when run again (the machine, not the input)`);
          }
        }
        const count = seen.get(verdict.outcome);
        if (count !== undefined || seen.size < MAX_OUTCOMES) seen.set(verdict.outcome, (count ?? 0) + 1);
        if (count === undefined && !queued && pool.length < MAX_POOL) {
          pool.push(input);
          fresh.push(input);
        }
      }
      if (stop) break;
      if (instance.reset && done >= nextReset) {
        await instance.reset();
        nextReset += instance.resetEvery!;
      }
      if (done >= nextSample) {
        nextSample += sampleEvery;
        collect();
        const m = process.memoryUsage();
        const used = m.heapUsed + m.arrayBuffers;
        heapMax = Math.max(heapMax, used);
        rssMax = Math.max(rssMax, m.rss);
        samples.push(used);
        const secs = (performance.now() - started) / 1000;
        log(`  ${target.name}: ${done} inputs, ${(done / secs).toFixed(0)}/s, ${seen.size} outcomes, heap ${(used / 2 ** 20).toFixed(0)} MiB, rss ${(m.rss / 2 ** 20).toFixed(0)} MiB, slowest ${slowestMs.toFixed(0)} ms`);
        const last = samples.slice(-9);
        if (last.length === 9 && last.every((v, i) => i === 0 || v > last[i - 1]!) && last[8]! - last[0]! > 32 * 2 ** 20) {
          fail('memory', `the heap grew at each of the last 8 samples, from ${(last[0]! / 2 ** 20).toFixed(0)} to ${(last[8]! / 2 ** 20).toFixed(0)} MiB`);
          if (stopOnFailure) break;
        }
        if (used - heapStart > 512 * 2 ** 20) {
          fail('memory', `the heap grew by ${((used - heapStart) / 2 ** 20).toFixed(0)} MiB`);
          if (stopOnFailure) break;
        }
      }
    }
  } finally {
    await watchdog?.stop();
    await instance.close?.();
  }
  const seconds = (performance.now() - started) / 1000;
  collect();
  const heapEnd = memoryNow();
  if (options.saveNew && options.saveNew > 0) {
    const dir = join(CORPUS_ROOT, target.name);
    mkdirSync(dir, { recursive: true });
    for (const input of fresh.filter((f) => f.length <= 8192).slice(0, options.saveNew)) writeFileSync(join(dir, `seed-${hashOf(input)}`), input);
  }
  const counts = new Map([...seen.entries()].sort((a, b) => b[1] - a[1]));
  return {
    target: target.name,
    runs: done,
    seconds,
    perSecond: done / seconds,
    slowestMs,
    slowestOutcome,
    slowestInput,
    unconfirmedSlow: unconfirmed,
    outcomes: seen.size,
    pool: pool.length,
    counts,
    heapStartMb: heapStart / 2 ** 20,
    heapEndMb: heapEnd / 2 ** 20,
    heapMaxMb: Math.max(heapMax, heapEnd) / 2 ** 20,
    rssMaxMb: rssMax / 2 ** 20,
    failures,
  };
}
