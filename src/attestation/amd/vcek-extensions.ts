/**
 * The AMD-specific X.509 extensions of a VCEK or VLEK (AMD VCEK spec, pub. 57230, "VCEK Certificate
 * Extensions"; VLEK: "VLEK Certificate Extensions"). The TCB SPLs and productName are DER values (INTEGER,
 * IA5String) decoded with @peculiar/asn1-schema; hwID is the raw chip id as the extension's octets (64 bytes
 * for Milan/Genoa, 8 bytes for Turin), not DER-wrapped, as AMD's KDS issues it.
 */
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes } from '@peculiar/asn1-schema';
import type { InclavareError } from '../../errors/errors.ts';
import { AMD_ERROR_CODES, amdError } from './codes.ts';
import type { AmdCertificate } from './certificate.ts';

/** AMD's OIDs under 1.3.6.1.4.1.3704 (AMD). */
export const AMD_OIDS = Object.freeze({
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSPL: '1.3.6.1.4.1.3704.1.3.1',
  teeSPL: '1.3.6.1.4.1.3704.1.3.2',
  snpSPL: '1.3.6.1.4.1.3704.1.3.3',
  spl4: '1.3.6.1.4.1.3704.1.3.4',
  spl5: '1.3.6.1.4.1.3704.1.3.5',
  spl6: '1.3.6.1.4.1.3704.1.3.6',
  spl7: '1.3.6.1.4.1.3704.1.3.7',
  ucodeSPL: '1.3.6.1.4.1.3704.1.3.8',
  /** Turin and later: the FMC (first mutable code) SPL. */
  fmcSPL: '1.3.6.1.4.1.3704.1.3.9',
  hwID: '1.3.6.1.4.1.3704.1.4',
  /** VLEK only: the cloud service provider the VLEK was issued to. */
  cspID: '1.3.6.1.4.1.3704.1.5',
} as const);

/** The AMD extensions of a VCEK/VLEK; null where the certificate does not carry one. */
export interface AmdKeyExtensions {
  structVersion: number | null;
  /** e.g. "Milan-B0", "Genoa", "Turin". */
  productName: string | null;
  blSPL: number | null;
  teeSPL: number | null;
  snpSPL: number | null;
  ucodeSPL: number | null;
  fmcSPL: number | null;
  /** The chip id the VCEK was derived for (absent in VLEKs). */
  hwId: Uint8Array | null;
  cspId: string | null;
}

/** DER INTEGER, as a one-alternative CHOICE so the schema parser decodes a bare value. */
class AsnIntegerValue {
  value: number | string = 0;
}
AsnType({ type: AsnTypeTypes.Choice })(AsnIntegerValue);
AsnProp({ type: AsnPropTypes.Integer })(AsnIntegerValue.prototype, 'value');

/** DER IA5String, likewise. */
class AsnIa5Value {
  value = '';
}
AsnType({ type: AsnTypeTypes.Choice })(AsnIa5Value);
AsnProp({ type: AsnPropTypes.IA5String })(AsnIa5Value.prototype, 'value');

function badExtension(name: string, cause?: unknown): InclavareError {
  return amdError(
    AMD_ERROR_CODES.CERT_CHAIN,
    `Cannot verify SNP report: the VCEK/VLEK extension ${name} cannot be decoded`,
    { cause, details: { extension: name } },
  );
}

function integer(cert: AmdCertificate, name: keyof typeof AMD_OIDS, max: number): number | null {
  const value = cert.extensions.get(AMD_OIDS[name]);
  if (value === undefined) return null;
  let decoded: number | string;
  try {
    decoded = AsnConvert.parse(value, AsnIntegerValue).value;
  } catch (err) {
    throw badExtension(name, err);
  }
  if (typeof decoded !== 'number' || !Number.isInteger(decoded) || decoded < 0 || decoded > max) throw badExtension(name);
  return decoded;
}

function ia5(cert: AmdCertificate, name: keyof typeof AMD_OIDS): string | null {
  const value = cert.extensions.get(AMD_OIDS[name]);
  if (value === undefined) return null;
  try {
    return AsnConvert.parse(value, AsnIa5Value).value;
  } catch (err) {
    throw badExtension(name, err);
  }
}

/**
 * Reads the AMD extensions of a VCEK/VLEK. Throws ATTEST_ERR_CERT_CHAIN when one is present but not the
 * type AMD specifies (SPLs are 0-255).
 */
export function parseAmdKeyExtensions(cert: AmdCertificate): AmdKeyExtensions {
  const hwId = cert.extensions.get(AMD_OIDS.hwID);
  return {
    structVersion: integer(cert, 'structVersion', 0xffffffff),
    productName: ia5(cert, 'productName'),
    blSPL: integer(cert, 'blSPL', 0xff),
    teeSPL: integer(cert, 'teeSPL', 0xff),
    snpSPL: integer(cert, 'snpSPL', 0xff),
    ucodeSPL: integer(cert, 'ucodeSPL', 0xff),
    fmcSPL: integer(cert, 'fmcSPL', 0xff),
    hwId: hwId === undefined ? null : Uint8Array.from(hwId),
    cspId: ia5(cert, 'cspID'),
  };
}
