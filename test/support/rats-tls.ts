/**
 * What the tests of the built `rats-tls` sample share: where it is, a sim platform key pair on disk, and
 * servers (the sample's or openssl's) started as children and found by the port they print.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './fixtures.ts';

export const RATS_TLS = join(repoRoot, 'dist/rats-tls.mjs');

/** Writes an Ed25519 platform key pair into `dir`: platform.key (PKCS#8) and platform.pub (the trust anchor). */
export function writePlatformKey(dir: string, platform: KeyPairKeyObjectResult = generateKeyPairSync('ed25519')): { key: string; anchor: string } {
  const key = join(dir, 'platform.key');
  const anchor = join(dir, 'platform.pub');
  writeFileSync(key, platform.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(anchor, platform.publicKey.export({ type: 'spki', format: 'pem' }));
  return { key, anchor };
}

/** Starts `command` (kept in `children` for the caller to kill) and resolves to the port from the first stdout line matching `pattern`. */
export async function startListening(children: ChildProcess[], command: string, args: string[], pattern: RegExp): Promise<number> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  child.stderr!.resume();
  for await (const line of createInterface({ input: child.stdout! })) {
    const m = pattern.exec(line);
    if (m) return Number(m[1]);
  }
  throw new Error(`${command} exited without listening`);
}

/** `rats-tls server -i 127.0.0.1 -p 0 ...args`; resolves to its port. */
export function startSampleServer(children: ChildProcess[], ...args: string[]): Promise<number> {
  return startListening(children, process.execPath, [RATS_TLS, 'server', '-i', '127.0.0.1', '-p', '0', ...args], /^listening on 127\.0\.0\.1:(\d+)$/);
}
