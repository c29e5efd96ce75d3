/**
 * `rune attest ID [--report-data HEX] [--out FILE] [--json]`: the host-side way to get a running enclave
 * container's evidence (the original's attest command, generalized): it asks the container's attestation
 * socket, exactly as the workload inside would, so the evidence binds the container's measurement and the
 * report data asked for. `tee-tools verify FILE --tee sim --trust-anchor <inclavared platform-cert>` checks it.
 */
import { runeError } from '../codes.ts';
import { requestEvidence } from '../../attestation-socket/client.ts';
import type { RuneContext } from '../context.ts';
import { hostAttestationSocket, inclavaredLocation, readRegistration } from '../enclave/attestation.ts';
import { ensureDaemon } from '../../attestation-socket/client.ts';
import { INCLAVARED_ERROR_CODES } from '../../attestation-socket/codes.ts';
import { InclavareError } from '../../errors/errors.ts';
import { dirname, resolve } from 'node:path';
import type { ContainerPaths } from '../state.ts';
import type { EnclaveDescription } from '../../runelet/description.ts';
import { findContainer, isEnclaveContainer } from '../state.ts';

/** Options of `rune attest`. */
export interface AttestArgs {
  id: string;
  reportData?: string | undefined;
  out?: string | undefined;
  json?: boolean;
}

/** Parses report data: up to 64 bytes as hex. */
export function parseReportData(hex: string | undefined): Buffer {
  if (hex === undefined || hex === '') return Buffer.alloc(0);
  if (!/^([0-9a-fA-F]{2}){1,64}$/.test(hex)) {
    throw runeError('RUNE_ERR_USAGE', `Invalid --report-data ${JSON.stringify(hex)}: give 1 to 64 bytes as hex`);
  }
  return Buffer.from(hex, 'hex');
}

/**
 * Asks the container's attestation socket; when nobody answers there (inclavared was killed or crashed),
 * starts inclavared again, which re-opens every registered container's socket, and asks once more. Only the
 * daemon this environment names is started (its data directory holds the platform key); otherwise the
 * error says which daemon to start.
 */
async function requestEvidenceRecovering(ctx: RuneContext, paths: ContainerPaths, socket: string, reportData: Buffer): Promise<Awaited<ReturnType<typeof requestEvidence>>> {
  try {
    return await requestEvidence(socket, reportData);
  } catch (err) {
    const registration = readRegistration(ctx.sys, paths);
    const location = inclavaredLocation(ctx.sys.env);
    if (!(err instanceof InclavareError && err.code === INCLAVARED_ERROR_CODES.UNAVAILABLE) || registration === undefined) throw err;
    if (resolve(dirname(registration.controlSocket)) !== resolve(location.root)) {
      throw runeError('RUNE_ERR_NOT_ATTESTABLE', `Cannot attest the container: its attestation socket does not answer and inclavared under ${dirname(registration.controlSocket)} is not the one this environment names (INCLAVARED_ROOT); start that daemon`, { cause: err });
    }
    await ensureDaemon(location);
    return requestEvidence(socket, reportData);
  }
}

/** Gets evidence from a running enclave container. Returns the exit status. */
export async function attest(args: AttestArgs, ctx: RuneContext): Promise<number> {
  const reportData = parseReportData(args.reportData);
  const paths = findContainer(ctx.sys, ctx.root, args.id);
  const socket = isEnclaveContainer(ctx.sys, paths) ? hostAttestationSocket(ctx.sys, paths) : undefined;
  if (socket === undefined) {
    throw runeError(
      'RUNE_ERR_NOT_ATTESTABLE',
      `Cannot attest container ${JSON.stringify(args.id)}: it is not an enclave container with an attestation socket (set ENCLAVE_TYPE=sim, tdx or snp)`,
    );
  }
  const description = JSON.parse(ctx.sys.readFile(paths.enclaveFile).toString('utf8')) as EnclaveDescription;
  const answer = await requestEvidenceRecovering(ctx, paths, socket, reportData);
  if (args.out !== undefined) ctx.sys.writeFile(args.out, answer.evidence, { mode: 0o644 });
  const padded = Buffer.concat([reportData, Buffer.alloc(64 - reportData.length)]).toString('hex');
  if (args.json) {
    const result = { id: args.id, tee: answer.tee, measurement: description.measurement, reportData: padded, evidence: Buffer.from(answer.evidence).toString('base64'), ...(args.out ? { out: args.out } : {}) };
    ctx.sys.stdout(`${JSON.stringify(result)}\n`);
  } else if (args.out !== undefined) {
    ctx.sys.stdout(`${answer.tee} evidence (${answer.evidence.length} bytes) for measurement ${description.measurement} written to ${args.out}\n`);
  } else {
    ctx.sys.stdout(`${Buffer.from(answer.evidence).toString('base64')}\n`);
  }
  return 0;
}
