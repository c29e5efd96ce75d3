/**
 * Package entry of `inclavare/rats-tls`: attested TLS (node:tls-shaped), the certificate format, attesters.
 * gRPC credentials live in their own entry (`./grpc.ts`) so that @grpc/grpc-js stays optional.
 */
export { createServer, type RatsTlsServerOptions } from './server.ts';
export { connect, type RatsTlsConnectOptions } from './client.ts';
export { createRatsTlsIdentity, staticRatsTlsIdentity, type RatsTlsIdentity, type RatsTlsIdentityOptions } from './identity.ts';
export type { ExpectedClaims, RatsTlsCommonOptions, RatsTlsPeer, RatsTlsVerifyOptions } from './options.ts';
export { appraiseClaims, type ClaimExpectations, type FailedExpectation } from '../attestation/appraise.ts';
export { createAttestedCertificate, DEFAULT_VALIDITY, RATS_TLS_SUBJECT } from './certificate.ts';
export type { CertificateKeyType, CreateAttestedCertificateOptions, CreatedAttestedCertificate } from './certificate.ts';
export { parseAttestedCertificate } from './parse.ts';
export type { AttestedCertificate, CertificateFormat, ParseAttestedCertificateOptions } from './parse.ts';
export { verifyAttestedCertificate } from './verify.ts';
export type { AttestedCertificateVerification, Binding, VerifyAttestedCertificateOptions } from './verify.ts';
export { decodeIntelEndorsements, encodeIntelEndorsements, ENDORSEMENTS_VERSION } from './endorsements.ts';
export type { EndorsementsSource, IntelEndorsements } from './endorsements.ts';
export { RATS_TLS_ERROR_CODES } from './codes.ts';
export type { RatsTlsErrorCode } from './codes.ts';
export { EXPORTER_LABEL } from './nonce.ts';
export type { Attester, AttesterTee } from './attesters/attester.ts';
export { createSimAttester } from './attesters/sim.ts';
export { createLocalSimAttester } from './attesters/sim-local.ts';
export { createNullAttester } from './attesters/null.ts';
export { createTsmAttester, type TsmAttesterOptions } from './attesters/tsm.ts';
export { createGramineAttester, type GramineAttesterOptions } from './attesters/gramine.ts';
export type { HashAlgorithm } from './format.ts';
export { parsePin, pinOfCertificate, pinOfSpki, PIN_PATTERN } from './pin.ts';
