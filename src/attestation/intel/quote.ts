/**
 * Intel DCAP quote parser: ECDSA quote v3 (SGX), v4 (SGX or TDX 1.0) and v5 (body descriptor: SGX, TDX 1.0
 * or TDX 1.5). Layouts: Intel SGX DCAP ECDSA Quote Library API (quote v3, "Quote Format"), Intel TDX DCAP
 * Quoting Library API (quote v4, v5, appendix A). Pure: bytes in, a fully typed structure out; any input
 * gives either a value or an InclavareError ATTEST_ERR_MALFORMED / ATTEST_ERR_UNSUPPORTED_VERSION.
 */
import { ByteReader } from './bytes.ts';
import { INTEL_ERROR_CODES, intelError } from './codes.ts';
import { parseSgxReportBody, type SgxReportBody } from '../sgx/parse.ts';
import { parseTdReportBody, TDX10_BODY_SIZE, TDX15_BODY_SIZE, type TdReportBody } from '../tdx/parse.ts';
import { pemDecodeExact } from '../../x509/pem.ts';

/** Quote header size (all versions). */
export const QUOTE_HEADER_SIZE = 48;
/** Attestation key type 2: ECDSA-256-with-P-256 (the only one DCAP QEs produce today). */
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
/** TEE types of the v4/v5 header. */
export const TEE_TYPE_SGX = 0x00;
export const TEE_TYPE_TDX = 0x81;
/**
 * CBOR tag of an Intel SGX/TDX quote in a TCG DICE evidence extension (the C RATS-TLS's private tag 60000, docs/rats-tls.md; SGX
 * and TDX are told apart by the quote header).
 */
export const INTEL_QUOTE_CBOR_TAG = 60000;
/** Certification data types (Quote Library API, "Certification Data"). */
export const CERT_DATA_PCK_CHAIN = 5;
export const CERT_DATA_QE_REPORT = 6;

/** The 48-byte quote header. */
export interface IntelQuoteHeader {
  version: number;
  attestationKeyType: number;
  /** 0x00 SGX, 0x81 TDX (v3: reserved, always 0). */
  teeType: number;
  /** v3: QE SVN; v4/v5: reserved. */
  qeSvn: number;
  /** v3: PCE SVN; v4/v5: reserved. */
  pceSvn: number;
  qeVendorId: string;
  userData: string;
}

/** The report body of the quote, by kind. */
export type IntelQuoteBody =
  | { kind: 'sgx'; report: SgxReportBody }
  | { kind: 'tdx10' | 'tdx15'; report: TdReportBody };

/** Certification data (type, size, bytes); type 5 also decoded into the DER certificates of the PEM chain. */
export interface CertificationData {
  type: number;
  data: Uint8Array;
  /** Type 5: the PEM text (trailing NULs removed). */
  pemChain?: string;
  /** Type 5: each PEM certificate decoded to DER, in the order found. */
  certificates?: Uint8Array[];
}

/** ECDSA-256 quote signature data (v3: flat; v4/v5: QE fields nested in certification data type 6). */
export interface IntelQuoteSignatureData {
  /** ECDSA P-256 signature (r || s) by the attestation key over header and body. */
  quoteSignature: Uint8Array;
  /** Attestation public key, x || y (64 bytes). */
  attestationKey: Uint8Array;
  qeReport: SgxReportBody;
  /** ECDSA P-256 signature (r || s) over the QE report by the PCK key. */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** The certification data that identifies the PCK (type 5 for every quote we verify). */
  certificationData: CertificationData;
  /** v4/v5: the outer certification data (type 6) that wraps the QE report and the PCK certification data. */
  outerCertificationType?: number;
}

/** A parsed Intel DCAP quote. */
export interface IntelQuote {
  version: 3 | 4 | 5;
  tee: 'sgx' | 'tdx';
  header: IntelQuoteHeader;
  /** v5 only: body type (1 SGX, 2 TDX 1.0, 3 TDX 1.5) and size. */
  bodyDescriptor?: { type: number; size: number };
  body: IntelQuoteBody;
  /** Bytes covered by the quote signature: everything before the signature data length field. */
  signedBytes: Uint8Array;
  signatureDataLength: number;
  signature: IntelQuoteSignatureData;
  /** Bytes after the declared signature data (not covered by any signature; some producers append some). */
  trailingBytes: number;
  /** Offset of the first non-zero byte after the signature data (absent: none, or only zero padding). */
  trailingNonZeroAt?: number;
  /** Total quote length. */
  size: number;
}

function unsupported(message: string): never {
  throw intelError(INTEL_ERROR_CODES.UNSUPPORTED_VERSION, `Cannot parse quote: ${message}`);
}

function malformed(message: string): never {
  throw intelError(INTEL_ERROR_CODES.MALFORMED, `Cannot parse quote: ${message}`);
}

// The PCK chain of a platform is the same in each of its quotes: decoded chains are kept with their exact PEM
// bytes (decoding is a pure function of them) and handed out as fresh copies, so parsed quotes never share
// bytes. Entries are found by a short fingerprint (length and the start of the leaf certificate, where its
// serial number is) and used only when the whole PEM is byte-identical (a memcmp; hashing 4 KB of text as a
// map key cost more than decoding it).
interface DecodedChain {
  pem: Buffer;
  text: string;
  ders: Uint8Array[];
}
const decodedChains = new Map<string, DecodedChain>();
const DECODED_CHAINS_MAX = 1024;

function decodePemChain(pem: Buffer): { text: string; ders: Uint8Array[] } {
  const fingerprint = `${pem.length}:${pem.toString('latin1', 0, 192)}`;
  let entry = decodedChains.get(fingerprint);
  if (!entry || !entry.pem.equals(pem)) {
    const text = pem.toString('latin1');
    // Nothing signs these bytes: every one must be part of a certificate (or whitespace between them).
    const decoded = pemDecodeExact(text, 'CERTIFICATE');
    if ('error' in decoded) malformed(`its PCK certificate chain is not a sequence of PEM certificates: ${decoded.error}`);
    entry = { pem: Buffer.from(pem), text, ders: decoded.ders };
    if (decodedChains.size >= DECODED_CHAINS_MAX) decodedChains.delete(decodedChains.keys().next().value!);
    decodedChains.set(fingerprint, entry);
  }
  return { text: entry.text, ders: entry.ders.map((d) => d.slice()) };
}

function readCertificationData(r: ByteReader, what: string): CertificationData {
  const type = r.u16(`${what} type`);
  const size = r.u32(`${what} size`);
  const data = r.bytes(size, `${what} (type ${type})`);
  const cd: CertificationData = { type, data };
  if (type === CERT_DATA_PCK_CHAIN) {
    // The QE writes the PEM chain NUL-terminated; the NUL counts in the size (Quote Library API, type 5).
    let end = data.length;
    while (end > 0 && data[end - 1] === 0) end--;
    const { text, ders } = decodePemChain(Buffer.from(data.buffer, data.byteOffset, end));
    cd.pemChain = text;
    cd.certificates = ders;
  }
  return cd;
}

function readQeFields(r: ByteReader): Pick<IntelQuoteSignatureData, 'qeReport' | 'qeReportSignature' | 'qeAuthData'> {
  const qeReport = parseSgxReportBody(r, 'QE report');
  const qeReportSignature = r.bytes(64, 'QE report signature');
  const authLen = r.u16('QE auth data size');
  const qeAuthData = r.bytes(authLen, 'QE auth data');
  return { qeReport, qeReportSignature, qeAuthData };
}

function parseBody(r: ByteReader, kind: IntelQuoteBody['kind']): IntelQuoteBody {
  if (kind === 'sgx') return { kind, report: parseSgxReportBody(r) };
  return { kind, report: parseTdReportBody(r, kind) };
}

/**
 * Parses an Intel DCAP ECDSA quote (v3, v4 or v5). Never throws anything but ATTEST_ERR_MALFORMED or
 * ATTEST_ERR_UNSUPPORTED_VERSION.
 */
export function parseIntelQuote(bytes: Uint8Array): IntelQuote {
  if (!(bytes instanceof Uint8Array)) malformed('expected the quote as bytes');
  const r = new ByteReader(bytes);
  const version = r.u16('header version');
  if (version !== 3 && version !== 4 && version !== 5) unsupported(`quote version ${version} (supported: 3, 4, 5)`);
  const attestationKeyType = r.u16('header attestation key type');
  if (attestationKeyType !== ATT_KEY_TYPE_ECDSA_P256) {
    unsupported(`attestation key type ${attestationKeyType} (supported: 2, ECDSA P-256)`);
  }
  const teeType = r.u32('header TEE type');
  const header: IntelQuoteHeader = {
    version,
    attestationKeyType,
    teeType,
    qeSvn: r.u16('header QE SVN'),
    pceSvn: r.u16('header PCE SVN'),
    qeVendorId: r.hex(16, 'header QE vendor ID'),
    userData: r.hex(20, 'header user data'),
  };
  let tee: 'sgx' | 'tdx';
  if (teeType === TEE_TYPE_SGX) tee = 'sgx';
  else if (teeType === TEE_TYPE_TDX && version >= 4) tee = 'tdx';
  else unsupported(`TEE type 0x${teeType.toString(16)} in a v${version} quote`);

  let kind: IntelQuoteBody['kind'];
  let bodyDescriptor: IntelQuote['bodyDescriptor'];
  if (version === 5) {
    // Quote v5 puts a body descriptor (type u16, size u32) before the body (TDX DCAP API A.4).
    const type = r.u16('body descriptor type');
    const size = r.u32('body descriptor size');
    bodyDescriptor = { type, size };
    const byType: Record<number, [IntelQuoteBody['kind'], number, 'sgx' | 'tdx']> = {
      1: ['sgx', 384, 'sgx'],
      2: ['tdx10', TDX10_BODY_SIZE, 'tdx'],
      3: ['tdx15', TDX15_BODY_SIZE, 'tdx'],
    };
    const entry = byType[type];
    if (!entry) unsupported(`v5 body type ${type} (supported: 1 SGX, 2 TDX 1.0, 3 TDX 1.5)`);
    if (entry[2] !== tee) malformed(`v5 body type ${type} contradicts TEE type 0x${teeType.toString(16)}`);
    if (size !== entry[1]) malformed(`v5 body type ${type} must be ${entry[1]} bytes, descriptor says ${size}`);
    kind = entry[0];
  } else {
    kind = tee === 'sgx' ? 'sgx' : 'tdx10';
  }
  const body = parseBody(r, kind);
  const signedBytes = new Uint8Array(bytes.subarray(0, r.offset));
  const signatureDataLength = r.u32('signature data length');
  const s = r.sub(signatureDataLength, 'signature data');
  const quoteSignature = s.bytes(64, 'quote signature');
  const attestationKey = s.bytes(64, 'attestation key');
  let signature: IntelQuoteSignatureData;
  if (version === 3) {
    const qe = readQeFields(s);
    const certificationData = readCertificationData(s, 'certification data');
    signature = { quoteSignature, attestationKey, ...qe, certificationData };
  } else {
    const outerType = s.u16('certification data type');
    const outerSize = s.u32('certification data size');
    if (outerType !== CERT_DATA_QE_REPORT) {
      unsupported(`certification data type ${outerType} in a v${version} quote (expected 6, QE report)`);
    }
    const inner = s.sub(outerSize, 'QE report certification data');
    const qe = readQeFields(inner);
    const certificationData = readCertificationData(inner, 'PCK certification data');
    if (inner.remaining !== 0) malformed(`${inner.remaining} unexplained bytes in the QE report certification data`);
    signature = { quoteSignature, attestationKey, ...qe, certificationData, outerCertificationType: outerType };
  }
  if (s.remaining !== 0) malformed(`${s.remaining} unexplained bytes at the end of the signature data`);
  // Quotes are zero-padded to a fixed buffer size by some stacks (GCP: 8000 bytes); anything else after the
  // signature data is covered by nothing. The parser keeps where it starts; verification refuses it
  // (verifyParsedIntelQuote), after every other check, so a quote's other faults are named first.
  const nonZero = bytes.subarray(r.offset).findIndex((b) => b !== 0);
  const quote: IntelQuote = {
    version,
    tee,
    header,
    body,
    signedBytes,
    signatureDataLength,
    signature,
    trailingBytes: r.remaining,
    size: bytes.length,
  };
  if (nonZero !== -1) quote.trailingNonZeroAt = r.offset + nonZero;
  if (bodyDescriptor) quote.bodyDescriptor = bodyDescriptor;
  return quote;
}

/**
 * The TEE type of an Intel DCAP quote header (Quote Library API, "Quote Header": u16 version 3-5, u16
 * attestation key type 2, u32 TEE type; TDX only from v4), or undefined when `bytes` do not start with one.
 * Reads the header only: the registry's detection, not a parse.
 */
export function quoteHeaderTeeType(bytes: Uint8Array): number | undefined {
  if (bytes.length < QUOTE_HEADER_SIZE) return undefined;
  const version = bytes[0]! | (bytes[1]! << 8);
  if (version < 3 || version > 5 || (bytes[2]! | (bytes[3]! << 8)) !== ATT_KEY_TYPE_ECDSA_P256) return undefined;
  const tee = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  if (tee === TEE_TYPE_TDX && version === 3) return undefined;
  return tee;
}

/** The 64 bytes of REPORTDATA of an Intel quote's body (SGX or TD), parsed but not verified. */
export function quoteReportData(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.from(parseIntelQuote(bytes).body.report.reportData, 'hex'));
}
