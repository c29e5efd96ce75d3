/**
 * The endorsements extension (2.23.133.5.4.2): encoding real collateral, decoding what C writers produce
 * (NUL-terminated strings, hex or PEM CRLs), certificates that carry it, and verifiers that use it only as a
 * transport: every item is still checked, and the verifier's own collateral wins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode, Tagged } from 'cborg';
import fc from 'fast-check';
import { loadIntelCollateral } from '../../../src/collateral/intel-dir.ts';
import { type IntelCollateral } from '../../../src/attestation/intel/collateral.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { createLocalSimAttester } from '../../../src/rats-tls/attesters/sim-local.ts';
import type { Attester } from '../../../src/rats-tls/attesters/attester.ts';
import { createAttestedCertificate } from '../../../src/rats-tls/certificate.ts';
import { RATS_TLS_ERROR_CODES as E } from '../../../src/rats-tls/codes.ts';
import { decodeIntelEndorsements, encodeIntelEndorsements, ENDORSEMENTS_VERSION } from '../../../src/rats-tls/endorsements.ts';
import { parseAttestedCertificate } from '../../../src/rats-tls/parse.ts';
import { verifyAttestedCertificate } from '../../../src/rats-tls/verify.ts';
import { endorsementsOf } from '../../../src/rats-tls/sample.ts';
import { startFakePcs } from '../../support/fake-pcs.ts';
import { loadIntelVectors, VECTORS_ROOT } from '../../support/intel-vectors.ts';
import { PLATFORM } from './forge.ts';

const TDX = join(VECTORS_ROOT, 'intel-tdx/tdx-v4-dcapqvl-b0c06f000000');
const TDX_AT = new Date((JSON.parse(readFileSync(join(TDX, 'expected.json'), 'utf8')) as { suggested_verification_time: string }).suggested_verification_time);
const SGX_OTHER = join(VECTORS_ROOT, 'intel-sgx/sgx-v3-automata-quotev3-00606a000000-eval17');
const quote = new Uint8Array(readFileSync(join(TDX, 'quote.bin')));
const collateral = await loadIntelCollateral(TDX);
const ITEM_COUNT = 7;

/** A TDX attester that always answers with the vector's quote (made for other report data: the binding fails). */
const tdxAttester: Attester = { tee: 'tdx', getEvidence: async () => quote };

const text = (s: string) => new TextEncoder().encode(s);
const cString = (s: string) => Uint8Array.from([...text(s), 0]);

test('real collateral round-trips through the extension value (tag 60000, version, 7 items in the C order)', () => {
  const bytes = encodeIntelEndorsements(collateral);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xd9, 0xea, 0x60], 'tag 60000');
  const decoded = decodeIntelEndorsements(bytes);
  assert.equal(decoded.version, ENDORSEMENTS_VERSION);
  assert.deepEqual(decoded.collateral, collateral);
});

test('decodes what a C writer produces: NUL-terminated strings, hex and PEM CRLs, a creation time', () => {
  const pem = `-----BEGIN X509 CRL-----\n${Buffer.from(collateral.rootCaCrl!).toString('base64')}\n-----END X509 CRL-----\n`;
  const c = encode(
    new Tagged(60000, [
      65539,
      cString(collateral.tcbInfo!),
      cString(collateral.tcbInfoIssuerChain!),
      cString(Buffer.from(collateral.pckCrl!).toString('hex')),
      cString(pem),
      cString(collateral.pckCrlIssuerChain!),
      cString(collateral.qeIdentity!),
      cString(collateral.qeIdentityIssuerChain!),
      cString('2025-07-04T10:00:00Z'),
    ]),
  );
  const d = decodeIntelEndorsements(c);
  assert.equal(d.version, 65539);
  assert.equal(d.creationTime, '2025-07-04T10:00:00Z');
  assert.equal(d.collateral.tcbInfo, collateral.tcbInfo);
  assert.deepEqual(d.collateral.pckCrl, collateral.pckCrl);
  assert.equal(new TextDecoder().decode(d.collateral.rootCaCrl), pem.trim());
});

test('malformed extension values fail with RATS_TLS_ERR_MALFORMED naming the problem', () => {
  const items = [collateral.tcbInfo!, collateral.tcbInfoIssuerChain!, collateral.pckCrl!, collateral.rootCaCrl!, collateral.pckCrlIssuerChain!, collateral.qeIdentity!, collateral.qeIdentityIssuerChain!].map((v) =>
    typeof v === 'string' ? text(v) : v,
  );
  const cases: [string, Uint8Array, RegExp][] = [
    ['no tag', encode([3, ...items]), /does not start with a CBOR tag/],
    ['the SNP tag', encode(new Tagged(0x1a7504, [3, ...items])), /Intel evidence \(tag 60000\) only/],
    ['seven entries', encode(new Tagged(60000, [3, ...items.slice(1)])), /expected tag\(60000\)/],
    ['text version', encode(new Tagged(60000, ['3', ...items])), /version/],
    ['a text item', encode(new Tagged(60000, [3, collateral.tcbInfo!, ...items.slice(1)])), /tcbInfo is not a byte string/],
    ['a CRL that is no CRL', encode(new Tagged(60000, [3, items[0], items[1], text('hello'), ...items.slice(3)])), /pckCrl is neither DER, PEM nor hex/],
    ['bad UTF-8', encode(new Tagged(60000, [3, Uint8Array.of(0xff, 0xfe), ...items.slice(1)])), /tcbInfo is not UTF-8/],
    ['truncated', encodeIntelEndorsements(collateral).subarray(0, 100), /invalid CBOR/],
  ];
  for (const [name, bytes, message] of cases) {
    assert.throws(() => decodeIntelEndorsements(bytes), (e) => isInclavareError(e, E.MALFORMED) && message.test(e.message), name);
  }
  assert.throws(() => encodeIntelEndorsements({ ...collateral, qeIdentity: undefined }), (e) => isInclavareError(e, E.INVALID_ARGUMENT) && /lacks qeIdentity/.test(e.message));
});

test('fuzz: any bytes, and any single-byte change of a valid value, decode or fail with RATS_TLS_ERR_MALFORMED', () => {
  const good = encodeIntelEndorsements(collateral);
  const onlyMalformed = (bytes: Uint8Array) => {
    try {
      decodeIntelEndorsements(bytes);
    } catch (err) {
      if (!isInclavareError(err, E.MALFORMED)) throw err;
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1024 }), onlyMalformed), { numRuns: 2000 });
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (index, delta) => {
      const bytes = Uint8Array.from(good);
      bytes[index] = (bytes[index]! + delta) & 0xff;
      onlyMalformed(bytes);
    }),
    { numRuns: 1000 },
  );
});

test("a certificate's endorsements let a verifier without collateral appraise its quote; without them it cannot", async () => {
  const withEndorsements = await createAttestedCertificate({ attester: tdxAttester, endorsements: collateral });
  const parsed = parseAttestedCertificate(withEndorsements.certDer);
  assert.ok(parsed.endorsements !== undefined);
  const v = verifyAttestedCertificate(parsed, { at: TDX_AT, checkValidityPeriod: false });
  assert.equal(v.evidenceError, undefined, v.evidenceError?.message);
  assert.equal(v.evidenceClaims?.tee, 'tdx');
  assert.equal(v.endorsementsUsed?.length, ITEM_COUNT);
  // The canned quote was made for other report data: the binding must still fail, endorsements or not.
  assert.equal(v.binding, 'invalid');
  assert.equal(v.verified, false);

  const bare = await createAttestedCertificate({ attester: tdxAttester });
  const w = verifyAttestedCertificate(bare.certDer, { at: TDX_AT, checkValidityPeriod: false });
  assert.equal(w.evidenceError?.code, 'ATTEST_ERR_COLLATERAL_MISSING');
  const off = verifyAttestedCertificate(parsed, { at: TDX_AT, checkValidityPeriod: false, useEndorsements: false });
  assert.equal(off.evidenceError?.code, 'ATTEST_ERR_COLLATERAL_MISSING');
});

test("endorsements are checked like any collateral: expired, tampered, or overridden by the verifier's own items", async () => {
  const cert = await createAttestedCertificate({ attester: tdxAttester, endorsements: collateral });
  const late = verifyAttestedCertificate(cert.certDer, { at: new Date(TDX_AT.getTime() + 400 * 86_400_000), checkValidityPeriod: false });
  assert.equal(late.evidenceClaims, undefined);
  assert.match(late.evidenceError?.code ?? '', /EXPIRED/);

  const tampered: IntelCollateral = { ...collateral, tcbInfo: collateral.tcbInfo!.replace('"tcbEvaluationDataNumber":', '"tcbEvaluationDataNumber": ') };
  assert.notEqual(tampered.tcbInfo, collateral.tcbInfo);
  const bad = await createAttestedCertificate({ attester: tdxAttester, endorsements: tampered });
  const t = verifyAttestedCertificate(bad.certDer, { at: TDX_AT, checkValidityPeriod: false });
  assert.equal(t.evidenceClaims, undefined);
  assert.ok(t.evidenceError !== undefined);

  // The verifier's own TCB info (another platform's) wins over the certificate's: the quote's FMSPC then mismatches.
  const other = await loadIntelCollateral(SGX_OTHER);
  const own = verifyAttestedCertificate(cert.certDer, { at: TDX_AT, checkValidityPeriod: false, evidence: { intelCollateral: { tcbInfo: other.tcbInfo! } } });
  assert.equal(own.endorsementsUsed?.includes('tcbInfo'), false);
  assert.equal(own.endorsementsUsed?.length, ITEM_COUNT - 1);
  assert.equal(own.evidenceClaims, undefined);
  // The same through the per-TEE options: the tdx key's collateral wins; the sgx key's is not this quote's.
  const perTee = verifyAttestedCertificate(cert.certDer, { at: TDX_AT, checkValidityPeriod: false, evidence: { tdx: { collateral: { tcbInfo: other.tcbInfo! } } } });
  assert.equal(perTee.endorsementsUsed?.includes('tcbInfo'), false);
  assert.equal(perTee.evidenceClaims, undefined);
  const otherTee = verifyAttestedCertificate(cert.certDer, { at: TDX_AT, checkValidityPeriod: false, evidence: { sgx: { collateral: { tcbInfo: other.tcbInfo! } } } });
  assert.equal(otherTee.endorsementsUsed?.length, ITEM_COUNT);
  assert.equal(otherTee.evidenceClaims?.tee, 'tdx');
});

test('a certificate with malformed endorsements is rejected even when its evidence needs none', async () => {
  const cert = await createAttestedCertificate({ attester: tdxAttester, endorsements: encode(new Tagged(60000, [3])) });
  const v = verifyAttestedCertificate(cert.certDer, { at: TDX_AT, checkValidityPeriod: false, evidence: { intelCollateral: collateral } });
  assert.equal(v.verified, false);
  assert.ok(isInclavareError(v.endorsementsError, E.MALFORMED), String(v.endorsementsError));
  assert.equal(v.endorsementsUsed, undefined);
});

test('endorsement sources: a function gets the fresh evidence; its failure is RATS_TLS_ERR_ATTESTER; non-Intel attesters have none', async () => {
  const seen: [number, string][] = [];
  const cert = await createAttestedCertificate({
    attester: tdxAttester,
    endorsements: async (evidence, tee) => {
      seen.push([evidence.length, tee]);
      return collateral;
    },
  });
  assert.deepEqual(seen, [[quote.length, 'tdx']]);
  assert.deepEqual(decodeIntelEndorsements(parseAttestedCertificate(cert.certDer).endorsements!).collateral, collateral);
  await assert.rejects(
    createAttestedCertificate({ attester: tdxAttester, endorsements: () => Promise.reject(new Error('PCCS unreachable')) }),
    (e) => isInclavareError(e, E.ATTESTER) && /endorsements/.test(e.message),
  );
  await assert.rejects(
    createAttestedCertificate({ attester: createLocalSimAttester({ platformKey: PLATFORM.privateKey }), endorsements: collateral }),
    (e) => isInclavareError(e, E.INVALID_ARGUMENT) && /Intel evidence/.test(e.message),
  );
});

test("the sample's -e --pccs-url fetches the collateral for the fresh quote's FMSPC from a PCCS (loopback) and removes its cache", async () => {
  const vector = (await loadIntelVectors()).find((v) => v.dir === TDX)!;
  const pcs = await startFakePcs(vector);
  try {
    const { source, cleanup } = await endorsementsOf({ endorsements: true, pccsUrl: pcs.baseUrl, ip: '127.0.0.1', port: 0 }, tdxAttester);
    assert.ok(source !== undefined);
    const cert = await createAttestedCertificate({ attester: tdxAttester, endorsements: source });
    await cleanup();
    assert.ok(pcs.requests.some((r) => r.includes('fmspc=B0C06F000000') || r.toLowerCase().includes('fmspc=b0c06f000000')), pcs.requests.join('\n'));
    const v = verifyAttestedCertificate(cert.certDer, { at: TDX_AT, checkValidityPeriod: false });
    assert.equal(v.evidenceError, undefined, v.evidenceError?.message);
    assert.equal(v.endorsementsUsed?.length, ITEM_COUNT);
  } finally {
    await pcs.close();
  }
});

test('an empty endorsements extension (rats-rs writes one into every certificate) counts as none', () => {
  const parsed = parseAttestedCertificate(readFileSync(join(VECTORS_ROOT, 'ra-tls/ratls-rats-rs-demo-sgx/demo-sgx-cert.pem'), 'utf8'));
  assert.equal(parsed.endorsements?.length, 0);
  const v = verifyAttestedCertificate(parsed, { at: TDX_AT, checkValidityPeriod: false });
  assert.equal(v.endorsementsError, undefined);
  assert.equal(v.endorsementsUsed, undefined);
  assert.equal(v.evidenceError?.code, 'ATTEST_ERR_COLLATERAL_MISSING');
});
