/**
 * A protobuf (proto3) wire codec driven by field tables like {@link MESSAGE_FIELDS}: enough for the shim's
 * messages (strings, bytes, bools, 32/64-bit varints, nested and repeated messages, packed repeated scalars).
 * The shim's daemon starts once per pod on the path of every `ctr run`; a general protobuf library with its
 * descriptor machinery cost it more to load than the whole codec does to run (docs/benchmarks.md).
 *
 * Decoding is strict about form (a truncated varint or field, a known field with the wrong wire type, a
 * group, field number 0: a RangeError) and skips unknown fields; fuzzed in test/unit/shim/ttrpc.test.ts.
 */

/** Field scalar types. */
export type Scalar = 'string' | 'bytes' | 'bool' | 'uint32' | 'int32' | 'int64' | 'uint64';
/** One field: [name (snake_case), number, type (a scalar or `.Message`), repeated?]. */
export type FieldSpec = readonly [name: string, number: number, type: Scalar | `.${string}`, repeated?: 'repeated'];
/** A table of messages. */
export type MessageTable = Readonly<Record<string, readonly FieldSpec[]>>;

interface Field {
  name: string;
  number: number;
  type: Scalar | 'message';
  message: string;
  repeated: boolean;
}

const camel = (name: string): string => name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
const utf8 = new TextDecoder();
const utf8enc = new TextEncoder();

/** Encodes and decodes the messages of one table. */
export class Codec {
  readonly #fields = new Map<string, Field[]>();
  readonly #byNumber = new Map<string, Map<number, Field>>();

  constructor(table: MessageTable) {
    for (const [msg, specs] of Object.entries(table)) {
      const fields = specs.map(([name, number, type, repeated]): Field => ({
        name: camel(name),
        number,
        type: type.startsWith('.') ? 'message' : (type as Scalar),
        message: type.startsWith('.') ? type.slice(1) : '',
        repeated: repeated === 'repeated',
      }));
      this.#fields.set(msg, fields);
      this.#byNumber.set(msg, new Map(fields.map((f) => [f.number, f])));
    }
  }

  #table(msg: string): Field[] {
    const f = this.#fields.get(msg);
    if (f === undefined) throw new TypeError(`${msg} is not declared`);
    return f;
  }

  /** Encodes a plain object with camelCase field names; absent fields (and proto3 defaults) are left out. */
  encode(msg: string, value: Record<string, unknown>): Uint8Array {
    const out = new Writer();
    this.#encodeInto(out, msg, value);
    return out.finish();
  }

  #encodeInto(out: Writer, msg: string, value: Record<string, unknown>): void {
    for (const f of this.#table(msg)) {
      const v = value[f.name];
      if (v === undefined || v === null) continue;
      if (f.repeated) {
        const list = v as unknown[];
        if (f.type === 'message' || f.type === 'string' || f.type === 'bytes') {
          for (const item of list) this.#encodeOne(out, f, item);
        } else if (list.length > 0) {
          const packed = new Writer();
          for (const item of list) packed.scalar(f.type, item);
          out.tag(f.number, 2);
          out.bytes(packed.finish());
        }
        continue;
      }
      if (f.type !== 'message' && isDefault(f.type, v)) continue;
      this.#encodeOne(out, f, v);
    }
  }

  #encodeOne(out: Writer, f: Field, v: unknown): void {
    if (f.type === 'message') {
      const inner = new Writer();
      this.#encodeInto(inner, f.message, v as Record<string, unknown>);
      out.tag(f.number, 2);
      out.bytes(inner.finish());
    } else if (f.type === 'string') {
      out.tag(f.number, 2);
      out.bytes(utf8enc.encode(String(v)));
    } else if (f.type === 'bytes') {
      out.tag(f.number, 2);
      out.bytes(v as Uint8Array);
    } else {
      out.tag(f.number, 0);
      out.scalar(f.type, v);
    }
  }

  /** Decodes bytes into a plain object with every declared field (defaults for absent scalars and lists). */
  decode<T = Record<string, unknown>>(msg: string, bytes: Uint8Array, depth = 0): T {
    if (depth > 32) throw new RangeError('messages nested too deeply');
    const byNumber = this.#byNumber.get(msg);
    if (byNumber === undefined) throw new TypeError(`${msg} is not declared`);
    const out: Record<string, unknown> = {};
    for (const f of this.#table(msg)) {
      if (f.repeated) out[f.name] = [];
      else if (f.type !== 'message') out[f.name] = defaultOf(f.type);
    }
    const r = new Reader(bytes);
    while (!r.done()) {
      const key = r.varint();
      const number = Number(key >> 3n);
      const wire = Number(key & 7n);
      if (number === 0) throw new RangeError('field number 0');
      const f = byNumber.get(number);
      if (f === undefined) {
        r.skip(wire);
        continue;
      }
      const scalarVarint = f.type !== 'message' && f.type !== 'string' && f.type !== 'bytes';
      if (f.repeated && scalarVarint && wire === 2) {
        const packed = new Reader(r.lengthDelimited());
        while (!packed.done()) (out[f.name] as unknown[]).push(packed.scalar(f.type as Scalar));
        continue;
      }
      const expected = scalarVarint ? 0 : 2;
      if (wire !== expected) throw new RangeError(`field ${number} of ${msg} has wire type ${wire}, not ${expected}`);
      let v: unknown;
      if (f.type === 'message') v = this.decode(f.message, r.lengthDelimited(), depth + 1);
      else if (f.type === 'string') v = utf8.decode(r.lengthDelimited());
      else if (f.type === 'bytes') v = r.lengthDelimited().slice();
      else v = r.scalar(f.type);
      if (f.repeated) (out[f.name] as unknown[]).push(v);
      else out[f.name] = v;
    }
    return out as T;
  }
}

function defaultOf(type: Scalar): unknown {
  switch (type) {
    case 'string': return '';
    case 'bytes': return new Uint8Array();
    case 'bool': return false;
    case 'int64':
    case 'uint64': return 0n;
    default: return 0;
  }
}

function isDefault(type: Scalar, v: unknown): boolean {
  switch (type) {
    case 'string': return v === '';
    case 'bytes': return (v as Uint8Array).length === 0;
    case 'bool': return v === false;
    case 'int64':
    case 'uint64': return BigInt(v as bigint) === 0n;
    default: return Number(v) === 0;
  }
}

class Writer {
  #chunks: number[] = [];
  #parts: Uint8Array[] = [];
  #flush(): void {
    if (this.#chunks.length > 0) {
      this.#parts.push(Uint8Array.from(this.#chunks));
      this.#chunks = [];
    }
  }
  varint(v: bigint): void {
    let n = BigInt.asUintN(64, v);
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) b |= 0x80;
      this.#chunks.push(b);
    } while (n > 0n);
  }
  tag(number: number, wire: number): void {
    this.varint(BigInt(number) * 8n + BigInt(wire));
  }
  bytes(b: Uint8Array): void {
    this.varint(BigInt(b.length));
    this.#flush();
    this.#parts.push(b);
  }
  scalar(type: Scalar, v: unknown): void {
    if (type === 'bool') this.varint(v ? 1n : 0n);
    else if (type === 'int64' || type === 'uint64') this.varint(BigInt(v as bigint));
    else if (type === 'int32') this.varint(BigInt(Number(v) | 0));
    else this.varint(BigInt(Number(v) >>> 0));
  }
  finish(): Uint8Array {
    this.#flush();
    if (this.#parts.length === 1) return this.#parts[0]!;
    const len = this.#parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(len);
    let o = 0;
    for (const p of this.#parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

class Reader {
  readonly #b: Uint8Array;
  #i = 0;
  constructor(b: Uint8Array) {
    this.#b = b;
  }
  done(): boolean {
    return this.#i >= this.#b.length;
  }
  varint(): bigint {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.#i >= this.#b.length) throw new RangeError('truncated varint');
      const c = this.#b[this.#i++]!;
      v |= BigInt(c & 0x7f) << shift;
      if ((c & 0x80) === 0) return BigInt.asUintN(64, v);
    }
    throw new RangeError('varint longer than 10 bytes');
  }
  lengthDelimited(): Uint8Array {
    const len = this.varint();
    if (len > BigInt(this.#b.length - this.#i)) throw new RangeError('a field runs past the end');
    const n = Number(len);
    const out = this.#b.subarray(this.#i, this.#i + n);
    this.#i += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.lengthDelimited();
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (this.#b.length - this.#i < n) throw new RangeError('truncated fixed field');
      this.#i += n;
    } else throw new RangeError(`wire type ${wire}`);
  }
  scalar(type: Scalar): unknown {
    const v = this.varint();
    switch (type) {
      case 'bool': return v !== 0n;
      case 'int64': return BigInt.asIntN(64, v);
      case 'uint64': return v;
      case 'int32': return Number(BigInt.asIntN(32, v));
      default: return Number(BigInt.asUintN(32, v));
    }
  }
}
