/**
 * The runtime options containerd hands the shim: a protobuf Any on the stdin of `start` (and again in
 * CreateTaskRequest.options), or nothing. For a runtime_type it does not know, CRI 1.6 sends
 * `runtimeoptions.v1.Options{type_url = 1, config_path = 2}` (reference/environment.md §3b); `ctr run
 * --runtime-config-path` sends the same. Anything else is refused with a message that says what to configure.
 *
 * Decoded by hand (two string fields in two messages) so that `start`, which runs once per container, loads
 * no protobuf library; fuzzed in test/unit/shim/options.test.ts.
 */
import { shimError } from './codes.ts';

/** The type URL of CRI's options message. */
export const RUNTIME_OPTIONS_TYPE_URL = 'runtimeoptions.v1.Options';

/** The decoded options. */
export interface RuntimeOptions {
  /** The TOML config to load; '' → the default. */
  configPath: string;
}

/** Reads the length-delimited fields of a message: number → bytes (last one wins); throws on bad bytes. */
function readFields(buf: Uint8Array, what: string): Map<number, Uint8Array> {
  const fields = new Map<number, Uint8Array>();
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (i >= buf.length) throw new RangeError(`truncated varint in ${what}`);
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
    throw new RangeError(`varint too long in ${what}`);
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new RangeError(`field number 0 in ${what}`);
    if (wire === 0) {
      varint();
    } else if (wire === 2) {
      const len = varint();
      if (len > buf.length - i) throw new RangeError(`field ${field} of ${what} runs past the end`);
      fields.set(field, buf.subarray(i, i + len));
      i += len;
    } else if (wire === 1) {
      i += 8;
    } else if (wire === 5) {
      i += 4;
    } else {
      throw new RangeError(`wire type ${wire} in ${what}`);
    }
    if (i > buf.length) throw new RangeError(`truncated field ${field} in ${what}`);
  }
  return fields;
}

function utf8(bytes: Uint8Array | undefined, what: string): string {
  if (bytes === undefined) return '';
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new RangeError(`${what} is not UTF-8`, { cause: e });
  }
}

/** Decodes the value of a runtimeoptions.v1.Options Any. */
export function decodeRuntimeOptionsValue(value: Uint8Array): RuntimeOptions {
  try {
    const f = readFields(value, 'runtimeoptions.v1.Options');
    const configPath = utf8(f.get(2), 'config_path');
    if (configPath.includes('\0')) throw new RangeError('config_path contains a NUL byte');
    return { configPath };
  } catch (e) {
    throw shimError('SHIM_ERR_BAD_OPTIONS', 'Cannot read the runtime options: they are not a valid runtimeoptions.v1.Options message', { cause: e });
  }
}

/** Decodes an Any's type URL and value (the caller checks the type). */
export function decodeAny(bytes: Uint8Array): { typeUrl: string; value: Uint8Array } {
  try {
    const f = readFields(bytes, 'google.protobuf.Any');
    return { typeUrl: utf8(f.get(1), 'type_url'), value: f.get(2) ?? new Uint8Array() };
  } catch (e) {
    throw shimError('SHIM_ERR_BAD_OPTIONS', 'Cannot read the runtime options: they are not a protobuf Any', { cause: e });
  }
}

/** Checks an Any's type and decodes the options it holds. */
export function runtimeOptionsOfAny(any: { typeUrl: string; value: Uint8Array }): RuntimeOptions {
  const type = any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1);
  if (type !== RUNTIME_OPTIONS_TYPE_URL) {
    throw shimError(
      'SHIM_ERR_BAD_OPTIONS',
      `Cannot use runtime options of type ${JSON.stringify(any.typeUrl)}: containerd-shim-rune-v2 takes ${RUNTIME_OPTIONS_TYPE_URL} (CRI: [...runtimes.rune.options] ConfigPath = "/etc/inclavare-containers/config.toml"; runc's options such as BinaryName do not apply)`,
    );
  }
  return decodeRuntimeOptionsValue(any.value);
}

/** The options of `start`'s stdin: empty → defaults. */
export function decodeRuntimeOptions(stdin: Uint8Array): RuntimeOptions {
  if (stdin.length === 0) return { configPath: '' };
  return runtimeOptionsOfAny(decodeAny(stdin));
}

function pushVarint(out: number[], v: number | bigint): void {
  let n = BigInt(v);
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) b |= 0x80;
    out.push(b);
  } while (n > 0n);
}

/** A DeleteResponse{pid, exit_status, exited_at} encoded by hand (what `delete` prints). */
export function encodeDeleteResponse(pid: number, exitStatus: number, exitedAt: Date): Uint8Array {
  const ts: number[] = [];
  const ms = exitedAt.getTime();
  ts.push(0x08);
  pushVarint(ts, Math.floor(ms / 1000));
  const nanos = (ms % 1000) * 1_000_000;
  if (nanos > 0) {
    ts.push(0x10);
    pushVarint(ts, nanos);
  }
  const out: number[] = [];
  if (pid > 0) {
    out.push(0x08);
    pushVarint(out, pid);
  }
  out.push(0x10);
  pushVarint(out, exitStatus);
  out.push(0x1a);
  pushVarint(out, ts.length);
  out.push(...ts);
  return Uint8Array.from(out);
}
