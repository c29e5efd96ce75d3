/**
 * Intel DCAP collateral: the types and the parsers of TCB Info (v2, v3; SGX and TDX) and QE Identity (v2).
 * Pure: collateral comes in as values; reading it from a directory or fetching it from a PCS/PCCS happens at
 * the edge (src/collateral/). Field names and semantics: Intel PCS API v4 ("Get TCB Info", "Get Quoting
 * Enclave Identity").
 */
import { fromHex } from './bytes.ts';
import { INTEL_ERROR_CODES, intelError } from './codes.ts';

/** Collateral as it comes from PCS/PCCS or files; every item optional so partial sets can be represented. */
export interface IntelCollateral {
  /** tcb_info.json: the PCS response body `{"tcbInfo":{...},"signature":"<hex r||s>"}`, verbatim. */
  tcbInfo?: string;
  /** qe_identity.json: `{"enclaveIdentity":{...},"signature":"..."}`, verbatim. */
  qeIdentity?: string;
  /** PEM: Intel SGX TCB Signing certificate, then the root. */
  tcbInfoIssuerChain?: string;
  qeIdentityIssuerChain?: string;
  /** PCK CRL of the PCK Processor or Platform CA, DER (PEM accepted). */
  pckCrl?: Uint8Array;
  /** PEM: the PCK CA that issued the CRL, then the root. */
  pckCrlIssuerChain?: string;
  /** Intel SGX Root CA CRL (revokes intermediate CAs), DER (PEM accepted). */
  rootCaCrl?: Uint8Array;
}

/** The file name of each collateral item in a collateral directory. */
export const COLLATERAL_FILES: Readonly<Record<keyof IntelCollateral, string>> = {
  tcbInfo: 'tcb_info.json',
  qeIdentity: 'qe_identity.json',
  tcbInfoIssuerChain: 'tcb_info_issuer_chain.pem',
  qeIdentityIssuerChain: 'qe_identity_issuer_chain.pem',
  pckCrl: 'pck_crl.der',
  pckCrlIssuerChain: 'pck_crl_issuer_chain.pem',
  rootCaCrl: 'root_ca_crl.der',
};

/** The items that are bytes (DER CRLs); the others are text. */
export const BINARY_ITEMS: ReadonlySet<keyof IntelCollateral> = new Set<keyof IntelCollateral>(['pckCrl', 'rootCaCrl']);

/** TCB level of a TCB Info. */
export interface TcbLevel {
  /** 16 SGX TCB component SVNs. */
  sgxComponents: number[];
  pceSvn: number;
  /** TDX TCB Info only: 16 TDX TCB component SVNs (compared with TEE_TCB_SVN). */
  tdxComponents?: number[];
  tcbDate?: string;
  tcbStatus: string;
  advisoryIds: string[];
}

/** A TCB level of a TDX module identity or of a QE Identity: selected by ISVSVN. */
export interface IsvSvnTcbLevel {
  isvSvn: number;
  tcbDate?: string;
  tcbStatus: string;
  advisoryIds: string[];
}

/** A TDX module identity of a TDX TCB Info v3 (`tdxModuleIdentities`). */
export interface TdxModuleIdentity {
  id: string;
  mrSigner: string;
  attributes: string;
  attributesMask: string;
  tcbLevels: IsvSvnTcbLevel[];
}

/** The signed body of a TCB Info. */
export interface TcbInfo {
  /** 'SGX' or 'TDX' ('SGX' for v2, which has no id). */
  id: 'SGX' | 'TDX';
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  /** Lowercase hex. */
  fmspc: string;
  pceId: string;
  tcbType: number;
  tcbEvaluationDataNumber?: number;
  tcbLevels: TcbLevel[];
  tdxModule?: { mrSigner: string; attributes: string; attributesMask: string };
  tdxModuleIdentities?: TdxModuleIdentity[];
}

/** The signed body of a QE Identity (v2). */
export interface QeIdentity {
  /** 'QE' (SGX), 'TD_QE' (TDX), 'QVE'. */
  id: string;
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  tcbEvaluationDataNumber?: number;
  miscSelect: number;
  miscSelectMask: number;
  /** 16 bytes hex. */
  attributes: string;
  attributesMask: string;
  mrSigner: string;
  isvProdId: number;
  tcbLevels: IsvSvnTcbLevel[];
}

/** A signed JSON collateral document: the exact signed bytes, the signature, and the parsed body. */
export interface SignedJson<T> {
  body: T;
  signedBytes: Uint8Array;
  /** r || s, 64 bytes. */
  signature: Uint8Array;
}

function malformed(what: string, why: string, cause?: unknown): never {
  throw intelError(INTEL_ERROR_CODES.COLLATERAL_MALFORMED, `Cannot use ${what}: ${why}`, cause === undefined ? {} : { cause });
}

/**
 * Finds the value of top-level member `name` of the JSON object in `text` and returns its exact source
 * substring. Intel signs the bytes of the tcbInfo / enclaveIdentity member as served (PCS API v4: "signature
 * ... calculated over tcbInfo body"), so the body must not be re-serialized. A duplicated member is rejected:
 * JSON.parse would keep the last one while a signature may cover another.
 */
export function extractJsonMember(text: string, name: string): string | undefined {
  let i = 0;
  const n = text.length;
  const ws = (): void => {
    while (i < n && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const str = (): string => {
    const start = i;
    if (text[i] !== '"') throw new Error(`expected a string at ${i}`);
    i++;
    while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= n) throw new Error('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '"') {
      str();
      return;
    }
    if (c === '{' || c === '[') {
      let depth = 0;
      while (i < n) {
        const ch = text[i]!;
        if (ch === '"') {
          str();
          continue;
        }
        if (ch === '{' || ch === '[') depth++;
        else if (ch === '}' || ch === ']') {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      throw new Error('unterminated object');
    }
    while (i < n && !',}] \t\r\n'.includes(text[i]!)) i++;
  };
  ws();
  if (text[i] !== '{') throw new Error('not a JSON object');
  i++;
  let found: string | undefined;
  for (;;) {
    ws();
    if (text[i] === '}') break;
    const key = str();
    ws();
    if (text[i] !== ':') throw new Error(`expected ':' at ${i}`);
    i++;
    ws();
    const start = i;
    value();
    if (key === name) {
      if (found !== undefined) throw new Error(`member "${name}" appears twice`);
      found = text.slice(start, i);
    }
    ws();
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}') break;
    throw new Error(`expected ',' or '}' at ${i}`);
  }
  return found;
}

function parseSignedJson(text: string, member: string, what: string): { raw: string; signature: Uint8Array } {
  let doc: unknown;
  let raw: string | undefined;
  try {
    doc = JSON.parse(text);
    raw = extractJsonMember(text, member);
  } catch (err) {
    malformed(what, 'it is not valid JSON', err);
  }
  if (raw === undefined) malformed(what, `it has no "${member}" member`);
  const sigHex = (doc as { signature?: unknown }).signature;
  if (typeof sigHex !== 'string' || sigHex.length !== 128) malformed(what, 'its signature is not 64 bytes of hex');
  let signature: Uint8Array;
  try {
    signature = fromHex(sigHex);
  } catch (err) {
    malformed(what, 'its signature is not hex', err);
  }
  return { raw, signature };
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) malformed(what, `${field} is not an object`);
  return v as Obj;
}
function num(o: Obj, k: string, what: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) malformed(what, `${k} is not a non-negative integer`);
  return v;
}
function optNum(o: Obj, k: string, what: string): number | undefined {
  return o[k] === undefined ? undefined : num(o, k, what);
}
function str(o: Obj, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') malformed(what, `${k} is not a string`);
  return v;
}
function hexStr(o: Obj, k: string, what: string, bytes: number): string {
  const v = str(o, k, what);
  if (v.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(v)) malformed(what, `${k} is not ${bytes} bytes of hex`);
  return v.toLowerCase();
}
function date(o: Obj, k: string, what: string): Date {
  const d = new Date(str(o, k, what));
  if (Number.isNaN(d.getTime())) malformed(what, `${k} is not a date`);
  return d;
}
function arr(o: Obj, k: string, what: string): unknown[] {
  const v = o[k];
  if (!Array.isArray(v)) malformed(what, `${k} is not an array`);
  return v;
}
function advisories(o: Obj, what: string): string[] {
  if (o.advisoryIDs === undefined) return [];
  const a = arr(o, 'advisoryIDs', what);
  if (!a.every((x) => typeof x === 'string')) malformed(what, 'advisoryIDs holds a non-string');
  return a as string[];
}
function components(o: Obj, k: string, what: string): number[] {
  const a = arr(o, k, what);
  if (a.length !== 16) malformed(what, `${k} does not have 16 entries`);
  return a.map((c) => num(obj(c, what, k), 'svn', what));
}
function isvLevels(list: unknown[], what: string): IsvSvnTcbLevel[] {
  return list.map((l) => {
    const lo = obj(l, what, 'tcbLevels[]');
    const level: IsvSvnTcbLevel = {
      isvSvn: num(obj(lo.tcb, what, 'tcb'), 'isvsvn', what),
      tcbStatus: str(lo, 'tcbStatus', what),
      advisoryIds: advisories(lo, what),
    };
    if (typeof lo.tcbDate === 'string') level.tcbDate = lo.tcbDate;
    return level;
  });
}

/** Parses a TCB Info document (PCS response body); returns the body and the exact signed bytes. */
export function parseTcbInfo(text: string): SignedJson<TcbInfo> {
  const what = 'TCB Info';
  const { raw, signature } = parseSignedJson(text, 'tcbInfo', what);
  const o = obj(JSON.parse(raw), what, 'tcbInfo');
  const version = num(o, 'version', what);
  if (version !== 2 && version !== 3) malformed(what, `version ${version} is not supported (2, 3)`);
  const id = version === 2 ? 'SGX' : str(o, 'id', what);
  if (id !== 'SGX' && id !== 'TDX') malformed(what, `id "${id}" is not SGX or TDX`);
  const levels: TcbLevel[] = arr(o, 'tcbLevels', what).map((l) => {
    const lo = obj(l, what, 'tcbLevels[]');
    const tcb = obj(lo.tcb, what, 'tcb');
    let level: TcbLevel;
    if (version === 2) {
      // TCB Info v2: flat sgxtcbcomp01svn .. sgxtcbcomp16svn (PCS API v3).
      const sgx = Array.from({ length: 16 }, (_, k) => num(tcb, `sgxtcbcomp${String(k + 1).padStart(2, '0')}svn`, what));
      level = { sgxComponents: sgx, pceSvn: num(tcb, 'pcesvn', what), tcbStatus: str(lo, 'tcbStatus', what), advisoryIds: advisories(lo, what) };
    } else {
      level = {
        sgxComponents: components(tcb, 'sgxtcbcomponents', what),
        pceSvn: num(tcb, 'pcesvn', what),
        tcbStatus: str(lo, 'tcbStatus', what),
        advisoryIds: advisories(lo, what),
      };
      if (id === 'TDX') level.tdxComponents = components(tcb, 'tdxtcbcomponents', what);
    }
    if (typeof lo.tcbDate === 'string') level.tcbDate = lo.tcbDate;
    return level;
  });
  const info: TcbInfo = {
    id,
    version,
    issueDate: date(o, 'issueDate', what),
    nextUpdate: date(o, 'nextUpdate', what),
    fmspc: hexStr(o, 'fmspc', what, 6),
    pceId: hexStr(o, 'pceId', what, 2),
    tcbType: optNum(o, 'tcbType', what) ?? 0,
    tcbLevels: levels,
  };
  const evalNum = optNum(o, 'tcbEvaluationDataNumber', what);
  if (evalNum !== undefined) info.tcbEvaluationDataNumber = evalNum;
  if (o.tdxModule !== undefined) {
    const m = obj(o.tdxModule, what, 'tdxModule');
    info.tdxModule = {
      mrSigner: hexStr(m, 'mrsigner', what, 48),
      attributes: hexStr(m, 'attributes', what, 8),
      attributesMask: hexStr(m, 'attributesMask', what, 8),
    };
  }
  if (o.tdxModuleIdentities !== undefined) {
    info.tdxModuleIdentities = arr(o, 'tdxModuleIdentities', what).map((x) => {
      const m = obj(x, what, 'tdxModuleIdentities[]');
      return {
        id: str(m, 'id', what),
        mrSigner: hexStr(m, 'mrsigner', what, 48),
        attributes: hexStr(m, 'attributes', what, 8),
        attributesMask: hexStr(m, 'attributesMask', what, 8),
        tcbLevels: isvLevels(arr(m, 'tcbLevels', what), what),
      };
    });
  }
  return { body: info, signedBytes: new Uint8Array(Buffer.from(raw, 'utf8')), signature };
}

/** Parses a QE Identity document (PCS response body); returns the body and the exact signed bytes. */
export function parseQeIdentity(text: string): SignedJson<QeIdentity> {
  const what = 'QE Identity';
  const { raw, signature } = parseSignedJson(text, 'enclaveIdentity', what);
  const o = obj(JSON.parse(raw), what, 'enclaveIdentity');
  const version = num(o, 'version', what);
  if (version !== 2) malformed(what, `version ${version} is not supported (2)`);
  const identity: QeIdentity = {
    id: str(o, 'id', what),
    version,
    issueDate: date(o, 'issueDate', what),
    nextUpdate: date(o, 'nextUpdate', what),
    miscSelect: parseInt(hexStr(o, 'miscselect', what, 4), 16),
    miscSelectMask: parseInt(hexStr(o, 'miscselectMask', what, 4), 16),
    attributes: hexStr(o, 'attributes', what, 16),
    attributesMask: hexStr(o, 'attributesMask', what, 16),
    mrSigner: hexStr(o, 'mrsigner', what, 32),
    isvProdId: num(o, 'isvprodid', what),
    tcbLevels: isvLevels(arr(o, 'tcbLevels', what), what),
  };
  const evalNum = optNum(o, 'tcbEvaluationDataNumber', what);
  if (evalNum !== undefined) identity.tcbEvaluationDataNumber = evalNum;
  return { body: identity, signedBytes: new Uint8Array(Buffer.from(raw, 'utf8')), signature };
}
