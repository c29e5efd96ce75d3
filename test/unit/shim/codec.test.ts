// The shim's protobuf codec against @bufbuild/protobuf built from the same field table: every message of the
// table, random values, both directions; and random bytes give a value or a RangeError, never anything else.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { FieldDescriptorProto_Label as Label, FieldDescriptorProto_Type as Type, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import type { FieldSpec, Scalar } from '../../../src/shim/ttrpc/codec.ts';
import { MESSAGE_FIELDS, decodeMessage, encodeMessage, type MessageName } from '../../../src/shim/ttrpc/messages.ts';

const PKG = 'check.shim';
const TYPES: Record<Scalar, Type> = { string: Type.STRING, bytes: Type.BYTES, bool: Type.BOOL, uint32: Type.UINT32, int32: Type.INT32, int64: Type.INT64, uint64: Type.UINT64 };
const camel = (n: string): string => n.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: 'check.proto',
    package: PKG,
    syntax: 'proto3',
    messageType: Object.entries(MESSAGE_FIELDS).map(([name, fields]) => ({
      name,
      field: (fields as readonly FieldSpec[]).map(([f, number, type, rep]) => ({
        name: f, number, jsonName: camel(f), label: rep ? Label.REPEATED : Label.OPTIONAL,
        ...(type.startsWith('.') ? { type: Type.MESSAGE, typeName: `.${PKG}${type}` } : { type: TYPES[type as Scalar] }),
      })),
    })),
  }),
  () => undefined,
);
const desc = (name: string): DescMessage => registry.getMessage(`${PKG}.${name}`)!;

function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v instanceof Uint8Array ? [...v] : v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => k !== '$typeName').map(([k, x]) => [k, strip(x)]));
}

function arbOf(name: string, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const fields = MESSAGE_FIELDS[name as MessageName] as readonly FieldSpec[];
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [f, , type, rep] of fields) {
    let a: fc.Arbitrary<unknown>;
    if (type.startsWith('.')) {
      if (depth > 2) continue;
      a = arbOf(type.slice(1), depth + 1);
    } else {
      a = {
        string: fc.string({ maxLength: 20 }), bytes: fc.uint8Array({ maxLength: 20 }), bool: fc.boolean(),
        uint32: fc.integer({ min: 0, max: 0xffffffff }), int32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        int64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), uint64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      }[type as Scalar];
    }
    rec[camel(f)] = rep ? fc.array(a, { maxLength: 3 }) : a;
  }
  return fc.record(rec, { requiredKeys: [] });
}

void describe('the shim protobuf codec', () => {
  for (const name of Object.keys(MESSAGE_FIELDS) as MessageName[]) {
    test(`${name}: ours and @bufbuild/protobuf read each other's bytes`, () => {
      fc.assert(
        fc.property(arbOf(name, 0), (value) => {
          const ours = encodeMessage(name, value);
          const theirs = toBinary(desc(name), create(desc(name), value as never));
          assert.deepEqual(strip(decodeMessage(name, theirs)), strip(fromBinary(desc(name), theirs)));
          assert.deepEqual(strip(fromBinary(desc(name), ours)), strip(fromBinary(desc(name), theirs)));
        }),
        { numRuns: 150 },
      );
    });
  }

  test('random bytes decode or throw a RangeError, as every message', () => {
    const names = Object.keys(MESSAGE_FIELDS) as MessageName[];
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.uint8Array({ maxLength: 80 }), (name, bytes) => {
        try {
          decodeMessage(name, bytes);
        } catch (e) {
          assert.ok(e instanceof RangeError, String(e));
        }
      }),
      { numRuns: 20_000 },
    );
  });
});
