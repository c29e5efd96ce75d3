/**
 * Shared fixtures of the Intel DCAP tests (intel-*, sgx-*, tdx- unit tests, the tee-tools integration test and
 * bench/dcap.ts): the shared vectors, error-code helpers, and a test PKI. Their own tests are in
 * test/unit/attestation/intel-fixtures.test.ts.
 *
 * The test PKI: to test revocation and TCB-status rules honestly we cannot make Intel sign a CRL that lists a
 * real PCK certificate. Instead every certificate of a real vector (root, PCK CA, PCK, TCB Signing) is
 * re-issued with the same names, serials, validity and extensions but with keys we generate, and trusted
 * through `trustAnchors` = our root. The quote is re-signed accordingly (a fresh attestation key, the QE report
 * re-bound to it and re-signed with our PCK key) and the collateral documents are re-signed byte for byte
 * with our TCB Signing key. The result verifies exactly like the real vector (the positive control below), so
 * any rejection a test then provokes comes from the one thing the test changed.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, CertificateList, RevokedCertificate, SubjectPublicKeyInfo, Time } from '@peculiar/asn1-x509';
import { VECTORS_ROOT } from './vectors.ts';
import { isInclavareError } from '../../src/errors/errors.ts';
import { loadIntelCollateral } from '../../src/collateral/intel-dir.ts';
import { type IntelCollateral } from '../../src/attestation/intel/collateral.ts';
import { parseIntelQuote, type IntelQuote } from '../../src/attestation/intel/quote.ts';
import { parseCertificate, parseCrl } from '../../src/attestation/intel/x509.ts';
import { pemDecodeAll } from '../../src/x509/pem.ts';
import { verifyIntelQuote } from '../../src/attestation/intel/verify.ts';

export { VECTORS_ROOT };

/** One Intel vector: its files and expected.json. */
export interface IntelVector {
  id: string;
  kind: 'intel-sgx' | 'intel-tdx';
  dir: string;
  quote: Uint8Array;
  // expected.json is free-form JSON written by the vector authors.
  expected: ExpectedJson;
  collateral: IntelCollateral;
  /** Suggested verification time, or undefined (fortanix vector). */
  at: Date | undefined;
  window: { from: Date; until: Date } | undefined;
}

/** The parts of expected.json the tests read. */
export interface ExpectedJson {
  id: string;
  quote: Record<string, unknown> & { body: Record<string, string | number> };
  pck_certificate?: Record<string, unknown>;
  qe_report?: Record<string, unknown>;
  suggested_verification_time?: string;
  validity_window_all_inputs?: { not_before: string; not_after: string };
  tcb_evaluation?: { tdx_module?: { module_id?: string } | null } | null;
  expected_result: {
    verifies?: boolean;
    tcb_status?: string;
    advisory_ids?: string[];
    partial?: boolean;
    platform_tcb_status?: string;
    platform_advisory_ids?: string[];
    reason?: string;
  };
}

let cachedVectors: IntelVector[] | undefined;

/** Every intel-sgx and intel-tdx vector, loaded once per process. */
export async function loadIntelVectors(): Promise<IntelVector[]> {
  if (cachedVectors) return cachedVectors;
  const out: IntelVector[] = [];
  for (const kind of ['intel-sgx', 'intel-tdx'] as const) {
    for (const id of readdirSync(join(VECTORS_ROOT, kind)).sort()) {
      const dir = join(VECTORS_ROOT, kind, id);
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as ExpectedJson;
      const w = expected.validity_window_all_inputs;
      out.push({
        id,
        kind,
        dir,
        quote: new Uint8Array(readFileSync(join(dir, 'quote.bin'))),
        expected,
        collateral: await loadIntelCollateral(dir),
        at: expected.suggested_verification_time ? new Date(expected.suggested_verification_time) : undefined,
        window: w ? { from: new Date(w.not_before), until: new Date(w.not_after) } : undefined,
      });
    }
  }
  cachedVectors = out;
  return out;
}

/** Runs `fn` and returns the InclavareError code it throws (fails the test on success or a foreign error). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isInclavareError(err), `expected an InclavareError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected the call to throw');
}

/** Same as codeOf for async functions. */
export async function codeOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    assert.ok(isInclavareError(err), `expected an InclavareError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected the call to throw');
}

/** A copy of `bytes` with byte `offset` XOR `mask`. */
export function flip(bytes: Uint8Array, offset: number, mask = 0x01): Uint8Array {
  const out = bytes.slice();
  out[offset] = out[offset]! ^ mask;
  return out;
}

/** Offsets of the regions of a parsed quote, for targeted tampering. */
export function quoteRegions(bytes: Uint8Array): Record<string, { start: number; end: number }> {
  const q = parseIntelQuote(bytes);
  const find = (needle: Uint8Array, from = 0): number => {
    const i = Buffer.from(bytes).indexOf(Buffer.from(needle), from);
    assert.ok(i >= 0);
    return i;
  };
  const sigStart = q.signedBytes.length + 4;
  const qeReport = find(q.signature.qeReport.raw, sigStart);
  const auth = qeReport + 384 + 64 + 2;
  const chain = find(Buffer.from('-----BEGIN CERTIFICATE-----'), auth);
  return {
    header: { start: 0, end: 48 },
    body: { start: q.version === 5 ? 54 : 48, end: q.signedBytes.length },
    quoteSignature: { start: sigStart, end: sigStart + 64 },
    attestationKey: { start: sigStart + 64, end: sigStart + 128 },
    qeReport: { start: qeReport, end: qeReport + 384 },
    qeReportSignature: { start: qeReport + 384, end: qeReport + 448 },
    qeAuthData: { start: auth, end: auth + q.signature.qeAuthData.length },
    pckChain: { start: chain, end: chain + (q.signature.certificationData.pemChain?.length ?? 0) },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Test PKI

function newKey(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function derToPem(ders: Uint8Array[]): string {
  return ders
    .map((d) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(d).toString('base64').replace(/(.{64})/g, '$1\n').trim()}\n-----END CERTIFICATE-----\n`)
    .join('');
}

/** Re-issues a real certificate with the same TBS fields but `subjectKey`, signed by `issuerKey`. */
export function reissueCertificate(der: Uint8Array, subjectKey: KeyObject, issuerKey: KeyObject): Uint8Array {
  const cert = AsnConvert.parse(der, Certificate);
  delete cert.tbsCertificateRaw;
  cert.tbsCertificate.subjectPublicKeyInfo = AsnConvert.parse(subjectKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  const tbs = new Uint8Array(AsnConvert.serialize(cert.tbsCertificate));
  cert.signatureValue = new Uint8Array(sign('sha256', tbs, issuerKey)).buffer;
  return new Uint8Array(AsnConvert.serialize(cert));
}

/** Re-issues a real CRL with `revokedSerials` (hex) as its only entries, signed by `issuerKey`. */
export function reissueCrl(der: Uint8Array, issuerKey: KeyObject, revokedSerials: string[]): Uint8Array {
  const crl = AsnConvert.parse(der, CertificateList);
  delete crl.tbsCertListRaw;
  const t = crl.tbsCertList;
  t.revokedCertificates = revokedSerials.map(
    (s) =>
      new RevokedCertificate({
        userCertificate: new Uint8Array(Buffer.from((s.length % 2 ? '0' : '') + s, 'hex')).buffer,
        revocationDate: new Time(t.thisUpdate.getTime()),
      }),
  );
  if (t.revokedCertificates.length === 0) delete t.revokedCertificates;
  const tbs = new Uint8Array(AsnConvert.serialize(t));
  crl.signature = new Uint8Array(sign('sha256', tbs, issuerKey)).buffer;
  return new Uint8Array(AsnConvert.serialize(crl));
}

/** Re-signs a collateral JSON document: `{"<member>":<body>,"signature":"<hex r||s>"}`. */
export function signJsonDocument(member: string, body: string, key: KeyObject): string {
  const sig = sign('sha256', Buffer.from(body, 'utf8'), { key, dsaEncoding: 'ieee-p1363' });
  return `{"${member}":${body},"signature":"${sig.toString('hex')}"}`;
}

/** The exact signed body of a collateral document (test-side extraction: the last `,"signature"`). */
export function signedBody(doc: string, member: string): string {
  const start = doc.indexOf(`{"${member}":`);
  const end = doc.lastIndexOf(',"signature"');
  assert.ok(start === 0 && end > 0, `unexpected ${member} document layout`);
  return doc.slice(member.length + 4, end);
}

/** Serializes a quote with new QE/PCK material (everything before the signature data is kept verbatim). */
export function assembleQuote(
  q: IntelQuote,
  parts: { signedBytes?: Uint8Array; attestationKey: Uint8Array; quoteSignature: Uint8Array; qeReport: Uint8Array; qeReportSignature: Uint8Array; pem: string },
): Uint8Array {
  const u16 = (n: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n);
    return b;
  };
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const pem = Buffer.from(`${parts.pem}\0`, 'latin1');
  const auth = q.signature.qeAuthData;
  const qeBlock = Buffer.concat([parts.qeReport, parts.qeReportSignature, u16(auth.length), auth, u16(5), u32(pem.length), pem]);
  const certPart = q.version === 3 ? qeBlock : Buffer.concat([u16(6), u32(qeBlock.length), qeBlock]);
  const sigData = Buffer.concat([parts.quoteSignature, parts.attestationKey, certPart]);
  return new Uint8Array(Buffer.concat([parts.signedBytes ?? q.signedBytes, u32(sigData.length), sigData]));
}

/** A vector re-issued under the test PKI. */
export interface TestPki {
  quote: Uint8Array;
  collateral: IntelCollateral;
  trustAnchors: Uint8Array[];
  /** Serials (hex) of the re-issued PCK, PCK CA and TCB Signing certificates. */
  serials: { pck: string; pckCa: string; tcbSigner: string };
  /** Rebuilds the collateral with other revocations or other signed bodies. */
  collateralWith(change: {
    pckRevoked?: string[];
    rootRevoked?: string[];
    tcbInfoBody?: (body: string) => string;
    qeIdentityBody?: (body: string) => string;
  }): IntelCollateral;
  /** Rebuilds the quote with a changed body (re-signed by the attestation key). */
  quoteWith(change: { signedBytes?: (b: Uint8Array) => Uint8Array }): Uint8Array;
}

/** Re-issues `vector` (which must have full collateral) under a fresh test PKI; see the module comment. */
export function buildTestPki(vector: IntelVector): TestPki {
  const q = parseIntelQuote(vector.quote);
  const quoteCerts = q.signature.certificationData.certificates!.map((d) => parseCertificate(d, 'ATTEST_ERR_PCK_CHAIN', 'fixture'));
  const byCn = (certs: typeof quoteCerts, re: RegExp) => certs.find((c) => re.test(c.subject))!;
  const realPck = byCn(quoteCerts, /PCK Certificate/);
  const realCa = byCn(quoteCerts, /PCK (Processor|Platform) CA/);
  const realRoot = byCn(quoteCerts, /Root CA/);
  const c = vector.collateral;
  const tcbChain = pemDecodeAll(c.tcbInfoIssuerChain!, 'CERTIFICATE').map((d) => parseCertificate(d, 'ATTEST_ERR_PCK_CHAIN', 'fixture'));
  const realTcbSigner = byCn(tcbChain, /TCB Signing/);

  const root = newKey();
  const ca = newKey();
  const pck = newKey();
  const tcb = newKey();
  const rootDer = reissueCertificate(realRoot.der, root.publicKey, root.privateKey);
  const caDer = reissueCertificate(realCa.der, ca.publicKey, root.privateKey);
  const pckDer = reissueCertificate(realPck.der, pck.publicKey, ca.privateKey);
  const tcbDer = reissueCertificate(realTcbSigner.der, tcb.publicKey, root.privateKey);

  const att = newKey();
  const attXy = new Uint8Array(att.publicKey.export({ type: 'spki', format: 'der' }).subarray(-64));
  const qeReport = q.signature.qeReport.raw.slice();
  qeReport.set(createHash('sha256').update(attXy).update(q.signature.qeAuthData).digest(), 320);
  qeReport.fill(0, 352, 384);
  const qeReportSignature = new Uint8Array(sign('sha256', qeReport, { key: pck.privateKey, dsaEncoding: 'ieee-p1363' }));
  const pem = derToPem([pckDer, caDer, rootDer]);
  const quoteWith: TestPki['quoteWith'] = (change) => {
    const signedBytes = change.signedBytes ? change.signedBytes(q.signedBytes.slice()) : q.signedBytes;
    const quoteSignature = new Uint8Array(sign('sha256', signedBytes, { key: att.privateKey, dsaEncoding: 'ieee-p1363' }));
    return assembleQuote(q, { signedBytes, attestationKey: attXy, quoteSignature, qeReport, qeReportSignature, pem });
  };

  const realCrl = parseCrl(c.pckCrl!, 'ATTEST_ERR_CRL', 'fixture');
  // The vector's PCK CRL may belong to the other PCK CA than the quote's; keep the one that matches.
  assert.equal(realCrl.issuerKey, realCa.subjectKey, 'the vector PCK CRL must be issued by the quote PCK CA');
  const tcbInfoBody = signedBody(c.tcbInfo!, 'tcbInfo');
  const qeIdentityBody = signedBody(c.qeIdentity!, 'enclaveIdentity');
  const collateralWith: TestPki['collateralWith'] = (change) => ({
    tcbInfo: signJsonDocument('tcbInfo', (change.tcbInfoBody ?? ((b) => b))(tcbInfoBody), tcb.privateKey),
    tcbInfoIssuerChain: derToPem([tcbDer, rootDer]),
    qeIdentity: signJsonDocument('enclaveIdentity', (change.qeIdentityBody ?? ((b) => b))(qeIdentityBody), tcb.privateKey),
    qeIdentityIssuerChain: derToPem([tcbDer, rootDer]),
    pckCrl: reissueCrl(c.pckCrl!, ca.privateKey, change.pckRevoked ?? []),
    pckCrlIssuerChain: derToPem([caDer, rootDer]),
    rootCaCrl: reissueCrl(c.rootCaCrl!, root.privateKey, change.rootRevoked ?? []),
  });
  return {
    quote: quoteWith({}),
    collateral: collateralWith({}),
    trustAnchors: [rootDer],
    serials: { pck: realPck.serial, pckCa: realCa.serial, tcbSigner: realTcbSigner.serial },
    collateralWith,
    quoteWith,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Vector-driven tests shared by sgx-vectors.test.ts and tdx-vectors.test.ts

const DAY = 86_400_000;

/** What expected.json says the verifier must do: succeed, or fail with one code. */
export function expectedCode(v: IntelVector): string | undefined {
  const r = v.expected.expected_result;
  if (r.verifies === true) return undefined;
  if (r.partial) return 'ATTEST_ERR_COLLATERAL_MISSING';
  if (/no TCB level/i.test(r.reason ?? '')) return 'ATTEST_ERR_NO_TCB_LEVEL';
  if (/root certificate/i.test(r.reason ?? '')) return 'ATTEST_ERR_UNTRUSTED_ROOT';
  assert.fail(`no rule maps the expected result of ${v.id} to an error code`);
}

/** expected.json writes MISCSELECT as the u32 value in hex (big-endian digits), not in structure order. */
function u32Hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** Asserts that the parsed quote holds every field expected.json lists for it. */
export function assertParsedLikeExpected(v: IntelVector): void {
  const q = parseIntelQuote(v.quote);
  const e = v.expected.quote;
  assert.equal(q.version, e.version);
  assert.equal(q.size, e.size);
  assert.equal(`0x${q.header.teeType.toString(16)}`, e.tee_type);
  assert.equal(q.header.attestationKeyType, e.att_key_type);
  if (e.qe_svn !== undefined) assert.equal(q.header.qeSvn, e.qe_svn);
  if (e.pce_svn !== undefined) assert.equal(q.header.pceSvn, e.pce_svn);
  if (e.qe_vendor_id !== undefined) assert.equal(q.header.qeVendorId, e.qe_vendor_id);
  if (e.user_data !== undefined) assert.equal(q.header.userData, e.user_data);
  assert.equal(q.trailingBytes, e.trailing_bytes_after_signature_data);
  if (e.body_descriptor_type !== undefined) assert.equal(q.bodyDescriptor?.type ?? null, e.body_descriptor_type);
  const b = e.body;
  if (q.body.kind === 'sgx') {
    const r = q.body.report;
    assert.deepEqual(
      {
        cpusvn: r.cpuSvn, miscselect: u32Hex(r.miscSelect), attributes: r.attributes, mrenclave: r.mrEnclave, mrsigner: r.mrSigner,
        isvprodid: r.isvProdId, isvsvn: r.isvSvn, reportdata: r.reportData, config_id: r.configId, config_svn: r.configSvn,
        isv_ext_prod_id: r.isvExtProdId, isv_family_id: r.isvFamilyId,
      },
      b,
    );
  } else {
    const r = q.body.report;
    const got: Record<string, string | undefined> = {
      tee_tcb_svn: r.teeTcbSvn, mrseam: r.mrSeam, mrsignerseam: r.mrSignerSeam, seam_attributes: r.seamAttributes,
      td_attributes: r.tdAttributes, xfam: r.xfam, mrtd: r.mrTd, mrconfigid: r.mrConfigId, mrowner: r.mrOwner,
      mrownerconfig: r.mrOwnerConfig, rtmr0: r.rtmr0, rtmr1: r.rtmr1, rtmr2: r.rtmr2, rtmr3: r.rtmr3, reportdata: r.reportData,
    };
    if (r.kind === 'tdx15') Object.assign(got, { tee_tcb_svn2: r.teeTcbSvn2, mrservicetd: r.mrServiceTd });
    assert.deepEqual(got, b);
  }
  const qe = v.expected.qe_report;
  if (qe) {
    const r = q.signature.qeReport;
    assert.deepEqual(
      { mrenclave: r.mrEnclave, mrsigner: r.mrSigner, isvprodid: r.isvProdId, isvsvn: r.isvSvn, miscselect: u32Hex(r.miscSelect), attributes: r.attributes },
      qe,
    );
  }
}

type Verify = (quote: Uint8Array, options: Parameters<typeof verifyIntelQuote>[1]) => ReturnType<typeof verifyIntelQuote>;

/** Defines the table-driven vector tests for one kind with its verifier. */
export async function defineVectorTests(kind: IntelVector['kind'], name: string, verify: Verify): Promise<void> {
  const vectors = (await loadIntelVectors()).filter((v) => v.kind === kind);
  for (const v of vectors) {
    const code = expectedCode(v);
    const outcome = code ? `rejects ${v.id} with ${code}` : `accepts ${v.id} with TCB status ${v.expected.expected_result.tcb_status}`;

    void test(`parseIntelQuote() reads every field of ${v.id} that expected.json lists`, () => assertParsedLikeExpected(v));

    void test(`${name}() ${outcome} at its suggested verification time`, () => {
      const at = v.at ?? new Date('2025-01-01T00:00:00Z');
      if (code) {
        let err: unknown;
        try {
          verify(v.quote, { collateral: v.collateral, at });
        } catch (e) {
          err = e;
        }
        assert.ok(isInclavareError(err), `expected ${code}, got ${String(err)}`);
        assert.equal(err.code, code, err.message);
        assert.equal(err.errorClass, 'verification-failed');
        const r = v.expected.expected_result;
        if (r.partial) {
          // The partial vector: signatures and chain are valid, the platform TCB level is known.
          assert.equal(err.details?.platformTcbStatus, r.platform_tcb_status);
          assert.deepEqual(err.details?.platformAdvisoryIds, [...(r.platform_advisory_ids ?? [])].sort());
        }
        return;
      }
      const claims = verify(v.quote, { collateral: v.collateral, at });
      const r = v.expected.expected_result;
      assert.equal(claims.tcbStatus, r.tcb_status);
      assert.deepEqual(claims.advisoryIds, [...(r.advisory_ids ?? [])].sort());
      assert.equal(claims.validFrom, v.window!.from.toISOString());
      assert.equal(claims.validUntil, v.window!.until.toISOString());
      const e = v.expected.quote;
      const b = e.body;
      assert.equal(claims.evidenceVersion, e.version);
      assert.equal(claims.debug, e.debug);
      assert.equal(claims.reportData, b.reportdata);
      const pck = v.expected.pck_certificate!;
      assert.deepEqual(claims.platform, { fmspc: pck.fmspc, pceId: pck.pceid });
      assert.equal(claims.extra.pceSvn, pck.pcesvn);
      assert.equal(claims.extra.pckCa, pck.issuing_ca);
      if (kind === 'intel-sgx') {
        assert.equal(claims.tee, 'sgx');
        assert.deepEqual(claims.measurements, { mrenclave: b.mrenclave, mrsigner: b.mrsigner });
        assert.equal(claims.productId, b.isvprodid);
        assert.equal(claims.svn, b.isvsvn);
        assert.equal(claims.extra.attributes, b.attributes);
      } else {
        assert.equal(claims.tee, 'tdx');
        assert.deepEqual(claims.measurements, {
          mrtd: b.mrtd, rtmr0: b.rtmr0, rtmr1: b.rtmr1, rtmr2: b.rtmr2, rtmr3: b.rtmr3, mrseam: b.mrseam,
          mrsignerseam: b.mrsignerseam, mrconfigid: b.mrconfigid, mrowner: b.mrowner, mrownerconfig: b.mrownerconfig,
          tdAttributes: b.td_attributes, xfam: b.xfam,
        });
        assert.equal(claims.extra.teeTcbSvn, b.tee_tcb_svn);
        assert.equal(claims.extra.tdxModuleId, v.expected.tcb_evaluation?.tdx_module?.module_id);
      }
    });

    if (v.window) {
      for (const [when, at] of [
        ['a day before', new Date(v.window.from.getTime() - DAY)],
        ['a day after', new Date(v.window.until.getTime() + DAY)],
      ] as const) {
        void test(`${name}() rejects ${v.id} ${when} its validity window with ATTEST_ERR_COLLATERAL_EXPIRED`, () => {
          assert.equal(codeOf(() => verify(v.quote, { collateral: v.collateral, at })), 'ATTEST_ERR_COLLATERAL_EXPIRED');
        });
      }
      void test(`${name}() accepts the exact ends of the validity window of ${v.id} as valid`, () => {
        for (const at of [v.window!.from, v.window!.until]) {
          const c = (() => {
            try {
              verify(v.quote, { collateral: v.collateral, at });
              return undefined;
            } catch (err) {
              return isInclavareError(err) ? err.code : String(err);
            }
          })();
          assert.equal(c, code);
        }
      });
    }
  }
}
