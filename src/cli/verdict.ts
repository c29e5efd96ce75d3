/**
 * verdict's main: the command-line client of verdictd's management API (docs/verdictd.md, "verdict"). Parses
 * argv, runs one subcommand of src/verdict/, writes its output; exit 0 ok, 1 an error (or `policy test`
 * denied), 2 a usage error (through run-program and the error table).
 */
import { Command, Option } from 'commander';
import { TEE_TYPES } from '../attestation/registry.ts';
import { usage, type CommandResult, type ConnectionOptions } from '../verdict/connection.ts';
import { auditRead, type AuditOptions } from '../verdict/audit.ts';
import { identityGet } from '../verdict/identity.ts';
import { KEY_FORMATS, keyCreate, keyDelete, keyGet, keyImport, keyList, keyPublic } from '../verdict/key.ts';
import { policyDelete, policyGet, policyList, policySet, policyTest } from '../verdict/policy.ts';
import { referenceDelete, referenceGet, referenceList, referenceSet, referenceSetFromImage, type ReferenceFromImageOptions } from '../verdict/reference.ts';
import { resourceDelete, resourceGet, resourceList, resourceSet } from '../verdict/resource.ts';
import { storeMigrate, type StoreMigrateOptions } from '../verdict/store.ts';
import { trustAddSimKey, trustList, trustRemoveSimKey } from '../verdict/trust.ts';
import { collect, runProgram, type SetResult } from './run-program.ts';

declare const RUNE_VERSION: string | undefined;
const VERSION = typeof RUNE_VERSION === 'string' ? RUNE_VERSION : '0.0.0-dev';

async function output(result: Promise<CommandResult>): Promise<number> {
  const r = await result;
  if (r.stdout.length > 0) {
    await new Promise<void>((resolve, reject) => process.stdout.write(r.stdout, (err) => (err ? reject(err) : resolve())));
  }
  return r.exitCode;
}

/** Adds the connection flags (accepted before or after the subcommand). */
function connection(cmd: Command): Command {
  return cmd
    .option('-c, --client-api <addr>', "verdictd's management API (default $VERDICT_CLIENT_API or 127.0.0.1:60000)")
    .option('--data-dir <dir>', "verdictd's data directory, whose admin-token is read (default $VERDICTD_DATA_DIR or /var/lib/verdictd)")
    .option('--token-file <file>', 'the admin token file (instead of <data-dir>/admin-token)')
    .option('--timeout <seconds>', 'deadline of each call (default 30)');
}

/** The flags of `reference set`. */
interface ReferenceSetFlags {
  fromImage?: string;
  env?: string[];
  annotation?: string[];
  mount?: string[];
  cwd?: string;
  replace?: boolean;
  json?: boolean;
}

/**
 * `reference set NAME FILE` or `reference set NAME --from-image SOURCE [-- COMMAND...]`: the operands after
 * `--` (`afterDashDash`, from argv) are the COMMAND, those before it FILE.
 */
function referenceSetOf(name: string, operands: string[], afterDashDash: readonly string[], flags: ReferenceSetFlags & ConnectionOptions): Promise<CommandResult> {
  const command = operands.slice(operands.length - Math.min(afterDashDash.length, operands.length));
  const files = operands.slice(0, operands.length - command.length);
  const { fromImage, env, annotation, mount, cwd, replace, ...rest } = flags;
  if (fromImage === undefined) {
    const measureFlags = [env && '--env', annotation && '--annotation', mount && '--mount', cwd !== undefined && '--cwd', replace && '--replace', command.length > 0 && '-- COMMAND'].filter(Boolean);
    if (measureFlags.length > 0) usage(`Cannot use ${measureFlags.join(', ')} without --from-image`);
    if (files.length !== 1) usage('Cannot store a reference-value set: give FILE (or - for stdin), or --from-image SOURCE');
    return referenceSet(name, files[0]!, rest);
  }
  if (files.length > 0) usage(`Cannot use FILE (${files[0]}) and --from-image together: the set comes from one or the other (a COMMAND goes after --)`);
  const options: ReferenceFromImageOptions = { ...rest, source: fromImage, command, env, annotations: annotation, mounts: mount, cwd, replace };
  return referenceSetFromImage(name, options);
}

function buildProgram(setStatus: SetResult, afterDashDash: readonly string[]): Command {
  const run = (r: Promise<CommandResult>): void => setStatus(output(r));
  const program = connection(
    new Command('verdict')
      .description("Manage verdictd: keys, resources, policies, reference values and trusted platform keys, its audit log and identity pin, through its authenticated management API (gRPC); and move its store offline (store migrate).")
      .version(VERSION, '-v, --version', 'print the version')
      .helpOption('-h, --help', 'show help')
      .exitOverride()
      .configureOutput({ outputError: () => {} }),
  );
  // Leaf actions read their own flags merged with the program's.
  const opts = <T>(cmd: Command): T & ConnectionOptions => cmd.optsWithGlobals<T & ConnectionOptions>();
  const group = (name: string, description: string): Command => program.command(name).description(description).exitOverride();
  const leaf = (parent: Command, name: string, description: string): Command => connection(parent.command(name).description(description).exitOverride());
  const jsonOption = (cmd: Command): Command => cmd.option('--json', 'print JSON');

  const key = group('key', 'keys (random or imported secrets of 16 to 64 bytes, by UUID kid)');
  jsonOption(leaf(key, 'create', 'create a random 32-byte key under a fresh UUIDv4; prints its kid')).action((_o, cmd: Command) => run(keyCreate(opts(cmd))));
  jsonOption(leaf(key, 'get', "print a key's value (hex by default; only to stdout or --out)"))
    .argument('<kid>', 'the key id (UUID)')
    .addOption(new Option('--format <format>', 'how to print the key').choices([...KEY_FORMATS]).default('hex'))
    .option('-o, --out <file>', 'write the key to FILE (mode 0600) instead of stdout')
    .action((kid: string, _o, cmd: Command) => run(keyGet(kid, opts<{ format?: string; out?: string; json?: boolean }>(cmd))));
  jsonOption(leaf(key, 'list', 'list keys: kid, length, origin, creation time (never values)')).action((_o, cmd: Command) => run(keyList(opts(cmd))));
  leaf(key, 'delete', 'delete a key')
    .argument('<kid>', 'the key id (UUID)')
    .action((kid: string, _o, cmd: Command) => run(keyDelete(kid, opts(cmd))));
  leaf(key, 'public', "print the PEM public key images are encrypted to for this key (its P-256 image key): skopeo copy --encryption-key jwe:<file>")
    .argument('<kid>', 'the key id (UUID)')
    .option('-o, --out <file>', 'write the PEM to FILE instead of stdout')
    .action((kid: string, _o, cmd: Command) => run(keyPublic(kid, opts<{ out?: string }>(cmd))));
  jsonOption(leaf(key, 'import', 'import a key from FILE or stdin (-); prints its kid'))
    .argument('<file>', 'the key file, or - for stdin')
    .option('--kid <uuid>', 'the kid to store it under (default: a fresh UUIDv4)')
    .addOption(new Option('--format <format>', "the file's encoding").choices([...KEY_FORMATS]).default('raw'))
    .action((file: string, _o, cmd: Command) => run(keyImport(file, opts<{ kid?: string; format?: string; json?: boolean }>(cmd))));

  const resource = group('resource', 'resources (secrets up to 16 MiB by path repo/type/tag)');
  jsonOption(leaf(resource, 'set', 'create or replace a resource from FILE or stdin (-)'))
    .argument('<path>', 'repo/type/tag')
    .argument('<file>', 'the content, or - for stdin')
    .action((path: string, file: string, _o, cmd: Command) => run(resourceSet(path, file, opts(cmd))));
  jsonOption(leaf(resource, 'get', "print a resource's content (raw; base64 with --json)"))
    .argument('<path>', 'repo/type/tag')
    .option('-o, --out <file>', 'write the content to FILE (mode 0600) instead of stdout')
    .action((path: string, _o, cmd: Command) => run(resourceGet(path, opts<{ out?: string; json?: boolean }>(cmd))));
  jsonOption(leaf(resource, 'list', 'list resources: path, size, update time')).action((_o, cmd: Command) => run(resourceList(opts(cmd))));
  leaf(resource, 'delete', 'delete a resource')
    .argument('<path>', 'repo/type/tag')
    .action((path: string, _o, cmd: Command) => run(resourceDelete(path, opts(cmd))));

  const policy = group('policy', 'policies (CEL rules over the claims; docs/verdictd.md)');
  jsonOption(leaf(policy, 'set', 'store a policy document from FILE or stdin (-)'))
    .argument('<name>', 'the policy name')
    .argument('<file>', 'the policy JSON, or - for stdin')
    .action((name: string, file: string, _o, cmd: Command) => run(policySet(name, file, opts(cmd))));
  jsonOption(leaf(policy, 'get', "print a policy's text (a stored one, else the shipped one)"))
    .argument('<name>', 'the policy name')
    .action((name: string, _o, cmd: Command) => run(policyGet(name, opts(cmd))));
  jsonOption(leaf(policy, 'list', 'list stored and shipped policies')).action((_o, cmd: Command) => run(policyList(opts(cmd))));
  leaf(policy, 'delete', 'delete a stored policy')
    .argument('<name>', 'the policy name')
    .action((name: string, _o, cmd: Command) => run(policyDelete(name, opts(cmd))));
  jsonOption(leaf(policy, 'test', "judge evidence or claims with a policy (default: verdictd's); exit 0 allow, 1 deny"))
    .argument('[name]', 'a stored or shipped policy')
    .option('--policy-file <file>', 'a policy document to test instead of a stored one')
    .option('--evidence <file>', 'evidence (verified by verdictd now, with its trust configuration)')
    .addOption(new Option('--tee <tee>', 'the TEE the evidence must be from').choices(['auto', ...TEE_TYPES]))
    .option('--report-data <hex>', 'the report data the evidence must bind')
    .option('--claims <file>', 'a claims record (JSON; `tee-tools verify --json` output works) instead of evidence')
    .action((name: string | undefined, _o, cmd: Command) =>
      run(policyTest(name, opts<{ policyFile?: string; evidence?: string; claims?: string; tee?: string; reportData?: string; json?: boolean }>(cmd))),
    );

  const reference = group('reference', 'reference-value sets (what policies compare claims with)');
  jsonOption(leaf(reference, 'set', 'store a reference-value set from FILE or stdin (-), or add the measurement of an enclave container (--from-image, as `tee-tools measure`)'))
    .argument('<name>', 'the set name')
    .argument('[file]', 'the set JSON {"values": {field: [values]}}, or - for stdin')
    .argument('[command...]', 'with --from-image, after --: the COMMAND (images: replaces Cmd; bundles: process.args)')
    .option('--from-image <source>', "measure SOURCE (a bundle directory, oci:LAYOUT[:TAG], or an image in podman's store) and add the measurement to the set's `measurement` list")
    .option('--env <KEY=VALUE>', 'with --from-image: add to the env (e.g. ENCLAVE_TYPE=sim); repeatable', collect)
    .option('--annotation <KEY=VALUE>', 'with --from-image: add an annotation; repeatable', collect)
    .option('--mount <destination>', 'with --from-image: a mount point the engine adds; repeatable', collect)
    .option('--cwd <dir>', 'with --from-image: the working directory')
    .option('--replace', "with --from-image: the set's measurement list becomes this one value (other fields kept)")
    .action((name: string, file: string | undefined, command: string[], _o, cmd: Command) =>
      run(referenceSetOf(name, [...(file === undefined ? [] : [file]), ...command], afterDashDash, opts<ReferenceSetFlags>(cmd))),
    );
  jsonOption(leaf(reference, 'get', 'print a reference-value set (JSON)'))
    .argument('<name>', 'the set name')
    .action((name: string, _o, cmd: Command) => run(referenceGet(name, opts(cmd))));
  jsonOption(leaf(reference, 'list', 'list reference-value sets')).action((_o, cmd: Command) => run(referenceList(opts(cmd))));
  leaf(reference, 'delete', 'delete a reference-value set')
    .argument('<name>', 'the set name')
    .action((name: string, _o, cmd: Command) => run(referenceDelete(name, opts(cmd))));

  const trust = group('trust', 'trusted sim platform keys');
  jsonOption(leaf(trust, 'list', 'list trusted sim platform keys (platformKeyId)')).action((_o, cmd: Command) => run(trustList(opts(cmd))));
  jsonOption(leaf(trust, 'add-sim-key', "trust a sim platform public key (PEM, inclavared's platform key); prints its platformKeyId"))
    .argument('<file>', 'the PEM public key, or - for stdin')
    .action((file: string, _o, cmd: Command) => run(trustAddSimKey(file, opts(cmd))));
  leaf(trust, 'remove-sim-key', 'stop trusting a sim platform key')
    .argument('<id>', 'its platformKeyId (SHA-256 hex)')
    .action((id: string, _o, cmd: Command) => run(trustRemoveSimKey(id, opts(cmd))));

  jsonOption(leaf(program, 'identity', "print verdictd's identity pin, sha256:<hex> of its RATS-TLS public key (what enclave containers pin); --json adds the certificate")).action(
    (_o, cmd: Command) => run(identityGet(opts(cmd))),
  );
  jsonOption(leaf(program, 'audit', "print verdictd's audit log (oldest first): time, decision, action, kid/path/name, front end, peer"))
    .option('--since <time>', 'records at or after TIME (ISO-8601, e.g. 2026-03-01T12:00:00Z)')
    .option('--until <time>', 'records before TIME')
    .addOption(new Option('--decision <decision>', 'only allow, deny or error').choices(['allow', 'deny', 'error']))
    .addOption(new Option('--path <path>', 'only records about this resource (repo/type/tag)').conflicts('kid'))
    .option('--kid <kid>', 'only records about this key')
    .option('--limit <n>', 'only the last N matching records (verdictd answers at most 10000)')
    .action((_o, cmd: Command) => run(auditRead(opts<AuditOptions>(cmd))));

  const store = group('store', "verdictd's store itself, offline (verdictd stopped)");
  store
    .command('migrate')
    .description(
      'copy a whole store (keys and resources still sealed, identity key, policies, reference values, trust, audit log) into a new, empty one: ' +
        'a data directory to PostgreSQL or back. Refused while a verdictd uses either. Both use the same master key',
    )
    .exitOverride()
    .requiredOption('--from <store>', 'an embedded data directory, or postgres://USER@HOST:PORT/DATABASE')
    .requiredOption('--to <store>', 'a new data directory (its master.key is a copy of the source key), or an empty PostgreSQL database')
    .option('--master-key-file <file>', 'the master key both stores use (default <from>/master.key; required --from postgres://)')
    .option('--json', 'print JSON')
    .action((o: StoreMigrateOptions) => run(storeMigrate(o)));
  return program;
}

/** Runs verdict with `argv` (without node and script); writes output and resolves to the exit status. */
export function main(argv: string[]): Promise<number> {
  const dashDash = argv.indexOf('--');
  const afterDashDash = dashDash === -1 ? [] : argv.slice(dashDash + 1);
  return runProgram('verdict', argv, (setStatus) => buildProgram(setStatus, afterDashDash), { helpOnEmptyArgv: true });
}

process.exitCode = await main(process.argv.slice(2));
