/**
 * `verdict trust list|add-sim-key|remove-sim-key`: the sim platform keys verdictd trusts (inclavared's
 * platform public keys), by platformKeyId (SHA-256 of the DER SubjectPublicKeyInfo, the claim
 * `platform.platformKeyId` that the `default` policy checks against its reference set).
 */
import { json, ok, readInput, withClient, type CommandResult, type ConnectionOptions } from './connection.ts';

/** `trust list`: the trusted sim platform keys, and how many Intel/AMD root replacements are configured. */
export function trustList(options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const r = await c.call('TrustService/GetTrust', {});
    if (options.json) return ok(json(r));
    return ok(r.simPlatformKeys.map((k) => `sim\t${k.platformKeyId}\n`).join(''));
  });
}

/** `trust add-sim-key FILE|-`: trusts a sim platform public key (PEM); prints its platformKeyId. */
export async function trustAddSimKey(file: string, options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  const pem = (await readInput(file, 'the platform key file')).toString('utf8');
  return withClient(options, async (c) => {
    const r = await c.call('TrustService/AddSimPlatformKey', { pem });
    return ok(options.json ? json(r) : `${r.platformKeyId}\n`);
  });
}

/** `trust remove-sim-key ID`. */
export function trustRemoveSimKey(id: string, options: ConnectionOptions): Promise<CommandResult> {
  return withClient(options, async (c) => {
    await c.call('TrustService/RemoveSimPlatformKey', { platformKeyId: id });
    return ok('');
  });
}
