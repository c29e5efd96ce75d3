/**
 * tee-tools' main: parses argv, runs one subcommand of src/tee-tools/, writes its output and sets the exit
 * status (0 ok / verified, 1 rejected, 2 usage or I/O error; docs/attestation.md, "tee-tools").
 */
import { Command, Option } from 'commander';
import { collateralFetch } from '../tee-tools/collateral-fetch.ts';
import { dump } from '../tee-tools/dump.ts';
import type { CommandResult } from '../tee-tools/io.ts';
import { measure } from '../tee-tools/measure.ts';
import { collect, runProgram, type SetResult } from './run-program.ts';
import { verifyCert } from '../tee-tools/verify-cert.ts';
import { TEE_CHOICES, verify } from '../tee-tools/verify.ts';

declare const RUNE_VERSION: string | undefined;
const VERSION = typeof RUNE_VERSION === 'string' ? RUNE_VERSION : '0.0.0-dev';

/** Writes a subcommand's output; its exit status is the action's result. */
async function output(result: Promise<CommandResult>): Promise<number> {
  const r = await result;
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  return r.exitCode;
}

function buildProgram(setStatus: SetResult): Command {
  const setResult = (r: Promise<CommandResult>): void => setStatus(output(r));
  const program = new Command('tee-tools')
    .description('Parse and verify TEE evidence (Intel SGX/TDX quotes, AMD SEV-SNP reports, sim evidence), fetch its collateral, and compute reference measurements of enclave containers.')
    .version(VERSION, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({ outputError: () => {} });

  program
    .command('verify')
    .description('verify evidence with its collateral at a time; exit 0 verified, 1 rejected, 2 usage or I/O error')
    .argument('<evidence>', 'evidence file (quote.bin, report.bin, sim evidence)')
    .addOption(new Option('--tee <tee>', 'the TEE the evidence must be from').choices([...TEE_CHOICES]).default('auto'))
    .option('--collateral <dir>', 'Intel collateral directory (tcb_info.json, qe_identity.json, CRLs, issuer chains)')
    .option('--vcek <file>', 'SNP: the VCEK/VLEK certificate (DER or PEM; a VCEK-ASK-ARK bundle works too)')
    .option('--cert-chain <file>', 'SNP: ASK/ASVK and ARK (PEM)')
    .option('--trust-anchor <file>', 'trusted root(s) replacing the built-in ones; for sim the platform public key (PEM); repeatable', collect)
    .option('--at <time>', 'verification time, ISO-8601 (default: now)')
    .option('--json', 'print one JSON object')
    .exitOverride()
    .action((evidence: string, o: { tee: string; collateral?: string; vcek?: string; certChain?: string; trustAnchor?: string[]; at?: string; json?: boolean }) => {
      setResult(
        verify({ evidence, tee: o.tee, collateral: o.collateral, vcek: o.vcek, certChain: o.certChain, trustAnchors: o.trustAnchor, at: o.at, json: o.json === true }),
      );
    });

  program
    .command('verify-cert')
    .description('verify a RATS-TLS certificate: its evidence and the binding to its key; exit 0 verified, 1 rejected, 2 usage or I/O error')
    .argument('<cert>', 'certificate file (PEM or DER)')
    .option('--collateral <dir>', 'Intel collateral directory for the quote in the certificate')
    .option('--vcek <file>', 'SNP: the VCEK/VLEK certificate (DER or PEM; a VCEK-ASK-ARK bundle works too)')
    .option('--cert-chain <file>', 'SNP: ASK/ASVK and ARK (PEM)')
    .option('--trust-anchor <file>', 'trusted root(s) replacing the built-in ones; for sim the platform public key (PEM); repeatable', collect)
    .option('--at <time>', 'verification time, ISO-8601 (default: now)')
    .option('--nonce <hex>', 'the nonce the certificate claims must carry')
    .addOption(new Option('--extension <which>', 'evidence extension to read when both exist').choices(['dice', 'legacy']).default('dice'))
    .option('--ignore-validity-period', "do not require --at inside the certificate's validity period (audit of archived certificates)")
    .option('--json', 'print one JSON object')
    .exitOverride()
    .action(
      (
        cert: string,
        o: { collateral?: string; vcek?: string; certChain?: string; trustAnchor?: string[]; at?: string; nonce?: string; extension: string; ignoreValidityPeriod?: boolean; json?: boolean },
      ) => {
        setResult(
          verifyCert({
            cert,
            collateral: o.collateral,
            vcek: o.vcek,
            certChain: o.certChain,
            trustAnchors: o.trustAnchor,
            at: o.at,
            nonce: o.nonce,
            extension: o.extension,
            ignoreValidityPeriod: o.ignoreValidityPeriod === true,
            json: o.json === true,
          }),
        );
      },
    );

  program
    .command('dump')
    .description('print every parsed field of evidence (nothing is verified)')
    .argument('<evidence>', 'evidence file')
    .option('--json', 'print JSON (bytes as lowercase hex)')
    .exitOverride()
    .action((evidence: string, o: { json?: boolean }) => {
      setResult(dump({ evidence, json: o.json === true }));
    });

  program
    .command('measure')
    .description('print the measurement rune will compute for a sim or wasm enclave container made from SOURCE (a reference value); exit 0 measured, 1 rune would refuse the container, 2 usage or I/O error')
    .argument('<source>', 'a bundle directory (config.json + rootfs), oci:LAYOUT[:TAG] (unpacked with umoci), or the name of an image in podman\'s store (podman image mount)')
    .argument('[command...]', 'images: replaces the image\'s Cmd, as `podman run IMAGE COMMAND...`; bundles: replaces process.args')
    .option('--env <KEY=VALUE>', 'add to the env, replacing a variable of the same name (e.g. ENCLAVE_TYPE=sim, ENCLAVE_RUNTIME_PATH=sim, and what the engine adds); repeatable', collect)
    .option('--annotation <KEY=VALUE>', 'add an annotation (enclave.type, enclave.runtime.path, ...); repeatable', collect)
    .option('--cwd <dir>', 'the working directory (default: the bundle\'s process.cwd, the image\'s WorkingDir or /)')
    .option('--mount <destination>', 'a mount point the engine adds (a volume): excluded from the rootfs digest; repeatable', collect)
    .option('--json', 'print one JSON object: measurement, the canonical description\'s inputs, rootfs entries and bytes')
    .exitOverride()
    .action((source: string, command: string[], o: { env?: string[]; annotation?: string[]; cwd?: string; mount?: string[]; json?: boolean }) => {
      setResult(measure({ source, command, env: o.env, annotations: o.annotation, cwd: o.cwd, mounts: o.mount, json: o.json === true }));
    });

  const collateral = program.command('collateral').description('Intel DCAP collateral').exitOverride();
  collateral
    .command('fetch')
    .description('fetch TCB Info, QE Identity and CRLs from a PCS/PCCS into DIR (the layout --collateral reads)')
    .requiredOption('--fmspc <hex>', 'FMSPC of the platform (6 bytes hex; see `tee-tools dump`)')
    .option('--tdx', 'fetch TDX collateral (default SGX)')
    .requiredOption('--pccs <url>', 'PCS or PCCS base URL, e.g. https://api.trustedservices.intel.com')
    .requiredOption('--out <dir>', 'output directory')
    .addOption(new Option('--ca <ca>', 'PCK CA whose CRL to fetch').choices(['processor', 'platform']).default('processor'))
    .exitOverride()
    .action((o: { fmspc: string; tdx?: boolean; pccs: string; out: string; ca: string }) => {
      setResult(collateralFetch({ fmspc: o.fmspc, tdx: o.tdx === true, pccs: o.pccs, out: o.out, ca: o.ca }));
    });
  return program;
}

/** Runs tee-tools with `argv` (without node and script); writes output and resolves to the exit status. */
export function main(argv: string[]): Promise<number> {
  return runProgram('tee-tools', argv, buildProgram, { helpOnEmptyArgv: true });
}

process.exitCode = await main(process.argv.slice(2));
