/**
 * verdictd's ocicrypt key provider (docs/verdictd.md, "Key provider"; docs/encrypted-images.md), served on the
 * management API's listener (`--client-api`) as the original Verdictd did:
 *
 * - **WrapKey** encrypts a layer's private options (optsdata) with AES-256-GCM under the kid's key from the
 *   store and answers the EAA-format annotation. It reveals nothing (the key never leaves verdictd; the caller
 *   already holds the optsdata it sent), so it needs no admin token: skopeo cannot send one. It is still
 *   loopback-only, as the whole listener is, and every wrap is audited (`key-wrap`).
 * - **UnWrapKey** is refused here (VERDICTD_ERR_UNWRAP_REFUSED, audited): this is a plain connection, and a
 *   layer key is released only to an attested enclave, through EAA `Decrypt` over mutual RATS-TLS (what
 *   `inclavare-keyprovider` does). Answering it here would hand any local process every image's layer keys.
 */
import { describeError, isInclavareError } from '../../errors/errors.ts';
import { verdictdError } from '../codes.ts';
import { keyTarget } from '../eaa/commands.ts';
import type { AuditRecord, Store } from '../store/store.ts';
import { wrapOptsData } from './annotation.ts';
import { decodeProtocolMessage, encodeProtocolMessage, keyWrapResult, parseKeyProviderRequest, type KeyWrapRequest } from './protocol.ts';

/** Provider names whose parameter names the kid, in order of preference (`provider:verdictd:<kid>`). */
export const PROVIDER_NAMES = ['verdictd', 'attestation-agent'];

/** The key provider's two methods over gRPC message bytes. */
export interface KeyProviderService {
  wrapKey(request: Uint8Array, caller: { address: string }): Promise<Buffer>;
  unwrapKey(request: Uint8Array, caller: { address: string }): Promise<Buffer>;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The kid a keywrap request names: the parameter of a known provider name, else the one parameter that is a kid. */
export function kidOf(request: KeyWrapRequest): string {
  const asKid = (values: Buffer[] | undefined): string | undefined => {
    const text = values?.[0]?.toString('utf8');
    return text !== undefined && (UUID.test(text) || /^(kbs:\/\/\/)?[^/\s]+\/[^/\s]+\/[^/\s]+$/.test(text)) ? text : undefined;
  };
  for (const name of PROVIDER_NAMES) {
    const kid = asKid(request.parameters.get(name));
    if (kid !== undefined) return kid;
  }
  const kids = [...new Set([...request.parameters.values()].map(asKid).filter((k): k is string => k !== undefined))];
  if (kids.length === 1) return kids[0]!;
  throw verdictdError(
    'VERDICTD_ERR_INVALID_ARGUMENT',
    kids.length === 0
      ? 'Cannot wrap the layer key: the request names no kid; encrypt with --encryption-key provider:verdictd:<kid> (a kid from `verdict key create`)'
      : `Cannot wrap the layer key: the request names several kids (${kids.join(', ')}); give one`,
  );
}

/** The key provider over `store`; `now` is the audit clock. */
export function createKeyProviderService(options: { store: Store; now?: () => Date }): KeyProviderService {
  const { store } = options;
  const now = options.now ?? (() => new Date());
  const audit = async (caller: { address: string }, action: string, target: Pick<AuditRecord, 'kid' | 'path'>, decision: AuditRecord['decision'], error?: unknown): Promise<void> => {
    const record: AuditRecord = { time: now().toISOString(), peer: { address: caller.address, frontEnd: 'key-provider' }, action, ...target, decision };
    if (error !== undefined) record.error = { code: isInclavareError(error) ? error.code : 'INTERNAL', message: describeError(error) };
    try {
      await store.appendAudit(record);
    } catch (err) {
      throw verdictdError('VERDICTD_ERR_AUDIT', `Cannot write the audit record: ${describeError(err)}`, { cause: err });
    }
  };
  return {
    async wrapKey(bytes, caller) {
      const request = parseKeyProviderRequest(decodeProtocolMessage(bytes));
      if (request.op !== 'keywrap') throw verdictdError('VERDICTD_ERR_MALFORMED_REQUEST', 'Cannot wrap: WrapKey was sent a "keyunwrap" request');
      const kid = kidOf(request);
      const target = keyTarget(kid);
      const named = target.kind === 'key' ? { kid: target.kid } : { path: target.path };
      let annotation: Buffer;
      try {
        const key = Buffer.from(target.kind === 'key' ? await store.getKey(target.kid) : await store.getResource(target.path));
        try {
          annotation = wrapOptsData(kid, key, request.optsdata, target.kind === 'key' ? 'eaa' : 'coco');
        } finally {
          key.fill(0);
        }
      } catch (err) {
        await audit(caller, 'key-wrap', named, 'error', err);
        throw err;
      }
      await audit(caller, 'key-wrap', named, 'allow');
      return encodeProtocolMessage(keyWrapResult(annotation));
    },
    async unwrapKey(_bytes, caller) {
      const error = verdictdError(
        'VERDICTD_ERR_UNWRAP_REFUSED',
        'Cannot unwrap a layer key on a plain connection: verdictd releases layer keys only to attested enclaves (EAA "Decrypt" over mutual RATS-TLS); decrypt with the attestation-agent key provider, inclavare-keyprovider (docs/encrypted-images.md)',
      );
      await audit(caller, 'key-unwrap', {}, 'deny', error);
      throw error;
    },
  };
}
