// Property tests: whatever happens to a report or its certificates, parseSnpReport() and verifySnpReport()
// return a value or throw InclavareError, and do so quickly.
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InclavareError } from '../../../src/errors/errors.ts';
import { parseSnpReport } from '../../../src/attestation/snp/parse.ts';
import { verifySnpReport } from '../../../src/attestation/snp/verify.ts';
import { VECTORS_ROOT } from '../../support/vectors.ts';

const VECTORS = VECTORS_ROOT;
const SNP_DIR = `${VECTORS}/amd-sev-snp`;
const AT = new Date('2026-06-01T00:00:00Z'); // inside every shared vector's window
const SLOW_MS = 1000;

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/;

function leafOf(dir: string, files: string[]): Uint8Array {
  if (files.includes('vcek.der')) return new Uint8Array(readFileSync(`${dir}/vcek.der`));
  if (files.includes('vcek.pem')) return new Uint8Array(readFileSync(`${dir}/vcek.pem`));
  // vcek_ask_ark.pem starts with the VCEK.
  return new TextEncoder().encode(readFileSync(`${dir}/vcek_ask_ark.pem`, 'utf8').match(PEM_BLOCK)?.[0] ?? '');
}

const vectors = readdirSync(SNP_DIR)
  .sort()
  .map((id) => {
    const dir = `${SNP_DIR}/${id}`;
    const files = readdirSync(dir);
    const vcek = leafOf(dir, files);
    const certChain = files
      .filter((f) => f.endsWith('.pem') && f !== 'vcek.pem')
      .map((f) => readFileSync(`${dir}/${f}`, 'utf8'))
      .join('');
    return { id, report: new Uint8Array(readFileSync(`${dir}/report.bin`)), vcek, certChain };
  });

/** Runs `fn`; passes if it returns or throws InclavareError, within SLOW_MS. */
function onlyTypedErrors(fn: () => unknown): void {
  const start = performance.now();
  try {
    fn();
  } catch (err) {
    if (!(err instanceof InclavareError)) throw err;
    assert.ok(typeof err.code === 'string' && err.code.startsWith('ATTEST_ERR_'), err.code);
  }
  const elapsed = performance.now() - start;
  assert.ok(elapsed < SLOW_MS, `took ${elapsed.toFixed(0)} ms`);
}

/** Byte edits: (index, value) pairs applied to a copy. */
const edits = (length: number): fc.Arbitrary<[number, number][]> =>
  fc.array(fc.tuple(fc.nat({ max: length - 1 }), fc.nat({ max: 255 })), { minLength: 1, maxLength: 8 });

function applyEdits(bytes: Uint8Array, changes: [number, number][]): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (const [i, v] of changes) out[i] = v;
  return out;
}

void describe('SNP parsing and verification under random input', () => {
  void it('finds vectors to mutate', () => {
    assert.equal(vectors.length, 8);
  });

  for (const v of vectors) {
    void it(`never throws anything but InclavareError for random byte edits of ${v.id}`, () => {
      fc.assert(
        fc.property(edits(v.report.length), (changes) => {
          onlyTypedErrors(() => verifySnpReport(applyEdits(v.report, changes), { vcek: v.vcek, certChain: v.certChain, at: AT }));
        }),
        { numRuns: 60 },
      );
    });

    void it(`never throws anything but InclavareError for random edits of the VCEK of ${v.id}`, () => {
      fc.assert(
        fc.property(edits(v.vcek.length), (changes) => {
          onlyTypedErrors(() => verifySnpReport(v.report, { vcek: applyEdits(v.vcek, changes), certChain: v.certChain, at: AT }));
        }),
        { numRuns: 40 },
      );
    });
  }

  void it('never throws anything but InclavareError for random edits of a PEM certificate chain', () => {
    const v = vectors[0];
    assert.ok(v !== undefined);
    const chain = new TextEncoder().encode(v.certChain);
    fc.assert(
      fc.property(edits(chain.length), (changes) => {
        onlyTypedErrors(() => verifySnpReport(v.report, { vcek: v.vcek, certChain: applyEdits(chain, changes), at: AT }));
      }),
      { numRuns: 60 },
    );
  });

  void it('never throws anything but InclavareError for truncated or extended reports', () => {
    const v = vectors[0];
    assert.ok(v !== undefined);
    fc.assert(
      fc.property(fc.nat({ max: 1300 }), fc.uint8Array({ maxLength: 64 }), (cut, tail) => {
        const bytes = Uint8Array.from([...v.report.subarray(0, cut), ...(cut >= v.report.length ? tail : [])]);
        onlyTypedErrors(() => verifySnpReport(bytes, { vcek: v.vcek, at: AT }));
      }),
      { numRuns: 100 },
    );
  });

  void it('never throws anything but InclavareError for arbitrary bytes, including 1184-byte ones with a known version', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2048 }),
          fc.tuple(fc.constantFrom(2, 3, 4, 5), fc.uint8Array({ minLength: 1184, maxLength: 1184 })).map(([version, b]) => {
            b.set([version, 0, 0, 0], 0);
            return b;
          }),
        ),
        (bytes) => {
          onlyTypedErrors(() => parseSnpReport(bytes));
          onlyTypedErrors(() => verifySnpReport(bytes, { vcek: vectors[0]?.vcek ?? new Uint8Array(), at: AT }));
        },
      ),
      { numRuns: 200 },
    );
  });

  void it('never throws anything but InclavareError for arbitrary VCEK and chain inputs', () => {
    const v = vectors[0];
    assert.ok(v !== undefined);
    const certish = fc.oneof(
      fc.uint8Array({ maxLength: 1500 }),
      fc.string({ maxLength: 300 }),
      fc.base64String({ maxLength: 400 }).map((b) => `-----BEGIN CERTIFICATE-----\n${b}\n-----END CERTIFICATE-----\n`),
    );
    fc.assert(
      fc.property(certish, certish, (vcek, chain) => {
        onlyTypedErrors(() => verifySnpReport(v.report, { vcek, certChain: chain, at: AT }));
        onlyTypedErrors(() => verifySnpReport(v.report, { vcek: v.vcek, trustAnchors: [chain], at: AT }));
      }),
      { numRuns: 200 },
    );
  });
});
