/**
 * TD report bodies of TDX quotes: TDX 1.0 (584 bytes, quote v4 or v5 body type 2) and TDX 1.5 (648 bytes,
 * v5 body type 3, adding TEE_TCB_SVN2 and MRSERVICETD). Layout: Intel TDX DCAP Quoting Library API,
 * "TD Quote Body" / "TD Quote Body Descriptor" (A.3.2 / A.4).
 */
import { ByteReader } from '../intel/bytes.ts';

/** Size of a TDX 1.0 TD quote body. */
export const TDX10_BODY_SIZE = 584;
/** Size of a TDX 1.5 TD quote body. */
export const TDX15_BODY_SIZE = 648;

/** Every field of a TD quote body; byte fields as lowercase hex in structure order. */
export interface TdReportBody {
  /** 'tdx10' (584 bytes) or 'tdx15' (648 bytes). */
  kind: 'tdx10' | 'tdx15';
  teeTcbSvn: string;
  mrSeam: string;
  mrSignerSeam: string;
  seamAttributes: string;
  tdAttributes: string;
  xfam: string;
  mrTd: string;
  mrConfigId: string;
  mrOwner: string;
  mrOwnerConfig: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  reportData: string;
  /** TDX 1.5 only. */
  teeTcbSvn2?: string;
  /** TDX 1.5 only. */
  mrServiceTd?: string;
  raw: Uint8Array;
}

/** Parses a TD quote body of the given kind at the reader's position. */
export function parseTdReportBody(r: ByteReader, kind: 'tdx10' | 'tdx15'): TdReportBody {
  const raw = r.bytes(kind === 'tdx10' ? TDX10_BODY_SIZE : TDX15_BODY_SIZE, 'TD report body');
  const f = new ByteReader(raw);
  const body: TdReportBody = {
    kind,
    teeTcbSvn: f.hex(16, 'TEE_TCB_SVN'),
    mrSeam: f.hex(48, 'MRSEAM'),
    mrSignerSeam: f.hex(48, 'MRSIGNERSEAM'),
    seamAttributes: f.hex(8, 'SEAMATTRIBUTES'),
    tdAttributes: f.hex(8, 'TDATTRIBUTES'),
    xfam: f.hex(8, 'XFAM'),
    mrTd: f.hex(48, 'MRTD'),
    mrConfigId: f.hex(48, 'MRCONFIGID'),
    mrOwner: f.hex(48, 'MROWNER'),
    mrOwnerConfig: f.hex(48, 'MROWNERCONFIG'),
    rtmr0: f.hex(48, 'RTMR0'),
    rtmr1: f.hex(48, 'RTMR1'),
    rtmr2: f.hex(48, 'RTMR2'),
    rtmr3: f.hex(48, 'RTMR3'),
    reportData: f.hex(64, 'REPORTDATA'),
    raw,
  };
  if (kind === 'tdx15') {
    body.teeTcbSvn2 = f.hex(16, 'TEE_TCB_SVN2');
    body.mrServiceTd = f.hex(48, 'MRSERVICETD');
  }
  return body;
}

/** TD_ATTRIBUTES bit 0 is DEBUG (TDX module ABI spec, TDINFO_STRUCT.ATTRIBUTES); little-endian, so byte 0. */
export function tdxIsDebug(body: TdReportBody): boolean {
  return (body.raw[120]! & 0x01) !== 0;
}

/** TEE_TCB_SVN as 16 numbers (byte 0 = TDX module minor SVN, byte 1 = module major version). */
export function teeTcbSvnBytes(body: TdReportBody): number[] {
  return Array.from(body.raw.subarray(0, 16));
}
