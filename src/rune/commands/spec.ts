/** `rune spec`: writes a default config.json (runc's, plus the enclave annotations) into the bundle. */
import { join, resolve } from 'node:path';
import { runeError } from '../codes.ts';
import { defaultSpec, type EnclaveSpecOptions } from '../../oci/spec.ts';
import { linuxSys } from '../../sys/linux.ts';
import type { RuneContext } from '../context.ts';

/** Options of `rune spec`. */
export interface SpecArgs {
  bundle?: string | undefined;
  rootless?: boolean;
  enclave?: EnclaveSpecOptions;
}

/** Writes `<bundle>/config.json`; refuses to overwrite one. Returns the exit status. */
export function spec(args: SpecArgs, ctx: Pick<RuneContext, 'sys'> = { sys: linuxSys() }): number {
  const path = join(resolve(args.bundle ?? '.'), 'config.json');
  const options = { rootless: args.rootless === true, ...(args.enclave ? { enclave: args.enclave } : {}) };
  try {
    ctx.sys.writeFile(path, `${JSON.stringify(defaultSpec(options), null, '\t')}\n`, { exclusive: true, mode: 0o644 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' ? 'it already exists; remove it first' : code === 'ENOENT' ? 'the bundle directory does not exist' : String(code);
    throw runeError(code === 'EEXIST' ? 'RUNE_ERR_SPEC_EXISTS' : 'RUNE_ERR_SPEC', `Cannot write ${path}: ${why}`);
  }
  return 0;
}
