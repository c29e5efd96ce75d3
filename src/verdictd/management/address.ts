/**
 * Where the management API listens: loopback only unless told otherwise (docs/verdictd.md, "Authentication").
 * Addresses are gRPC targets as `verdictd --client-api` takes them: `127.0.0.1:60000`, `[::1]:60000`,
 * `localhost:60000`, or `unix:/path`.
 */
import { isIP } from 'node:net';
import { verdictdError } from '../codes.ts';

/** The management API's default address (the original listened on [::1]:60000). */
export const DEFAULT_MANAGEMENT_ADDRESS = '127.0.0.1:60000';

/** A parsed `host:port` (or unix socket). */
export interface ManagementAddress {
  host: string;
  port: number;
  /** For `unix:` addresses: the socket path (host and port are then '' and 0). */
  unixPath?: string;
}

/** Parses `host:port`, `[v6]:port` or `unix:/path`; VERDICTD_ERR_USAGE otherwise. */
export function parseManagementAddress(address: string): ManagementAddress {
  if (address.startsWith('unix:')) {
    const path = address.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw verdictdError('VERDICTD_ERR_USAGE', `Cannot use the management address ${JSON.stringify(address)}: a unix address is unix:/path`);
    return { host: '', port: 0, unixPath: path };
  }
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw verdictdError('VERDICTD_ERR_USAGE', `Cannot use the management address ${JSON.stringify(address)}: expected HOST:PORT, [IPv6]:PORT or unix:/path`);
  }
  return { host: m[1] ?? m[2]!, port };
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, `localhost`, unix sockets. */
export function isLoopback(address: ManagementAddress): boolean {
  if (address.unixPath !== undefined) return true;
  const host = address.host.toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(host) || /^::ffff:127\./.test(host);
  return false;
}
