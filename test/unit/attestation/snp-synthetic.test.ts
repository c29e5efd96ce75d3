// verifySnpReport() against a synthetic AMD hierarchy minted here (ARK/ASK/ASVK with RSASSA-PSS SHA-384,
// VCEK/VLEK with AMD's extensions, reports signed with the VCEK key). Real reports cannot show a TCB or chip id
// mismatch with a valid signature, a VLEK, a masked chip id or a Turin v2 report; these can.
import { strict as assert } from 'node:assert';
import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  Certificate,
  CRLNumber,
  DisplayText,
  Extension,
  Extensions,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { isInclavareError } from '../../../src/errors/errors.ts';
import { verifySnpReport, type SnpVerifyOptions } from '../../../src/attestation/snp/verify.ts';
import { AMD_OIDS } from '../../../src/attestation/amd/vcek-extensions.ts';
import { VECTORS_ROOT } from '../../support/vectors.ts';

const VECTORS = VECTORS_ROOT;
const TEMPLATE = new Uint8Array(readFileSync(`${VECTORS}/amd-sev-snp/snp-v5-gcp-milan/report.bin`));

const SHA384 = '2.16.840.1.101.3.4.2.2';
const NOT_BEFORE = new Date('2024-01-01T00:00:00Z');
const NOT_AFTER = new Date('2031-01-01T00:00:00Z');
const AT = new Date('2026-06-01T00:00:00Z');

type Spl = 'blSPL' | 'teeSPL' | 'snpSPL' | 'ucodeSPL' | 'fmcSPL';

interface CertSpec {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signer: KeyObject;
  notBefore?: Date;
  notAfter?: Date;
  extensions?: Extension[];
  hash?: string;
}

function pssAlgorithm(hash = SHA384): AlgorithmIdentifier {
  const hashAlg = new AlgorithmIdentifier({ algorithm: hash, parameters: null });
  const params = new RsaSaPssParams({
    hashAlgorithm: hashAlg,
    maskGenAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.8', parameters: AsnConvert.serialize(hashAlg) }),
    saltLength: 48,
  });
  return new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.10', parameters: AsnConvert.serialize(params) });
}

function name(cn: string): Name {
  return new Name([
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type: '2.5.4.3', value: new AttributeValue({ utf8String: cn }) })]),
  ]);
}

function mintCertificate(spec: CertSpec): string {
  const alg = pssAlgorithm(spec.hash);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array([1]).buffer,
    signature: alg,
    issuer: name(spec.issuer),
    validity: new Validity({ notBefore: spec.notBefore ?? NOT_BEFORE, notAfter: spec.notAfter ?? NOT_AFTER }),
    subject: name(spec.subject),
    subjectPublicKeyInfo: AsnConvert.parse(spec.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
    extensions: spec.extensions === undefined ? undefined : new Extensions(spec.extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const hashName = spec.hash === undefined || spec.hash === SHA384 ? 'sha384' : 'sha256';
  const signature = sign(hashName, tbsDer, { key: spec.signer, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 });
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: alg, signatureValue: signature.buffer.slice(signature.byteOffset, signature.byteOffset + signature.length) });
  const der = Buffer.from(AsnConvert.serialize(cert));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
}

const ext = (oid: string, value: ArrayBuffer | Uint8Array): Extension =>
  new Extension({ extnID: oid, critical: false, extnValue: new OctetString(value instanceof Uint8Array ? value : new Uint8Array(value)) });
const intExt = (oid: string, n: number): Extension => ext(oid, AsnConvert.serialize(new CRLNumber(n)));
const ia5Ext = (oid: string, s: string): Extension => ext(oid, AsnConvert.serialize(new DisplayText({ ia5String: s })));

const rsa = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('rsa', { modulusLength: 2048 });
const ark = rsa();
const ask = rsa();
const asvk = rsa();
const arkPem = mintCertificate({ subject: 'ARK-Milan', issuer: 'ARK-Milan', publicKey: ark.publicKey, signer: ark.privateKey });
const askPem = mintCertificate({ subject: 'SEV-Milan', issuer: 'ARK-Milan', publicKey: ask.publicKey, signer: ark.privateKey });
const asvkPem = mintCertificate({ subject: 'SEV-VLEK-Milan', issuer: 'ARK-Milan', publicKey: asvk.publicKey, signer: ark.privateKey });
const turinArk = rsa();
const turinAsk = rsa();
const turinArkPem = mintCertificate({ subject: 'ARK-Turin', issuer: 'ARK-Turin', publicKey: turinArk.publicKey, signer: turinArk.privateKey });
const turinAskPem = mintCertificate({ subject: 'SEV-Turin', issuer: 'ARK-Turin', publicKey: turinAsk.publicKey, signer: turinArk.privateKey });
const anchors = [arkPem + askPem, arkPem + asvkPem, turinArkPem + turinAskPem];

const CHIP_ID = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
const TURIN_HWID = CHIP_ID.subarray(0, 8);

interface LeafSpec {
  kind?: 'VCEK' | 'VLEK';
  product?: string | null;
  issuer?: string;
  signer?: KeyObject;
  spl?: Partial<Record<Spl, number | null>>;
  hwId?: Uint8Array | null;
  notAfter?: Date;
  curve?: 'secp384r1' | 'prime256v1';
}

/** A VCEK/VLEK key pair and certificate. Milan SPLs bl 4, tee 0, snp 27, ucode 222 by default. */
function mintLeaf(spec: LeafSpec = {}): { pem: string; key: KeyObject } {
  const kind = spec.kind ?? 'VCEK';
  const pair = generateKeyPairSync('ec', { namedCurve: spec.curve ?? 'secp384r1' });
  const spl: Record<Spl, number | null> = { blSPL: 4, teeSPL: 0, snpSPL: 27, ucodeSPL: 222, fmcSPL: null, ...spec.spl };
  const extensions = [intExt(AMD_OIDS.structVersion, 0)];
  const product = spec.product === undefined ? 'Milan-B0' : spec.product;
  if (product !== null) extensions.push(ia5Ext(AMD_OIDS.productName, product));
  for (const [k, v] of Object.entries(spl)) if (v !== null) extensions.push(intExt(AMD_OIDS[k as Spl], v));
  const hwId = spec.hwId === undefined ? (kind === 'VCEK' ? CHIP_ID : null) : spec.hwId;
  if (hwId !== null) extensions.push(ext(AMD_OIDS.hwID, hwId));
  if (kind === 'VLEK') extensions.push(ia5Ext(AMD_OIDS.cspID, 'Example Cloud'));
  const pem = mintCertificate({
    subject: `SEV-${kind}`,
    issuer: spec.issuer ?? (kind === 'VCEK' ? 'SEV-Milan' : 'SEV-VLEK-Milan'),
    publicKey: pair.publicKey,
    signer: spec.signer ?? (kind === 'VCEK' ? ask.privateKey : asvk.privateKey),
    notAfter: spec.notAfter,
    extensions,
  });
  return { pem, key: pair.privateKey };
}

interface ReportSpec {
  version?: number;
  /** 8 bytes of REPORTED_TCB as stored. Default: Milan bl 4, tee 0, snp 27, ucode 222. */
  reportedTcb?: number[];
  chipId?: Uint8Array;
  cpuid?: [number, number, number] | null;
  signingKey?: number;
  policy?: number;
}

const MILAN_TCB = [4, 0, 0, 0, 0, 0, 27, 222];

/** A report built from a real v5 template, modified as asked and signed with `key`. */
function mintReport(key: KeyObject, spec: ReportSpec = {}): Uint8Array {
  const r = Uint8Array.from(TEMPLATE);
  const view = new DataView(r.buffer);
  view.setUint32(0, spec.version ?? 5, true);
  if (spec.policy !== undefined) view.setUint32(0x08, spec.policy, true);
  view.setUint32(0x48, (spec.signingKey ?? 0) << 2, true);
  r.set(spec.reportedTcb ?? MILAN_TCB, 0x180);
  const cpuid = spec.cpuid === undefined ? [0x19, 0x01, 0x01] : spec.cpuid;
  r.set(cpuid ?? [0, 0, 0], 0x188);
  r.set(spec.chipId ?? CHIP_ID, 0x1a0);
  const sig = sign('sha384', r.subarray(0, 0x2a0), { key, dsaEncoding: 'ieee-p1363' });
  r.fill(0, 0x2a0);
  r.set(Uint8Array.from(sig.subarray(0, 48)).reverse(), 0x2a0);
  r.set(Uint8Array.from(sig.subarray(48)).reverse(), 0x2e8);
  return r;
}

function opts(vcek: string, extra: Partial<SnpVerifyOptions> = {}): SnpVerifyOptions {
  return { vcek, trustAnchors: anchors, at: AT, ...extra };
}

function rejects(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isInclavareError(err), `expected InclavareError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

void describe('verifySnpReport() with a synthetic AMD hierarchy', () => {
  const milan = mintLeaf();

  void it('verifies a report signed by a VCEK of the synthetic Milan chain', () => {
    const claims = verifySnpReport(mintReport(milan.key), opts(milan.pem));
    assert.equal(claims.platform.productName, 'Milan');
    assert.equal(claims.extra.reportedTcbMicrocode, 222);
    assert.equal(claims.extra.tcbLayout, 'milan-genoa');
  });

  void it('rejects the synthetic chain under the built-in AMD anchors with ATTEST_ERR_UNTRUSTED_ROOT', () => {
    rejects(() => verifySnpReport(mintReport(milan.key), { vcek: milan.pem, certChain: arkPem + askPem, at: AT }), 'ATTEST_ERR_UNTRUSTED_ROOT');
  });

  for (const [spl, index] of [
    ['blSPL', 0],
    ['teeSPL', 1],
    ['snpSPL', 6],
    ['ucodeSPL', 7],
  ] as const) {
    void it(`rejects a signed report whose reported TCB differs from the VCEK's ${spl} with ATTEST_ERR_TCB_MISMATCH`, () => {
      const tcb = [...MILAN_TCB];
      tcb[index] = (tcb[index] ?? 0) + 1;
      rejects(() => verifySnpReport(mintReport(milan.key, { reportedTcb: tcb }), opts(milan.pem)), 'ATTEST_ERR_TCB_MISMATCH');
    });
  }

  void it('ignores the reserved TCB bytes 2-5 of the Milan layout when it compares SPLs', () => {
    verifySnpReport(mintReport(milan.key, { reportedTcb: [4, 0, 9, 9, 9, 9, 27, 222] }), opts(milan.pem));
  });

  void it('rejects a VCEK without a blSPL extension with ATTEST_ERR_TCB_MISMATCH', () => {
    const leaf = mintLeaf({ spl: { blSPL: null } });
    rejects(() => verifySnpReport(mintReport(leaf.key), opts(leaf.pem)), 'ATTEST_ERR_TCB_MISMATCH');
  });

  void it('rejects a signed report whose chip id differs from the VCEK hwID with ATTEST_ERR_CHIP_ID_MISMATCH', () => {
    const other = Uint8Array.from(CHIP_ID);
    other[63] = 0xff;
    rejects(() => verifySnpReport(mintReport(milan.key, { chipId: other }), opts(milan.pem)), 'ATTEST_ERR_CHIP_ID_MISMATCH');
  });

  void it('rejects a VCEK without an hwID extension with ATTEST_ERR_CHIP_ID_MISMATCH', () => {
    const leaf = mintLeaf({ hwId: null });
    rejects(() => verifySnpReport(mintReport(leaf.key), opts(leaf.pem)), 'ATTEST_ERR_CHIP_ID_MISMATCH');
  });

  void it('accepts a masked (all-zero) chip id, says so and claims no chip id', () => {
    const claims = verifySnpReport(mintReport(milan.key, { chipId: new Uint8Array(64) }), opts(milan.pem));
    assert.equal(claims.extra.chipIdMasked, true);
    assert.equal(claims.platform.chipId, undefined);
  });

  void it('rejects a report whose CPUID names Genoa when the VCEK is for Milan with ATTEST_ERR_CHIP_ID_MISMATCH', () => {
    rejects(() => verifySnpReport(mintReport(milan.key, { cpuid: [0x19, 0x11, 0x01] }), opts(milan.pem)), 'ATTEST_ERR_CHIP_ID_MISMATCH');
  });

  void it('rejects a VCEK whose productName names Genoa but chains to ARK-Milan with ATTEST_ERR_CERT_CHAIN', () => {
    const leaf = mintLeaf({ product: 'Genoa' });
    rejects(() => verifySnpReport(mintReport(leaf.key, { cpuid: null, version: 2 }), opts(leaf.pem)), 'ATTEST_ERR_CERT_CHAIN');
  });

  void it('rejects a report when debug is forced on and rejectDebug is set with ATTEST_ERR_DEBUG, and claims debug otherwise', () => {
    const report = mintReport(milan.key, { policy: 0x30000 | (1 << 19) });
    assert.equal(verifySnpReport(report, opts(milan.pem)).debug, true);
    rejects(() => verifySnpReport(report, opts(milan.pem, { rejectDebug: true })), 'ATTEST_ERR_DEBUG');
  });

  void it('verifies a report signed by a VLEK under the ASVK and claims signingKey vlek', () => {
    const vlek = mintLeaf({ kind: 'VLEK' });
    const claims = verifySnpReport(mintReport(vlek.key, { signingKey: 1, chipId: new Uint8Array(64) }), opts(vlek.pem));
    assert.equal(claims.extra.signingKey, 'vlek');
    assert.equal(claims.extra.vlekCspId, 'Example Cloud');
  });

  void it('rejects a VLEK-signed report given with a VCEK with ATTEST_ERR_CERT_CHAIN', () => {
    rejects(() => verifySnpReport(mintReport(milan.key, { signingKey: 1 }), opts(milan.pem)), 'ATTEST_ERR_CERT_CHAIN');
  });

  void it('rejects a VLEK issued by the ASK (not the ASVK) with ATTEST_ERR_CERT_CHAIN', () => {
    const vlek = mintLeaf({ kind: 'VLEK', issuer: 'SEV-Milan', signer: ask.privateKey });
    rejects(() => verifySnpReport(mintReport(vlek.key, { signingKey: 1 }), opts(vlek.pem)), 'ATTEST_ERR_CERT_CHAIN');
  });

  void it('rejects a VCEK that is a P-256 key with ATTEST_ERR_CERT_CHAIN', () => {
    const leaf = mintLeaf({ curve: 'prime256v1' });
    rejects(() => verifySnpReport(mintReport(milan.key), opts(leaf.pem)), 'ATTEST_ERR_CERT_CHAIN');
  });

  void it('rejects a VCEK signed with RSASSA-PSS SHA-256 instead of SHA-384 with ATTEST_ERR_CERT_CHAIN', () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const pem = mintCertificate({
      subject: 'SEV-VCEK',
      issuer: 'SEV-Milan',
      publicKey: pair.publicKey,
      signer: ask.privateKey,
      hash: '2.16.840.1.101.3.4.2.1',
    });
    rejects(() => verifySnpReport(mintReport(pair.privateKey), opts(pem)), 'ATTEST_ERR_CERT_CHAIN');
  });

  void it('rejects a VCEK signed by another key under the ASK name with ATTEST_ERR_CERT_CHAIN', () => {
    const leaf = mintLeaf({ signer: asvk.privateKey });
    rejects(() => verifySnpReport(mintReport(leaf.key), opts(leaf.pem)), 'ATTEST_ERR_CERT_CHAIN');
  });

  void it('rejects a trust anchor that is self-issued but not self-signed with ATTEST_ERR_MALFORMED', () => {
    const bogus = mintCertificate({ subject: 'ARK-Milan', issuer: 'ARK-Milan', publicKey: ark.publicKey, signer: ask.privateKey });
    rejects(() => verifySnpReport(mintReport(milan.key), opts(milan.pem, { trustAnchors: [bogus + askPem] })), 'ATTEST_ERR_MALFORMED');
  });

  void it('limits validUntil to the earliest notAfter of the chain and rejects after it with ATTEST_ERR_COLLATERAL_EXPIRED', () => {
    const leaf = mintLeaf({ notAfter: new Date('2027-01-01T00:00:00Z') });
    const report = mintReport(leaf.key);
    assert.equal(verifySnpReport(report, opts(leaf.pem)).validUntil, '2027-01-01T00:00:00.000Z');
    rejects(() => verifySnpReport(report, opts(leaf.pem, { at: new Date('2027-01-01T00:00:00.001Z') })), 'ATTEST_ERR_COLLATERAL_EXPIRED');
  });

  void describe('Turin', () => {
    const turinSpl = { fmcSPL: 1, blSPL: 1, teeSPL: 1, snpSPL: 4, ucodeSPL: 81 };
    const turin = mintLeaf({ product: 'Turin', issuer: 'SEV-Turin', signer: turinAsk.privateKey, spl: turinSpl, hwId: TURIN_HWID });
    const TURIN_TCB = [1, 1, 1, 4, 0, 0, 0, 81];
    const turinChip = new Uint8Array(64);
    turinChip.set(TURIN_HWID);

    void it('verifies a Turin report in the FMC layout with an 8-byte hwID', () => {
      const claims = verifySnpReport(
        mintReport(turin.key, { reportedTcb: TURIN_TCB, cpuid: [0x1a, 0x02, 0x01], chipId: turinChip }),
        opts(turin.pem),
      );
      assert.equal(claims.extra.tcbLayout, 'turin');
      assert.equal(claims.extra.reportedTcbFmc, 1);
      assert.equal(claims.extra.reportedTcbSnp, 4);
      assert.equal(claims.platform.productName, 'Turin');
    });

    void it('decodes a Turin v2 report (no CPUID) in the layout of its VCEK', () => {
      const claims = verifySnpReport(mintReport(turin.key, { version: 2, reportedTcb: TURIN_TCB, cpuid: null, chipId: turinChip }), opts(turin.pem));
      assert.equal(claims.extra.tcbLayout, 'turin');
    });

    void it("rejects a Turin report whose FMC differs from the VCEK's fmcSPL with ATTEST_ERR_TCB_MISMATCH", () => {
      const tcb = [2, 1, 1, 4, 0, 0, 0, 81];
      rejects(
        () => verifySnpReport(mintReport(turin.key, { reportedTcb: tcb, cpuid: [0x1a, 0x02, 0x01], chipId: turinChip }), opts(turin.pem)),
        'ATTEST_ERR_TCB_MISMATCH',
      );
    });

    void it('rejects a Turin report read in the Milan layout, i.e. whose TCB bytes follow Milan, with ATTEST_ERR_TCB_MISMATCH', () => {
      rejects(
        () => verifySnpReport(mintReport(turin.key, { reportedTcb: [1, 1, 0, 0, 0, 0, 4, 81], cpuid: [0x1a, 0x02, 0x01], chipId: turinChip }), opts(turin.pem)),
        'ATTEST_ERR_TCB_MISMATCH',
      );
    });

    void it('rejects a Turin VCEK without fmcSPL with ATTEST_ERR_TCB_MISMATCH', () => {
      const leaf = mintLeaf({ product: 'Turin', issuer: 'SEV-Turin', signer: turinAsk.privateKey, spl: { ...turinSpl, fmcSPL: null }, hwId: TURIN_HWID });
      rejects(
        () => verifySnpReport(mintReport(leaf.key, { reportedTcb: TURIN_TCB, cpuid: [0x1a, 0x02, 0x01], chipId: turinChip }), opts(leaf.pem)),
        'ATTEST_ERR_TCB_MISMATCH',
      );
    });

    void it('rejects a Turin chip id with non-zero bytes after the 8-byte hwID with ATTEST_ERR_CHIP_ID_MISMATCH', () => {
      rejects(
        () => verifySnpReport(mintReport(turin.key, { reportedTcb: TURIN_TCB, cpuid: [0x1a, 0x02, 0x01], chipId: CHIP_ID }), opts(turin.pem)),
        'ATTEST_ERR_CHIP_ID_MISMATCH',
      );
    });
  });
});
