/** TLS settings both ends enforce, and the client's SecureContext cache. */
import { constants as cryptoConstants, createHash } from 'node:crypto';
import tls from 'node:tls';
import type { RatsTlsIdentity } from './identity.ts';

/**
 * TLS 1.2 renegotiation is off at both ends: it could swap the peer's certificate after it was verified
 * (TLS 1.3 has no renegotiation). The caller's other secureOptions bits are kept.
 */
export function noRenegotiation(secureOptions: number | undefined): number {
  return (secureOptions ?? 0) | cryptoConstants.SSL_OP_NO_RENEGOTIATION;
}

/** The tls.connect() options that go into the SecureContext (node:tls createSecureContext()). */
const CONTEXT_OPTIONS = [
  // cert/key/pfx: not in the typed options (the identity gives them), but honoured from untyped callers.
  'cert', 'key', 'pfx',
  'ciphers', 'ecdhCurve', 'sigalgs', 'minVersion', 'maxVersion', 'secureProtocol', 'secureOptions', 'honorCipherOrder',
  'dhparam', 'crl', 'passphrase', 'clientCertEngine', 'privateKeyEngine', 'privateKeyIdentifier', 'sessionIdContext',
  'allowPartialTrustChain',
] as const;
const CLIENT_CONTEXT_CACHE_SIZE = 64;
const clientContexts = new Map<string, tls.SecureContext>();

/**
 * The client's SecureContext, built once per certificate and context options: tls.connect() would otherwise
 * build one per connection, parsing the client's key every time (most of a mutual handshake's cost).
 */
export function clientContext(options: Record<string, unknown>, identity: RatsTlsIdentity | undefined): tls.SecureContext {
  const own = identity?.current();
  const contextOptions: Record<string, unknown> = Object.fromEntries(CONTEXT_OPTIONS.filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
  contextOptions.secureOptions = noRenegotiation(options.secureOptions as number | undefined);
  const key = createHash('sha256')
    .update(JSON.stringify([own?.cert ?? null, own?.key ?? null, contextOptions]))
    .digest('hex');
  let context = clientContexts.get(key);
  if (context === undefined) {
    context = tls.createSecureContext({ ...contextOptions, ...(own ?? {}) });
    if (clientContexts.size >= CLIENT_CONTEXT_CACHE_SIZE) clientContexts.delete(clientContexts.keys().next().value!);
    clientContexts.set(key, context);
  }
  return context;
}
