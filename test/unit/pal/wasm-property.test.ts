/** Property: whatever bytes a `.wasm` entrypoint holds, the wasm runtime answers with a pid or PAL_ERR_WASM, never a crash. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { PAL_ERR_WASM } from '../../../src/pal/codes.ts';
import { loadEnclaveRuntime } from '../../../src/pal/registry.ts';
import type { EnclaveRuntime } from '../../../src/pal/types.ts';
import { TempDir } from './support.ts';
import { assemble, echoArgsEnvWat } from './wasi-programs.ts';

const dir = new TempDir();
const stdio = { stdin: 0, stdout: 1, stderr: 2 };
let rt: EnclaveRuntime;
let valid: Uint8Array;
let n = 0;

before(async () => {
  rt = await loadEnclaveRuntime('wasm');
  await rt.init({ args: '', logLevel: 'info' });
  valid = await assemble(echoArgsEnvWat);
});
after(async () => {
  await rt.destroy();
  dir.remove();
});

/** createProcess on a file holding `bytes`: true if it was accepted, false if rejected with PAL_ERR_WASM; anything else fails. */
async function accepts(bytes: Uint8Array): Promise<boolean> {
  const path = dir.file(`fuzz-${n++}.wasm`);
  writeFileSync(path, bytes);
  try {
    await rt.createProcess({ path, argv: ['fuzz'], env: [], stdio });
    return true;
  } catch (err) {
    assert.ok(isInclavareError(err, PAL_ERR_WASM), `unexpected error: ${String(err)}`);
    return false;
  }
}

test('random bytes as a .wasm never crash the runtime, only PAL_ERR_WASM', async () => {
  const magic = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
  await fc.assert(
    fc.asyncProperty(fc.boolean(), fc.uint8Array({ maxLength: 512 }), async (withHeader, body) => {
      const bytes = withHeader ? Uint8Array.from([...magic, ...body]) : body;
      assert.equal(await accepts(bytes), false);
    }),
    { numRuns: 300 },
  );
});

test('a real WASI module with random bytes flipped gives a pid or PAL_ERR_WASM, never a crash', async () => {
  assert.equal(await accepts(valid), true);
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (flips) => {
      const bytes = Uint8Array.from(valid);
      for (const [at, value] of flips) bytes[at % bytes.length] = value;
      await accepts(bytes);
    }),
    { numRuns: 300 },
  );
});
