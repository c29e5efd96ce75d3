/**
 * SGX report body (sgx_report_body_t, 384 bytes): the body of an SGX quote and the QE report inside every
 * DCAP quote. Layout: Intel SGX DCAP ECDSA Quote Library API, "Enclave Report Body" (also SDM Vol. 3D,
 * EREPORT / REPORT structure without KEYID and MAC).
 */
import { ByteReader } from '../intel/bytes.ts';

/** Size of sgx_report_body_t. */
export const SGX_REPORT_BODY_SIZE = 384;

/** Every field of an SGX report body; byte fields as lowercase hex in structure order. */
export interface SgxReportBody {
  cpuSvn: string;
  miscSelect: number;
  reserved1: string;
  isvExtProdId: string;
  /** ATTRIBUTES (16 bytes: FLAGS u64 LE then XFRM u64 LE) as hex. */
  attributes: string;
  mrEnclave: string;
  reserved2: string;
  mrSigner: string;
  reserved3: string;
  configId: string;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  reserved4: string;
  isvFamilyId: string;
  reportData: string;
  /** The raw 384 bytes (the QE report signature and the QE Identity checks work on them). */
  raw: Uint8Array;
}

/** Parses 384 bytes of an SGX report body at the reader's position. */
export function parseSgxReportBody(r: ByteReader, what = 'SGX report body'): SgxReportBody {
  const raw = r.bytes(SGX_REPORT_BODY_SIZE, what);
  const f = new ByteReader(raw);
  return {
    cpuSvn: f.hex(16, 'CPUSVN'),
    miscSelect: f.u32('MISCSELECT'),
    reserved1: f.hex(12, 'RESERVED1'),
    isvExtProdId: f.hex(16, 'ISVEXTPRODID'),
    attributes: f.hex(16, 'ATTRIBUTES'),
    mrEnclave: f.hex(32, 'MRENCLAVE'),
    reserved2: f.hex(32, 'RESERVED2'),
    mrSigner: f.hex(32, 'MRSIGNER'),
    reserved3: f.hex(32, 'RESERVED3'),
    configId: f.hex(64, 'CONFIGID'),
    isvProdId: f.u16('ISVPRODID'),
    isvSvn: f.u16('ISVSVN'),
    configSvn: f.u16('CONFIGSVN'),
    reserved4: f.hex(42, 'RESERVED4'),
    isvFamilyId: f.hex(16, 'ISVFAMILYID'),
    reportData: f.hex(64, 'REPORTDATA'),
    raw,
  };
}

/** SGX ATTRIBUTES.FLAGS bit 1 is DEBUG (SDM Vol. 3D, SECS.ATTRIBUTES); FLAGS is little-endian, so byte 0. */
export function sgxIsDebug(body: SgxReportBody): boolean {
  return (body.raw[48]! & 0x02) !== 0;
}
