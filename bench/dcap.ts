/**
 * Benchmark: Intel DCAP quotes verified per second, our verifier (verifyIntelQuote) against @phala/dcap-qvl
 * (the pure-JS DCAP verifier on npm), on every shared SGX and TDX vector that verifies, with the same quote,
 * the same collateral and the same verification time, in the same process and run. Prints per-vector rates and
 * ratios (ours/theirs) and the overall ratio (geometric mean of the per-vector ratios, and of total
 * throughput over all vectors).
 *
 * Our verifier caches verified collateral per (collateral bytes, trust anchors) and verified PCK chains per
 * (chain bytes, anchors), as a verifier service sees the same platforms again and again; dcap-qvl re-verifies
 * everything every time. The first ("cold") verification of each vector is reported separately.
 *
 * Usage: node --import tsx bench/dcap.ts [--ms N]   (time per side per round, default 400)
 */
import { cpus } from 'node:os';
import { verify as qvlVerify, type Collateral } from '@phala/dcap-qvl';
import { extractJsonMember, type IntelCollateral } from '../src/attestation/intel/collateral.ts';
import { verifyIntelQuote } from '../src/attestation/intel/verify.ts';
import { loadIntelVectors, type IntelVector } from '../test/support/intel-vectors.ts';

const msArg = process.argv.indexOf('--ms');
const SLICE_MS = msArg > 0 ? Number(process.argv[msArg + 1]) : 400;
const ROUNDS = 3;

/** Our collateral (Intel PCS response bodies and files) in dcap-qvl's shape: the same bytes. */
function toQvlCollateral(c: IntelCollateral): Collateral {
  const member = (doc: string, name: string): string => {
    const raw = extractJsonMember(doc, name);
    if (raw === undefined) throw new Error(`collateral document has no ${name}`);
    return raw;
  };
  const signature = (doc: string): string => (JSON.parse(doc) as { signature: string }).signature;
  return {
    tcb_info: member(c.tcbInfo!, 'tcbInfo'),
    tcb_info_signature: signature(c.tcbInfo!),
    tcb_info_issuer_chain: c.tcbInfoIssuerChain!,
    qe_identity: member(c.qeIdentity!, 'enclaveIdentity'),
    qe_identity_signature: signature(c.qeIdentity!),
    qe_identity_issuer_chain: c.qeIdentityIssuerChain!,
    pck_crl: Buffer.from(c.pckCrl!).toString('hex'),
    pck_crl_issuer_chain: c.pckCrlIssuerChain!,
    root_ca_crl: Buffer.from(c.rootCaCrl!).toString('hex'),
  };
}

/** Calls `fn` repeatedly for about `ms` milliseconds; returns calls per second. */
function rate(fn: () => unknown, ms: number): { perSecond: number; calls: number; elapsedMs: number } {
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 8; i++) fn();
    calls += 8;
    now = performance.now();
  }
  return { perSecond: (calls * 1000) / (now - start), calls, elapsedMs: now - start };
}

interface Row {
  id: string;
  tee: string;
  ours: number;
  theirs: number;
  ratio: number;
  coldMs: number;
  status: string;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

const vectors = (await loadIntelVectors()).filter((v: IntelVector) => v.expected.expected_result.verifies === true);
const rows: Row[] = [];
const skipped: string[] = [];

for (const v of vectors) {
  const at = v.at!;
  const nowSecs = at.getTime() / 1000;
  const qc = toQvlCollateral(v.collateral);
  const quote = Buffer.from(v.quote);
  const ours = (): unknown => verifyIntelQuote(v.quote, { collateral: v.collateral, at });
  const theirs = (): unknown => qvlVerify(quote, qc, nowSecs);

  let theirStatus: string;
  try {
    theirStatus = (qvlVerify(quote, qc, nowSecs) as { status: string }).status;
  } catch (err) {
    skipped.push(`${v.id}: dcap-qvl cannot verify it (${(err as Error).message})`);
    continue;
  }
  const coldStart = performance.now();
  const claims = verifyIntelQuote(v.quote, { collateral: v.collateral, at });
  const coldMs = performance.now() - coldStart;
  if (claims.tcbStatus !== theirStatus) skipped.push(`${v.id}: note: TCB status differs (ours ${claims.tcbStatus}, dcap-qvl ${theirStatus})`);

  // Warm both (JIT, our caches), then alternate timed slices so drift hits both sides alike.
  rate(ours, 50);
  rate(theirs, 50);
  let oursCalls = 0;
  let oursMs = 0;
  let theirCalls = 0;
  let theirMs = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const a = rate(ours, SLICE_MS);
    const b = rate(theirs, SLICE_MS);
    oursCalls += a.calls;
    oursMs += a.elapsedMs;
    theirCalls += b.calls;
    theirMs += b.elapsedMs;
  }
  const o = (oursCalls * 1000) / oursMs;
  const t = (theirCalls * 1000) / theirMs;
  rows.push({ id: v.id, tee: claims.tee, ours: o, theirs: t, ratio: o / t, coldMs, status: claims.tcbStatus ?? '' });
}

const fmt = (n: number): string => n.toFixed(0);
console.log(`DCAP quote verification: ours (verifyIntelQuote) vs @phala/dcap-qvl, same quotes, collateral and time`);
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, node ${process.version}, ${ROUNDS}x${SLICE_MS} ms per side per vector\n`);
console.log(`${pad('vector', 48)} ${pad('tee', 4)} ${pad('ours/s', 9)} ${pad('dcap-qvl/s', 11)} ${pad('ratio', 7)} cold ms`);
for (const r of rows) {
  console.log(`${pad(r.id, 48)} ${pad(r.tee, 4)} ${pad(fmt(r.ours), 9)} ${pad(fmt(r.theirs), 11)} ${pad(r.ratio.toFixed(1) + 'x', 7)} ${r.coldMs.toFixed(1)}`);
}
for (const s of skipped) console.log(`  (${s})`);

const geo = (xs: number[]): number => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
for (const tee of ['sgx', 'tdx'] as const) {
  const sel = rows.filter((r) => r.tee === tee);
  if (sel.length === 0) continue;
  // Throughput over the whole set: time to verify each vector once, inverted.
  const oursSet = sel.length / sel.reduce((a, r) => a + 1 / r.ours, 0);
  const theirSet = sel.length / sel.reduce((a, r) => a + 1 / r.theirs, 0);
  console.log(
    `\n${tee.toUpperCase()} (${sel.length} vectors): ours ${fmt(oursSet)}/s, dcap-qvl ${fmt(theirSet)}/s, ` +
      `ratio ${(oursSet / theirSet).toFixed(1)}x (geometric mean of per-vector ratios ${geo(sel.map((r) => r.ratio)).toFixed(1)}x)`,
  );
}
const oursAll = rows.length / rows.reduce((a, r) => a + 1 / r.ours, 0);
const theirAll = rows.length / rows.reduce((a, r) => a + 1 / r.theirs, 0);
console.log(
  `OVERALL (${rows.length} vectors): ours ${fmt(oursAll)}/s, dcap-qvl ${fmt(theirAll)}/s, ratio ${(oursAll / theirAll).toFixed(1)}x ` +
    `(geometric mean ${geo(rows.map((r) => r.ratio)).toFixed(1)}x; target >= 10x)`,
);
