/**
 * The flags shared by the programs that unwrap layer keys in a sim enclave (inclavare-keyprovider and
 * inclavare-decoder), turned into KeyProviderOptions; `usage` makes each program's own usage error.
 */
import type { Command } from 'commander';
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

/** Adds the shared flags to `command` (returned for chaining); the texts that differ are the program's. */
export function withEnclaveUnwrapFlags<C extends Command>(command: C, own: { stateDir: string; stateDirHelp: string; logHelp: string }): C {
  command
    .option('--verdictd <addr>', "verdictd's EAA address as the host reaches it", '127.0.0.1:1234')
    .option('--verdictd-key <pin>', "the pin of verdictd's key, sha256:<hex> (default $INCLAVARE_VERDICTD_KEY)")
    .option('--state-dir <dir>', own.stateDirHelp, own.stateDir)
    .option('--rune <path>', 'the rune binary (default: beside this program)')
    .option('--enclave-file <file>', "the enclave's workload (default: keyprovider-enclave.mjs beside this program)")
    .option('--timeout <seconds>', 'limit of one unwrap', '60')
    .option('--log <file>', own.logHelp);
  return command;
}
