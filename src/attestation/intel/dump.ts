/**
 * The dump of an Intel DCAP quote, shared by sgx/dump.ts and tdx/dump.ts: header, body, QE report, signatures,
 * the PCK chain certificate by certificate and the SGX extensions of the PCK certificate. Parsing only.
 */
import { createHash } from 'node:crypto';
import type { EvidenceFields } from '../scheme.ts';
import { describeError } from '../../errors/errors.ts';
import { decodeSgxExtensions, SGX_EXTENSIONS_OID } from './pck.ts';
import { parseIntelQuote, type IntelQuote } from './quote.ts';
import { findExtension, parseCertificate } from './x509.ts';

function omit<T extends object>(o: T, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The quote's PCK chain, certificate by certificate, and the SGX extensions of the PCK certificate. */
function intelCertificates(quote: IntelQuote): Record<string, unknown> {
  const ders = quote.signature.certificationData.certificates ?? [];
  const certificates: unknown[] = [];
  let pck: unknown = null;
  for (const der of ders) {
    try {
      const c = parseCertificate(der, 'ATTEST_ERR_PCK_CHAIN', 'quote: PCK chain');
      certificates.push({ subject: c.subject, issuer: c.issuer, serial: c.serial, notBefore: iso(c.window.from), notAfter: iso(c.window.until), sha256: createHash('sha256').update(der).digest('hex') });
      const ext = findExtension(c, SGX_EXTENSIONS_OID);
      if (ext && pck === null) pck = decodeSgxExtensions(ext);
    } catch (err) {
      certificates.push({ error: describeError(err) });
    }
  }
  return { certificates, pckExtensions: pck };
}

/** Every parsed field of an Intel DCAP quote (SGX or TDX) and of its PCK chain; nothing is verified. */
export function dumpIntelQuote(bytes: Uint8Array): EvidenceFields {
  const q = parseIntelQuote(bytes);
  const sig = q.signature;
  const fields = {
    version: q.version,
    tee: q.tee,
    size: q.size,
    header: q.header,
    ...(q.bodyDescriptor ? { bodyDescriptor: q.bodyDescriptor } : {}),
    body: { kind: q.body.kind, ...omit(q.body.report, 'raw', 'kind') },
    signatureDataLength: q.signatureDataLength,
    signature: {
      quoteSignature: sig.quoteSignature,
      attestationKey: sig.attestationKey,
      qeReport: omit(sig.qeReport, 'raw'),
      qeReportSignature: sig.qeReportSignature,
      qeAuthData: sig.qeAuthData,
      ...(sig.outerCertificationType !== undefined ? { outerCertificationType: sig.outerCertificationType } : {}),
      certificationData: {
        type: sig.certificationData.type,
        size: sig.certificationData.data.length,
        ...(sig.certificationData.pemChain !== undefined ? { pemChain: sig.certificationData.pemChain } : { data: sig.certificationData.data }),
      },
    },
    pckChain: intelCertificates(q),
    trailingBytes: q.trailingBytes,
  };
  return { format: 'intel-dcap-quote', fields };
}
