/**
 * `verdict identity`: verdictd's identity pin (`sha256:<hex>`, the SHA-256 of its RATS-TLS key's
 * SubjectPublicKeyInfo), the value enclave containers pin; with --json also its current certificate (PEM).
 */
import { json, ok, withClient, type CommandResult, type ConnectionOptions } from './connection.ts';

/** `identity`: prints the pin; --json: {"pin", "certificate"}. */
export function identityGet(options: ConnectionOptions & { json?: boolean }): Promise<CommandResult> {
  return withClient(options, async (c) => {
    const r = await c.call('IdentityService/GetIdentity', {});
    return ok(options.json ? json({ pin: r.pin, certificate: r.certificate }) : `${r.pin}\n`);
  });
}
