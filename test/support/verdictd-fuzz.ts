/**
 * Fuzz inputs for verdictd's two endpoints, from one seeded generator so that a run can be replayed: EAA
 * request frames (random and mutated JSON, oversized objects) and management API request bytes (mutated
 * valid messages of every method, random bytes). Shared by the suite's 10^4 fuzz tests
 * (test/integration/verdictd-eaa.test.ts, test/unit/verdictd/management.test.ts) and the long run,
 * scripts/fuzz-verdictd.ts.
 */
import { createCipheriv } from 'node:crypto';
import { allMethods, encodeMessage, type MethodName } from '../../src/verdictd/management/messages.ts';

/** A seeded pseudo-random source (a 32-bit LCG: not for secrets, for replayable inputs). */
export interface FuzzRandom {
  /** In [0, 1). */
  rand(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  bytes(n: number): Buffer;
  uuid(): string;
}

export function fuzzRandom(seed: number): FuzzRandom {
  let state = seed >>> 0;
  const rand = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const int = (n: number) => Math.floor(rand() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const uuid = () => {
    const h = bytes(16).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
  };
  return { rand, int, bytes, uuid };
}

/** AES-256-GCM as EAA's Decrypt takes it: base64 iv and ciphertext ‖ tag. */
export function eaaEncrypt(key: Buffer, plain: Buffer, iv: Buffer): { iv: string; encrypted_data: string } {
  const c = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  return { iv: iv.toString('base64'), encrypted_data: sealed.toString('base64') };
}

/**
 * One EAA frame that must never be answered with a key: requests for unknown kids and keys, wrong commands
 * and fields, each either as is or mutated (flipped bytes, truncated, random bytes, injected braces and
 * quotes, oversized).
 */
export function eaaFuzzFrame(r: FuzzRandom): Buffer {
  const templates = [
    () => JSON.stringify({ command: 'Get KEK', kids: [r.uuid()] }),
    () => JSON.stringify({ command: 'Decrypt', blobs: [{ kid: r.uuid(), ...eaaEncrypt(r.bytes(32), r.bytes(r.int(40)), r.bytes(12)), algorithm: 'AES', key_length: 256 }] }),
    () => JSON.stringify({ command: 'Get Resource Info', name: `r${r.int(9)}/t/x` }),
    () => JSON.stringify({ command: ['Get KEK', 'Decrypt', 'Get Policy', 'versio', ''][r.int(5)], kids: r.int(2) ? 'x' : [1, 2], blobs: {} }),
  ];
  const b = Buffer.from(templates[r.int(templates.length)]!());
  switch (r.int(7)) {
    case 0: // flip bytes
      for (let k = 0; k < 1 + r.int(4); k++) b[r.int(b.length)] = r.int(256);
      return b;
    case 1: // truncate
      return b.subarray(0, r.int(b.length));
    case 2: // random bytes
      return r.bytes(1 + r.int(300));
    case 3: // inject structure
      return Buffer.concat([b.subarray(0, r.int(b.length)), Buffer.from(['{', '}', '"', '[', ']', '\\'][r.int(6)]!), b.subarray(r.int(b.length))]);
    case 4: // oversized
      return Buffer.from(`{"command":"Get KEK","kids":["${'a'.repeat(4200 + r.int(500))}"]}`);
    default: // well-formed but wrong
      return b;
  }
}

/** Valid requests to mutate, per method; `simPlatformKeyPem` is a public key to offer AddSimPlatformKey. */
export function managementFuzzSeeds(simPlatformKeyPem: string, r: FuzzRandom): Map<MethodName, Uint8Array> {
  return new Map<MethodName, Uint8Array>([
    ['KeyManagerService/GetKey', encodeMessage('GetKeyRequest', { uuid: '6f1c0a52-5d1e-4c69-9f0e-0a4b3a1e2d3c' })],
    ['KeyManagerService/ImportKey', encodeMessage('ImportKeyRequest', { key: r.bytes(32) })],
    ['ResourceService/SetResource', encodeMessage('SetResourceRequest', { path: 'fuzz/r/x', data: Buffer.from('v') })],
    ['PolicyService/SetPolicy', encodeMessage('SetPolicyRequest', { name: 'fz', content: '{"rules":[{"name":"a","expression":"claims.debug == false"}]}' })],
    ['PolicyService/TestPolicy', encodeMessage('TestPolicyRequest', { claimsJson: '{"tee":"sim","debug":false}', policyName: 'default' })],
    ['ReferenceService/SetReference', encodeMessage('SetReferenceRequest', { name: 'fz', content: '{"values":{"a":[1]}}' })],
    ['TrustService/AddSimPlatformKey', encodeMessage('AddSimPlatformKeyRequest', { pem: simPlatformKeyPem })],
  ]);
}

/** Request `i` of a management fuzz run: every method in turn, a mutated valid request or random bytes. */
export function managementFuzzRequest(i: number, seeds: Map<MethodName, Uint8Array>, r: FuzzRandom): { method: MethodName; bytes: Uint8Array } {
  const methods = allMethods();
  const method = methods[i % methods.length]!;
  const seed = seeds.get(method);
  if (seed === undefined || r.int(2) === 0) return { method, bytes: r.bytes(r.int(97)) };
  const bytes = Uint8Array.from(seed);
  for (let k = 0; k < 1 + r.int(4); k++) {
    const at = r.int(bytes.length);
    bytes[at] = bytes[at]! ^ (1 << r.int(8));
  }
  return { method, bytes };
}
