/**
 * Signal dispositions of a process, from /proc/PID/status (proc(5): SigCgt = caught, SigIgn = ignored, as
 * hexadecimal masks where bit n-1 stands for signal n).
 */
import { readFileSync } from 'node:fs';

/** True when process `pid` catches or ignores signal `sig` (false: default action, or the process is gone). */
export function handlesSignal(pid: number, sig: number, proc = '/proc'): boolean {
  let status: string;
  try {
    status = readFileSync(`${proc}/${pid}/status`, 'utf8');
  } catch {
    return false;
  }
  return dispositionSet(status, 'SigCgt', sig) || dispositionSet(status, 'SigIgn', sig);
}

/** True when bit `sig`-1 is set in the `field` mask of a /proc/PID/status text. */
export function dispositionSet(status: string, field: 'SigCgt' | 'SigIgn' | 'SigBlk', sig: number): boolean {
  const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)`, 'm').exec(status)?.[1];
  return hex !== undefined && (BigInt(`0x${hex}`) & (1n << BigInt(sig - 1))) !== 0n;
}
