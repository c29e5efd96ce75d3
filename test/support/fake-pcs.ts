/**
 * A PCS/PCCS-compatible HTTP server on 127.0.0.1 that serves one Intel vector's collateral the way Intel PCS
 * API v4 does: TCB Info and QE Identity bodies, the PCK CRL as DER, the Root CA CRL as hex text (as PCCS
 * serves it), issuer chains URL-encoded in response headers. Used by the fetcher's unit tests and by the
 * tee-tools integration test; nothing leaves loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IntelVector } from './intel-vectors.ts';

/** A running fake PCS. */
export interface FakePcs {
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  /** Path and query of every request since the last reset. */
  requests: string[];
  /** Serve this vector's collateral from now on (one platform's view at a time). */
  serve(vector: IntelVector): void;
  /** Answer every request with this HTTP status (undefined: serve normally). */
  failWith(status: number | undefined): void;
  close(): Promise<void>;
}

/** Starts a fake PCS serving `vector`'s collateral. */
export async function startFakePcs(vector: IntelVector): Promise<FakePcs> {
  let serving = vector;
  let failStatus: number | undefined;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${url.pathname}${url.search}`);
    if (failStatus) {
      res.writeHead(failStatus, { 'Error-Code': 'InvalidParameter' }).end();
      return;
    }
    const [, tee] = url.pathname.split('/');
    const v = serving;
    const c = v.collateral;
    const pck = v.expected.pck_certificate!;
    const shared = url.pathname.startsWith('/sgx/certification/v4/pckcrl') || url.pathname.endsWith('rootcacrl');
    if ((tee === 'tdx') !== (v.kind === 'intel-tdx') && !shared) {
      res.writeHead(404).end();
      return;
    }
    const send = (body: string | Uint8Array, header?: [string, string]): void => {
      res.writeHead(200, header ? { [header[0]]: encodeURIComponent(header[1]) } : {}).end(body);
    };
    if (url.pathname.endsWith('/certification/v4/tcb')) {
      if (url.searchParams.get('fmspc') !== pck.fmspc) res.writeHead(404).end();
      else send(c.tcbInfo!, ['TCB-Info-Issuer-Chain', c.tcbInfoIssuerChain!]);
    } else if (url.pathname.endsWith('/certification/v4/qe/identity')) {
      send(c.qeIdentity!, ['SGX-Enclave-Identity-Issuer-Chain', c.qeIdentityIssuerChain!]);
    } else if (url.pathname === '/sgx/certification/v4/pckcrl' && url.searchParams.get('ca') === pck.issuing_ca) {
      send(c.pckCrl!, ['SGX-PCK-CRL-Issuer-Chain', c.pckCrlIssuerChain!]);
    } else if (url.pathname === '/sgx/certification/v4/rootcacrl') {
      send(Buffer.from(c.rootCaCrl!).toString('hex'));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    serve: (v) => {
      serving = v;
    },
    failWith: (status) => {
      failStatus = status;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
