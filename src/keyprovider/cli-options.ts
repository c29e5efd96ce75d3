/**
 * The flags shared by the programs that unwrap layer keys in a sim enclave (inclavare-keyprovider and
 * inclavare-decoder), turned into KeyProviderOptions; `usage` makes each program's own usage error.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePin } from '../rats-tls/pin.ts';
import type { KeyProviderOptions } from './provider.ts';

/** The flags as commander gives them. */
export interface EnclaveUnwrapFlags {
  verdictd: string;
  verdictdKey?: string;
  stateDir: string;
  rune?: string;
  enclaveFile?: string;
  timeout: string;
  log?: string;
}

/** The options of an unwrap; `here` is the program's directory (rune and the enclave file are beside it). */
export function enclaveUnwrapOptions(flags: EnclaveUnwrapFlags, here: string, usage: (message: string) => Error): KeyProviderOptions {
  const pin = parsePin(flags.verdictdKey ?? process.env.INCLAVARE_VERDICTD_KEY ?? '');
  if (pin === undefined) throw usage('Cannot unwrap without knowing which verdictd to trust: give --verdictd-key sha256:<hex> (`verdict identity` prints it)');
  const timeout = Number(flags.timeout);
  if (!(timeout > 0)) throw usage(`Cannot use --timeout ${JSON.stringify(flags.timeout)}: give seconds > 0`);
  mkdirSync(flags.stateDir, { recursive: true, mode: 0o700 });
  return {
    verdictd: flags.verdictd,
    verdictdKey: pin,
    stateDir: resolve(flags.stateDir),
    rune: flags.rune ?? join(here, 'rune'),
    enclaveFile: flags.enclaveFile ?? join(here, 'keyprovider-enclave.mjs'),
    timeoutMs: timeout * 1000,
  };
}
