/**
 * Certificate chain checks against trust anchors compared byte for byte (as Intel's QVL does: QuoteVerification
 * QVL PckCertVerifier compares the root's raw DER, so a re-issued root with the same key or name is NOT accepted;
 * see test/vectors/MANIFEST.md, fortanix old-root-issuance): issuer/subject names, CA flags, signatures,
 * validity at a given time and CRL revocation (RFC 5280 §6, without policy or name constraints, which none of
 * the PKIs we verify use). Failures go through the caller's error factory.
 */
import { createHash } from 'node:crypto';
import { KeyUsageFlags } from '@peculiar/asn1-x509';
import type { X509ErrorFactory } from './failure.ts';
import { intersectWindows, type ParsedCertificate, type ParsedCrl, type Window } from './parse.ts';
import { verifySignature } from './signature.ts';

/** True when `cert` is byte-identical to one of `anchors`. */
export function isTrustAnchor(cert: ParsedCertificate, anchors: readonly ParsedCertificate[]): boolean {
  return anchors.some((a) => a.der.length === cert.der.length && Buffer.from(a.der).equals(Buffer.from(cert.der)));
}

/** True when `at` lies in `item`'s window, both ends inclusive (RFC 5280 §4.1.2.5, §5.1.2.4-5). */
export function isValidAt(item: { window: Window }, at: Date): boolean {
  const t = at.getTime();
  return t >= item.window.from && t <= item.window.until;
}

/** True when `issuer` may sign what `usage` names: a CA (basicConstraints cA) whose keyUsage, if present, allows it. */
export function mayIssue(issuer: ParsedCertificate, usage: 'certificates' | 'crls', checkKeyUsage = true): boolean {
  if (!issuer.isCa) return false;
  if (!checkKeyUsage || issuer.keyUsage === undefined) return true;
  return (issuer.keyUsage & (usage === 'certificates' ? KeyUsageFlags.keyCertSign : KeyUsageFlags.cRLSign)) !== 0;
}

/** Options of verifyChain(). */
export interface VerifyChainOptions {
  /** Trusted certificates: the chain's root must be byte-identical to one; they also complete a chain without its root. */
  anchors: readonly ParsedCertificate[];
  /** The caller's error factory. */
  fail: X509ErrorFactory;
  /** Names the chain in messages: "Cannot verify <what>: ...". */
  what: string;
  /** Accepted signature algorithm OIDs (default: every one verifySignature() knows). */
  algorithms?: readonly string[];
  /** Require keyUsage keyCertSign (cRLSign for CRLs) of issuers that carry keyUsage (RFC 5280 §4.2.1.3). Default false. */
  checkKeyUsage?: boolean;
  /** When given, every certificate (and CRL) must be valid at this time. */
  at?: Date;
  /**
   * CRLs of the chain's CAs: each must be named for and signed by a CA of the chain; a certificate that CA issued
   * and the CRL lists is revoked.
   */
  crls?: readonly ParsedCrl[];
}

/** A chain that checked out, leaf first, root (a trust anchor) last. */
export interface VerifiedChain {
  chain: ParsedCertificate[];
  /** The intersection of the certificates' validity. */
  window: Window;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : ms > 0 ? '+infinity' : '-infinity';
}

/**
 * Orders `certs` leaf-first by issuer/subject names, completes a chain whose root is omitted from a trust
 * anchor with the matching subject, and checks it: the root byte-identical to an anchor ('untrusted-root'),
 * every issuer a CA ('not-ca'), every signature ('signature'); with `at`, every certificate's validity
 * ('expired'); with `crls`, their issuers and signatures ('crl') and revocation ('revoked'). Anything else
 * about the set's shape is 'chain'.
 */
export function verifyChain(certs: readonly ParsedCertificate[], options: VerifyChainOptions): VerifiedChain {
  const { anchors, fail, what } = options;
  if (certs.length === 0) throw fail('chain', `Cannot verify ${what}: the certificate chain is empty`);
  // The leaf is the one certificate that issued no other certificate in the set.
  const leaves = certs.filter((c) => !certs.some((o) => o !== c && o.issuerKey === c.subjectKey && o.subjectKey !== o.issuerKey));
  if (leaves.length !== 1) throw fail('chain', `Cannot verify ${what}: the certificates do not form one chain`);
  const chain: ParsedCertificate[] = [leaves[0]!];
  const unused = new Set(certs.filter((c) => c !== leaves[0]));
  for (;;) {
    const cur = chain[chain.length - 1]!;
    if (cur.issuerKey === cur.subjectKey) break;
    const next = [...unused].find((c) => c.subjectKey === cur.issuerKey);
    if (next) {
      unused.delete(next);
      chain.push(next);
      continue;
    }
    const anchor = anchors.find((a) => a.subjectKey === cur.issuerKey);
    if (!anchor) throw fail('untrusted-root', `Cannot verify ${what}: no certificate or trust anchor issued "${cur.subject}"`);
    // Anchors that issue each other (A by B, B by A) would otherwise extend the chain forever.
    if (chain.includes(anchor)) throw fail('chain', `Cannot verify ${what}: the trust anchors issue each other in a loop`);
    chain.push(anchor);
  }
  if (unused.size > 0) throw fail('chain', `Cannot verify ${what}: the chain holds certificates that are not part of it`);
  const root = chain[chain.length - 1]!;
  if (!isTrustAnchor(root, anchors)) {
    throw fail('untrusted-root', `Cannot verify ${what}: the root certificate "${root.subject}" is not byte-identical to a trust anchor`, undefined, {
      rootSha256: createHash('sha256').update(root.der).digest('hex'),
    });
  }
  const sigOptions = options.algorithms === undefined ? {} : { algorithms: options.algorithms };
  for (let i = 0; i < chain.length - 1; i++) {
    const child = chain[i]!;
    const parent = chain[i + 1]!;
    if (!mayIssue(parent, 'certificates', options.checkKeyUsage === true)) throw fail('not-ca', `Cannot verify ${what}: "${parent.subject}" is not a CA certificate`);
    if (!verifySignature(child, parent.publicKey, sigOptions)) {
      throw fail('signature', `Cannot verify ${what}: the signature of "${child.subject}" does not verify with the key of "${parent.subject}"`);
    }
  }
  // A self-signed root's own signature proves nothing the byte comparison did not; it is not checked (as QVL).
  if (options.at !== undefined) {
    const at = options.at;
    for (const c of chain) {
      if (!isValidAt(c, at)) {
        throw fail('expired', `Cannot verify ${what}: "${c.subject}" is not valid at ${at.toISOString()} (valid ${iso(c.window.from)} to ${iso(c.window.until)})`, undefined, {
          certificate: c.subject,
          at: at.toISOString(),
          validFrom: iso(c.window.from),
          validUntil: iso(c.window.until),
        });
      }
    }
  }
  for (const crl of options.crls ?? []) checkCrl(crl, chain, options, sigOptions);
  return { chain, window: intersectWindows(chain.map((c) => c.window)) };
}

function checkCrl(crl: ParsedCrl, chain: readonly ParsedCertificate[], options: VerifyChainOptions, sigOptions: { algorithms?: readonly string[] }): void {
  const { fail, what } = options;
  const issuer = chain.find((c) => c.subjectKey === crl.issuerKey);
  if (issuer === undefined || !mayIssue(issuer, 'crls', options.checkKeyUsage === true) || !verifySignature(crl, issuer.publicKey, sigOptions)) {
    throw fail('crl', `Cannot verify ${what}: the CRL of "${crl.issuer}" is not signed by a CA of the chain`);
  }
  if (options.at !== undefined && !isValidAt(crl, options.at)) {
    throw fail('expired', `Cannot verify ${what}: the CRL of "${crl.issuer}" is not valid at ${options.at.toISOString()} (valid ${iso(crl.window.from)} to ${iso(crl.window.until)})`);
  }
  const revoked = revokedBy(crl, chain);
  if (revoked !== undefined) throw fail('revoked', `Cannot verify ${what}: "${revoked.subject}" (serial ${revoked.serial}) is revoked by the CRL of "${crl.issuer}"`);
}

/** The first of `certs` that `crl` revokes: issued by the CRL's issuer (by name) and listed by serial. */
export function revokedBy(crl: ParsedCrl, certs: readonly ParsedCertificate[]): ParsedCertificate | undefined {
  return certs.find((c) => c.issuerKey === crl.issuerKey && crl.revoked.has(c.serial));
}

/** True when `crl` is named for `issuer` and signed by its key (the caller checks `issuer` itself). */
export function isCrlSignedBy(crl: ParsedCrl, issuer: ParsedCertificate, options: { algorithms?: readonly string[] } = {}): boolean {
  return crl.issuerKey === issuer.subjectKey && verifySignature(crl, issuer.publicKey, options);
}
