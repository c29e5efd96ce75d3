/**
 * The options and results of the attested TLS layer (docs/rats-tls.md, "TLS layer") that the server, the
 * client and the gRPC credentials share.
 */
import type { Claims } from '../attestation/claims.ts';
import type { ClaimExpectations } from '../attestation/appraise.ts';
import type { VerifyEvidenceOptions } from '../attestation/verify-evidence.ts';
import type { Attester } from './attesters/attester.ts';
import type { EndorsementsSource } from './endorsements.ts';
import type { HashAlgorithm } from './format.ts';
import type { RatsTlsIdentity } from './identity.ts';
import type { CertificateFormat } from './parse.ts';
import type { AttestedCertificateVerification, Binding } from './verify.ts';

/** What the application learns about a verified peer: `socket.ratsTls`. */
export interface RatsTlsPeer {
  /** The evidence claims the peer was accepted on (the fresh ones in in-band nonce mode); undefined when unattested. */
  claims: Claims | undefined;
  binding: Binding;
  format: CertificateFormat;
  /** True when the claims come from evidence bound to this session's in-band nonce. */
  fresh: boolean;
}

declare module 'node:tls' {
  interface TLSSocket {
    /** Set by inclavare/rats-tls before the application can read: the verified peer (undefined if not verified). */
    ratsTls?: RatsTlsPeer;
  }
}

/** Claims the peer must have; every given field must equal (hex compares case-insensitively): appraiseClaims(). */
export type ExpectedClaims = ClaimExpectations;

/** How a peer is verified. */
export interface RatsTlsVerifyOptions {
  /** Inputs of verifyEvidence() (collateral, VCEK, trust anchors, sim platform keys, rejectDebug). */
  evidence?: Omit<VerifyEvidenceOptions, 'at' | 'tee'>;
  expected?: ExpectedClaims;
  /** Last word on the claims: false or a string (the reason) rejects. Called with undefined for an allowed unattested peer. */
  callback?: (claims: Claims | undefined, verification: AttestedCertificateVerification) => boolean | string;
  /** Accept a peer without evidence. Default false: fail closed. */
  allowUnattested?: boolean;
  /** 'in-band': the peer must also prove fresh evidence bound to this session (both ends must use this mode). */
  nonce?: 'in-band';
  /** The verification clock; default the real one. */
  now?: () => Date;
  /** Reuse the verdict on a peer certificate seen before (while it holds); default true. */
  cache?: boolean;
  /** Time limit of the in-band exchange (ms); default 10000. */
  timeoutMs?: number;
}

/** Options both ends share. */
export interface RatsTlsCommonOptions {
  /** Our certificate is generated with it at start and renewed before it expires. */
  attester?: Attester;
  /** Alternatively, a ready identity (required on the client side to present a certificate). */
  identity?: RatsTlsIdentity;
  /** How the peer is verified; default: attested (fail closed) with no evidence inputs. */
  verify?: RatsTlsVerifyOptions;
  hashAlg?: HashAlgorithm;
  customClaims?: Record<string, Uint8Array>;
  /** With `attester` (sgx, tdx): attach this collateral to our certificate as endorsements. */
  endorsements?: EndorsementsSource;
}

