/**
 * The fuzz targets: one per family of parsers of untrusted bytes (docs/security.md, "Fuzzing"). Each sets up
 * what its parsers need (vectors, keys, a store in a temp dir, a daemon on a temp socket), gives seeds and
 * format-aware mutators, and runs one input. The engine (engine.ts) is the oracle: a target returns or throws
 * InclavareError; a target throws OracleViolation itself for what the engine cannot see (a 5xx answer, an
 * INTERNAL code in an answer body).
 *
 * Inputs that carry a choice (which vector's collateral, which function, which HTTP method) start with a
 * selector byte or a small text header, so that one byte string replays one call: the stored corpus and
 * crash files are plain inputs of that shape.
 *
 * Adding a target (e.g. the containerd shim's ttrpc frames): write a FuzzTarget below (setup → seeds,
 * run, optional mutators), add it to TARGETS, run `scripts/fuzz.sh --target NAME --runs 1000000` and record
 * the figures in docs/security.md. The suite's short pass (test/unit/fuzz.test.ts) picks it up.
 */
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { parseAmdCertificate } from '../../src/attestation/amd/certificate.ts';
import { parseAmdKeyExtensions } from '../../src/attestation/amd/vcek-extensions.ts';
import { parseQeIdentity, parseTcbInfo, type IntelCollateral } from '../../src/attestation/intel/collateral.ts';
import { decodeSgxExtensions, SGX_EXTENSIONS_OID, verifyPckChain } from '../../src/attestation/intel/pck.ts';
import { parseIntelQuote } from '../../src/attestation/intel/quote.ts';
import { findExtension, normalizeTrustAnchors, parseCertificate as parseIntelCertificate, parseCrl as parseIntelCrl } from '../../src/attestation/intel/x509.ts';
import { parseSimEvidence } from '../../src/attestation/sim/parse.ts';
import { createSimEvidence } from '../../src/attestation/sim/create.ts';
import { parseSnpReport } from '../../src/attestation/snp/parse.ts';
import { verifyEvidence, type VerifyEvidenceOptions } from '../../src/attestation/verify-evidence.ts';
import { registerContainer } from '../../src/attestation-socket/client.ts';
import { parseEvidenceRequest, parseRegisterRequest } from '../../src/attestation-socket/requests.ts';
import { startDaemon, type Daemon } from '../../src/inclavared/daemon.ts';
import { readBundleConfig, type BundleReader } from '../../src/oci/config.ts';
import { defaultSpec } from '../../src/oci/spec.ts';
import { createLocalSimAttester } from '../../src/rats-tls/attesters/sim-local.ts';
import { decodeClaims, decodeDiceEvidence, encodeClaims, encodeDiceEvidence } from '../../src/rats-tls/cbor.ts';
import { createAttestedCertificate } from '../../src/rats-tls/certificate.ts';
import { decodeIntelEndorsements, encodeIntelEndorsements } from '../../src/rats-tls/endorsements.ts';
import { parseAttestedCertificate } from '../../src/rats-tls/parse.ts';
import { verifyAttestedCertificate } from '../../src/rats-tls/verify.ts';
import { readEnclaveConfig } from '../../src/rune/enclave/config.ts';
import { Broker, type Attestation } from '../../src/verdictd/broker.ts';
import { runCommand } from '../../src/verdictd/eaa/commands.ts';
import { FrameReader } from '../../src/verdictd/eaa/framing.ts';
import { createKbsHandler, type KbsHandler } from '../../src/verdictd/kbs/server.ts';
import { parseAnnotation, wrapOptsData } from '../../src/verdictd/key-provider/annotation.ts';
import { decodeProtocolMessage, encodeProtocolMessage } from '../../src/verdictd/key-provider/protocol.ts';
import { createKeyProviderService, type KeyProviderService } from '../../src/verdictd/key-provider/service.ts';
import { silentVerdictdLog } from '../../src/verdictd/log.ts';
import { allMethods, encodeMessage, type MethodName } from '../../src/verdictd/management/messages.ts';
import { handleManagementCall } from '../../src/verdictd/management/server.ts';
import { createManagementService, type ManagementService } from '../../src/verdictd/management/service.ts';
import { openEmbeddedStore, type EmbeddedStore } from '../../src/verdictd/store/embedded.ts';
import { pemDecodeAll } from '../../src/x509/pem.ts';
import { encodeFrame, FRAME_REQUEST, FrameReader as TtrpcFrameReader } from '../../src/shim/ttrpc/framing.ts';
import { decodeMessage as decodeTtrpcMessage, encodeMessage as encodeTtrpcMessage, type MessageName as TtrpcMessageName } from '../../src/shim/ttrpc/messages.ts';
import { loadIntelVectors, VECTORS_ROOT } from '../support/intel-vectors.ts';
import { loadSnpVectorFiles, snpInputs } from '../support/snp-vectors.ts';
import { derMutator, GENERIC_MUTATORS, jsonMutator, OracleViolation, utf8, type FuzzTarget, type Mutator, type TargetInstance } from './engine.ts';

const SIM_AT = new Date('2026-03-01T12:00:00.000Z');
const MEASUREMENT = createHash('sha384').update('fuzz').digest();

/** A selector byte in front of a payload; `choices` is how many there are. */
function withSelector(selector: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = selector;
  out.set(payload, 1);
  return out;
}

/** Applies `inner` to the payload behind the selector byte. */
function behindSelector(inner: Mutator): Mutator {
  return (input, rng, ctx) => (input.length === 0 ? input : withSelector(input[0]!, inner(input.subarray(1), rng, ctx)));
}

const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

// ---------------------------------------------------------------------------------------------------------
// Evidence

/** Intel quotes of one kind: [vector index] ‖ quote, verified with that vector's collateral at its time. */
function intelTarget(kind: 'intel-sgx' | 'intel-tdx'): FuzzTarget {
  const tee = kind === 'intel-sgx' ? 'sgx' : 'tdx';
  return {
    name: `${tee}-quote`,
    description: `${tee.toUpperCase()} quotes (real vectors, test/vectors/${kind}): parseIntelQuote(), then verifyEvidence() with the vector's collateral (PCK chain, QE report, TCB evaluation)`,
    async setup(): Promise<TargetInstance> {
      const vectors = (await loadIntelVectors()).filter((v) => v.kind === kind);
      const options: VerifyEvidenceOptions[] = vectors.map((v) => ({ tee, intelCollateral: v.collateral, at: v.at ?? SIM_AT }));
      return {
        seeds: vectors.map((v, i) => withSelector(i, v.quote)),
        maxLength: 16384,
        run(input) {
          if (input.length === 0) return 'empty';
          const quote = input.subarray(1);
          parseIntelQuote(quote);
          return verifyEvidence(quote, options[input[0]! % options.length]!).tee;
        },
        // Most of a quote's bytes are the PEM chain, and a changed chain is parsed again (the chain cache is
        // by bytes): ~1 ms of ASN.1 per input. The x509 target fuzzes certificates with DER-aware mutations,
        // so here most mutations edit only the bytes before the chain (header, body, signatures, QE
        // report and authentication data, certification data headers), which reach the signature checks.
        specificShare: 0.8,
        mutators: [behindSelector(quoteFieldMutator), behindSelector(beforePem(GENERIC_MUTATORS)), behindSelector(beforePem(GENERIC_MUTATORS)), behindSelector(beforePem([quoteFieldMutator]))],
      };
    },
  };
}

/** Applies one of `mutators` to the bytes before the first PEM block only. */
function beforePem(mutators: readonly Mutator[]): Mutator {
  const marker = utf8('-----BEGIN');
  return (input, rng, ctx) => {
    const at = Buffer.from(input.buffer, input.byteOffset, input.byteLength).indexOf(marker);
    if (at <= 0) return rng.pick(mutators)(input, rng, ctx);
    const head = rng.pick(mutators)(input.subarray(0, at), rng, ctx);
    const out = new Uint8Array(head.length + input.length - at);
    out.set(head);
    out.set(input.subarray(at), head.length);
    return out;
  };
}

/** Quote header and signature-data fields: version, key type, TEE type, the signature data length, cert data type and size. */
const quoteFieldMutator: Mutator = (input, rng) => {
  const out = input.slice();
  if (out.length < 48) return out;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const bodyEnd = view.getUint32(4, true) === 0x81 ? 48 + 584 : 48 + 384;
  const fields: [number, number][] = [
    [0, 2], [2, 2], [4, 4], [8, 2], [10, 2], [bodyEnd, 4],
    [bodyEnd + 4 + 64 + 64 + 384 + 64, 2], // QE auth data size (v3 layout)
  ];
  const [at, width] = rng.pick(fields);
  if (at + width > out.length) return out;
  const value = rng.pick([0, 1, 2, 3, 4, 5, 6, 0x81, 0xff, 0xffff, 0xffffffff, out.length, out.length - at, 0x10000]);
  if (width === 2) view.setUint16(at, value & 0xffff, true);
  else view.setUint32(at, value >>> 0, true);
  return out;
};

const snpTarget: FuzzTarget = {
  name: 'snp-report',
  description: 'SEV-SNP attestation reports (real vectors, test/vectors/amd-sev-snp): parseSnpReport(), then verifyEvidence() with the VCEK and chain',
  async setup() {
    const vectors = loadSnpVectorFiles();
    const options: VerifyEvidenceOptions[] = vectors.map((v) => ({ tee: 'snp', ...snpInputs(v), at: v.at }));
    return {
      seeds: vectors.map((v, i) => withSelector(i, new Uint8Array(readFileSync(v.report)))),
      maxLength: 4096,
      run(input) {
        if (input.length === 0) return 'empty';
        const report = input.subarray(1);
        parseSnpReport(report);
        return verifyEvidence(report, options[input[0]! % options.length]!).tee;
      },
    };
  },
};

const simTarget: FuzzTarget = {
  name: 'sim-evidence',
  description: 'sim evidence (made by src/attestation/sim/create.ts, debug and not, short and full report data): parseSimEvidence(), verifyEvidence()',
  async setup() {
    const platform = generateKeyPairSync('ed25519');
    const seeds = [false, true].flatMap((debug) =>
      [new Uint8Array(0), new Uint8Array(64).fill(2), Uint8Array.of(1)].map((reportData) =>
        createSimEvidence({ measurement: MEASUREMENT, reportData, platformKey: platform.privateKey, at: SIM_AT, debug }),
      ),
    );
    const options: VerifyEvidenceOptions = { tee: 'auto', simPlatformKeys: [platform.publicKey], at: SIM_AT };
    return {
      seeds,
      maxLength: 4096,
      run(input) {
        parseSimEvidence(input);
        return verifyEvidence(input, options).tee;
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------------------
// Certificates

function vectorFiles(pattern: RegExp): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (pattern.test(e.name)) out.push(join(dir, e.name));
    }
  };
  walk(VECTORS_ROOT);
  return out.sort();
}

/**
 * X.509: [mode] ‖ bytes. Mode 0: a DER certificate (src/x509 parse, then the SGX PCK extension); 1: a CRL
 * (DER or PEM); 2: an AMD VCEK/VLEK certificate and its key extensions; 3: a PEM chain as a PCK chain
 * (verifyPckChain to the Intel root).
 */
const x509Target: FuzzTarget = {
  name: 'x509',
  description: 'X.509 certificates and CRLs (Intel PCK chains, CRLs, AMD VCEKs from test/vectors): DER/PEM parsing, SGX PCK extensions, AMD key extensions, PCK chain building',
  async setup() {
    const certs: Uint8Array[] = [];
    const chains: Uint8Array[] = [];
    for (const f of vectorFiles(/chain\.pem$|^vcek\.pem$|cert.*\.pem$/)) {
      const pem = readFileSync(f, 'latin1');
      chains.push(utf8(pem));
      for (const der of pemDecodeAll(pem, 'CERTIFICATE')) certs.push(der);
    }
    for (const v of (await loadIntelVectors()).slice(0, 6)) {
      const q = parseIntelQuote(v.quote);
      const pem = q.signature.certificationData?.pemChain;
      if (typeof pem === 'string') {
        chains.push(utf8(pem));
        certs.push(...pemDecodeAll(pem, 'CERTIFICATE'));
      }
    }
    const crls = vectorFiles(/crl.*\.der$/).map((f) => new Uint8Array(readFileSync(f)));
    const unique = (list: Uint8Array[]): Uint8Array[] => [...new Map(list.map((b) => [Buffer.from(b).toString('base64'), b])).values()];
    const anchors = normalizeTrustAnchors([readFileSync(join(VECTORS_ROOT, 'roots', 'intel_sgx_root_ca.pem'), 'latin1')]);
    return {
      seeds: [
        ...unique(certs).flatMap((c) => [withSelector(0, c), withSelector(2, c)]),
        ...unique(crls).slice(0, 12).map((c) => withSelector(1, c)),
        ...unique(chains).slice(0, 12).map((c) => withSelector(3, c)),
      ],
      maxLength: 16384,
      run(input) {
        if (input.length === 0) return 'empty';
        const bytes = input.subarray(1);
        switch (input[0]! % 4) {
          case 0: {
            const cert = parseIntelCertificate(bytes, 'ATTEST_ERR_PCK_CHAIN', 'the fuzzed certificate');
            const ext = findExtension(cert, SGX_EXTENSIONS_OID);
            if (ext !== undefined) decodeSgxExtensions(ext);
            return 'certificate';
          }
          case 1:
            parseIntelCrl(bytes, 'ATTEST_ERR_COLLATERAL_MALFORMED', 'the fuzzed CRL');
            return 'crl';
          case 2:
            parseAmdKeyExtensions(parseAmdCertificate(bytes, 'the fuzzed VCEK'));
            return 'amd';
          default: {
            const ders = pemDecodeAll(latin1(bytes), 'CERTIFICATE');
            verifyPckChain(ders, anchors);
            return 'pck-chain';
          }
        }
      },
      mutators: [behindSelector(derMutator), behindSelector(derMutator)],
    };
  },
};

/** RATS-TLS certificates: DICE/TCG evidence extensions (2.23.133.5.4.9), legacy ones, endorsements; parse and verify. */
const ratsTlsTarget: FuzzTarget = {
  name: 'rats-tls-cert',
  description: 'RATS-TLS certificates (sim ones made by createAttestedCertificate, Gramine/Intel SDK/rats-rs interop vectors): parseAttestedCertificate(), verifyAttestedCertificate()',
  async setup() {
    const platform = generateKeyPairSync('ed25519');
    const attester = createLocalSimAttester({ platformKey: platform.privateKey, now: () => SIM_AT });
    const made = await Promise.all([
      createAttestedCertificate({ attester, now: () => SIM_AT }),
      createAttestedCertificate({ attester, now: () => SIM_AT, nonce: Uint8Array.of(1, 2, 3), customClaims: { app: Uint8Array.of(7) } }),
      createAttestedCertificate({ attester, now: () => SIM_AT, hashAlg: 'sha-384' }),
    ]);
    const interop = vectorFiles(/-cert\.pem$/).flatMap((f) => pemDecodeAll(readFileSync(f, 'latin1'), 'CERTIFICATE'));
    return {
      seeds: [...made.map((c) => c.certDer), ...interop],
      maxLength: 32768,
      run(input) {
        parseAttestedCertificate(input);
        const v = verifyAttestedCertificate(input, { at: SIM_AT, evidence: { simPlatformKeys: [platform.publicKey] } });
        if (v.error !== undefined) throw v.error;
        return v.verified ? 'verified' : 'unverified';
      },
      mutators: [derMutator, derMutator],
    };
  },
};

/** CBOR: [mode] ‖ bytes. 0: DICE tagged evidence; 1: the claims map; 2: the Intel endorsements array. */
const cborTarget: FuzzTarget = {
  name: 'cbor',
  description: 'CBOR of RATS-TLS (DICE tagged evidence, claims maps, Intel endorsements): decodeDiceEvidence(), decodeClaims(), decodeIntelEndorsements()',
  async setup() {
    const claims = encodeClaims({ pubkeyHash: { algorithm: 'sha-256', hash: new Uint8Array(32).fill(9) }, nonce: Uint8Array.of(1, 2), custom: { app: Uint8Array.of(7) } });
    const evidence = encodeDiceEvidence(60000, new Uint8Array(128).fill(3), claims);
    const v = (await loadIntelVectors())[0]!;
    const endorsements = encodeIntelEndorsements(v.collateral);
    return {
      seeds: [withSelector(0, evidence), withSelector(1, claims), withSelector(2, endorsements)],
      maxLength: 65536,
      run(input) {
        if (input.length === 0) return 'empty';
        const bytes = input.subarray(1);
        switch (input[0]! % 3) {
          case 0:
            decodeDiceEvidence(bytes);
            return 'evidence';
          case 1:
            decodeClaims(bytes);
            return 'claims';
          default:
            decodeIntelEndorsements(bytes);
            return 'endorsements';
        }
      },
      dictionary: [Uint8Array.of(0xd9, 0xea, 0x60), Uint8Array.of(0xa1), Uint8Array.of(0x9f), Uint8Array.of(0xff), Uint8Array.of(0x5b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0xfb), Uint8Array.of(0xc0), Uint8Array.of(0xf7)],
    };
  },
};

// ---------------------------------------------------------------------------------------------------------
// Collateral and configuration

/**
 * Intel collateral JSON: [vector] [item] ‖ text. Item 0: TCB Info, 1: QE Identity — parsed, then the quote of
 * that vector verified with the fuzzed document in place of the real one.
 */
const collateralTarget: FuzzTarget = {
  name: 'intel-collateral',
  description: 'Intel collateral JSON (TCB Info v2/v3, QE Identity of every vector): parseTcbInfo(), parseQeIdentity(), then the vector\'s quote verified with the fuzzed document',
  async setup() {
    const vectors = (await loadIntelVectors()).filter((v) => v.collateral.tcbInfo !== undefined && v.collateral.qeIdentity !== undefined);
    const seeds: Uint8Array[] = [];
    vectors.forEach((v, i) => {
      seeds.push(Uint8Array.from([i, 0, ...utf8(v.collateral.tcbInfo!)]));
      seeds.push(Uint8Array.from([i, 1, ...utf8(v.collateral.qeIdentity!)]));
    });
    return {
      seeds,
      maxLength: 65536,
      run(input) {
        if (input.length < 2) return 'short';
        const v = vectors[input[0]! % vectors.length]!;
        const doc = text(input.subarray(2));
        const which = input[1]! % 2 === 0 ? 'tcbInfo' : 'qeIdentity';
        if (which === 'tcbInfo') parseTcbInfo(doc);
        else parseQeIdentity(doc);
        const collateral: IntelCollateral = { ...v.collateral, [which]: doc };
        return verifyEvidence(v.quote, { intelCollateral: collateral, at: v.at ?? SIM_AT }).tee;
      },
      mutators: [(input, rng, ctx) => (input.length < 2 ? input : Uint8Array.from([input[0]!, input[1]!, ...jsonMutator(input.subarray(2), rng, ctx)]))],
      dictionary: ['"tcbLevels"', '"tcbStatus"', '"UpToDate"', '"OutOfDate"', '"Revoked"', '"sgxtcbcomponents"', '"svn":', '"isvsvn"', '"version":3', '"version":2', '"id":"TDX"', '"tdxtcbcomponents"', '"nextUpdate"', '"2099-01-01T00:00:00Z"', '"signature"', '\\u0000', '1e999', '-0'].map(utf8),
    };
  },
};

/** OCI config.json with the enclave annotations and environment: readBundleConfig() over an in-memory bundle, then readEnclaveConfig(). */
const ociTarget: FuzzTarget = {
  name: 'oci-config',
  description: 'OCI config.json and enclave annotations/environment (defaultSpec() with each enclave type and setting): readBundleConfig(), readEnclaveConfig()',
  async setup() {
    const seeds: Uint8Array[] = [utf8(JSON.stringify(defaultSpec()))];
    for (const [type, extra] of [
      ['sim', { 'enclave.runtime.path': 'sim', 'enclave.runtime.args': 'a,b', 'enclave.runtime.loglevel': 'info' }],
      ['wasm', { 'enclave.secrets': 'repo/key/one,repo/key/two', 'enclave.verdictd': '127.0.0.1:1234', 'enclave.verdictd.key': `sha256:${'ab'.repeat(32)}` }],
      ['intelSgx', { 'enclave.runtime.path': '/opt/pal.so', 'enclave.attestation.ra_type': 'dcap' }],
    ] as const) {
      const spec = defaultSpec();
      spec.annotations = { 'enclave.type': type, ...extra };
      seeds.push(utf8(JSON.stringify(spec)));
      const env = defaultSpec();
      env.process!.env = [...(env.process!.env ?? []), `ENCLAVE_TYPE=${type}`, 'ENCLAVE_RUNTIME_LOGLEVEL=info', 'ENCLAVE_SECRETS=a/b/c'];
      seeds.push(utf8(JSON.stringify(env)));
    }
    let current: Uint8Array = new Uint8Array(0);
    const reader: BundleReader = {
      stat: (path) => (path === '/fuzz/bundle' ? { type: 'directory' } : undefined),
      readFile: () => Buffer.from(current),
    };
    return {
      seeds,
      maxLength: 65536,
      run(input) {
        current = input;
        const { config } = readBundleConfig('/fuzz/bundle', reader);
        return readEnclaveConfig(config)?.type ?? 'plain';
      },
      mutators: [jsonMutator, jsonMutator],
      dictionary: ['"annotations"', '"enclave.type"', '"ENCLAVE_TYPE=sim"', '"enclave.runtime.path"', '"process"', '"env"', '"root"', '"ociVersion"', '"mounts"'].map(utf8),
    };
  },
};

// ---------------------------------------------------------------------------------------------------------
// Daemons and protocols

/** A temp dir, on tmpfs when there is one: the stores fsync every audit record, which on a disk caps a target at a few hundred inputs/s. */
function tempDir(prefix: string): string {
  return mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), prefix));
}

/** `METHOD SP path LF [header: value LF]* LF body` → the parts (the target's own framing of a request). */
function splitRequest(input: Uint8Array): { method: string; path: string; headers: Record<string, string>; body: Uint8Array } {
  const s = latin1(input);
  const headEnd = s.indexOf('\n\n');
  const head = headEnd < 0 ? s : s.slice(0, headEnd);
  const body = headEnd < 0 ? new Uint8Array(0) : input.subarray(headEnd + 2);
  const [first, ...lines] = head.split('\n');
  const sp = (first ?? '').indexOf(' ');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  return { method: sp < 0 ? (first ?? '') : first!.slice(0, sp), path: sp < 0 ? '/' : first!.slice(sp + 1), headers, body };
}

/** Mutates the body of a framed request as JSON, or the request line. */
const framedRequestMutator: Mutator = (input, rng, ctx) => {
  const s = latin1(input);
  const headEnd = s.indexOf('\n\n');
  if (headEnd < 0) return input;
  if (rng.chance(0.7)) return Uint8Array.from([...input.subarray(0, headEnd + 2), ...jsonMutator(input.subarray(headEnd + 2), rng, ctx)]);
  const [first, ...rest] = s.slice(0, headEnd).split('\n');
  const [method, path] = (first ?? ' ').split(' ');
  const newMethod = rng.chance(0.3) ? rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'G\u0000T', '']) : method;
  const segs = (path ?? '/').split('/');
  if (segs.length > 1) segs[1 + rng.int(segs.length - 1)] = rng.pick(['..', '.', '%2e%2e', '', 'x'.repeat(300), '%00', 'a?b', '#', '\u00e9', 'v1', 'kbs']);
  return utf8([`${newMethod} ${segs.join('/')}`, ...rest].join('\n') + s.slice(headEnd));
};

/**
 * inclavared's sockets: [socket] ‖ raw HTTP/1.1 bytes, written to the control socket (0) or a container's
 * attestation socket (1) of an in-process daemon on a temp dir; the answer must not be a 5xx, and the
 * daemon must go on answering.
 */
const inclavaredTarget: FuzzTarget = {
  name: 'inclavared-socket',
  description: 'inclavared\'s control and attestation sockets (an in-process daemon on temp unix sockets): raw HTTP requests; no 5xx, no dead daemon',
  async setup() {
    const work = tempDir('fuzz-inclavared-');
    const daemon: Daemon = await startDaemon({ root: join(work, 'r'), dataDir: join(work, 'd'), clock: () => SIM_AT });
    const attest = (await registerContainer(daemon.paths.root, { id: 'fuzz', measurement: MEASUREMENT, tee: 'sim' })).socket;
    const sockets = [daemon.paths.controlSocket, attest];
    const req = (method: string, path: string, body = ''): Uint8Array =>
      utf8(`${method} ${path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    const seeds = [
      withSelector(1, req('POST', '/v1/evidence', JSON.stringify({ reportData: '00'.repeat(64) }))),
      withSelector(1, req('GET', '/v1/tee')),
      withSelector(0, req('GET', '/v1/platform-cert')),
      withSelector(0, req('POST', '/v1/containers', JSON.stringify({ id: 'f2', measurement: MEASUREMENT.toString('hex'), tee: 'sim' }))),
      withSelector(0, req('DELETE', '/v1/containers/f2')),
      withSelector(0, req('GET', '/v1/containers')),
    ];
    /** One raw exchange; resolves to the answer's status (0: closed without an answer). */
    const exchange = (socket: string, bytes: Uint8Array): Promise<number> =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        const s = connect(socket);
        const timer = setTimeout(() => s.destroy(), 3000);
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('error', () => {});
        s.on('close', () => {
          clearTimeout(timer);
          const answer = Buffer.concat(chunks).toString('latin1');
          if (answer === '') return resolve(0);
          const m = /^HTTP\/1\.1 (\d{3}) /.exec(answer);
          if (m === null) return reject(new OracleViolation(`not an HTTP answer: ${JSON.stringify(answer.slice(0, 200))}`));
          resolve(Number(m[1]));
        });
        s.end(bytes);
      });
    return {
      seeds,
      maxLength: 8192,
      async run(input) {
        if (input.length === 0) return 'empty';
        const status = await exchange(sockets[input[0]! % 2]!, input.subarray(1));
        if (status >= 500) throw new OracleViolation(`answered ${status}`);
        return `status ${status}`;
      },
      mutators: [
        behindSelector((input, rng, ctx) => {
          const s = latin1(input);
          const at = s.indexOf('\r\n\r\n');
          if (at < 0) return jsonMutator(input, rng, ctx);
          const body = jsonMutator(input.subarray(at + 4), rng, ctx);
          const head = rng.chance(0.8) ? s.slice(0, at).replace(/content-length: \d+/, `content-length: ${body.length}`) : s.slice(0, at);
          return Uint8Array.from([...utf8(`${head}\r\n\r\n`), ...body]);
        }),
      ],
      dictionary: ['\r\n', 'content-length: ', 'transfer-encoding: chunked\r\n', '0\r\n\r\n', 'connection: keep-alive\r\n', 'expect: 100-continue\r\n', '/v1/containers/', '/v1/evidence', 'HTTP/1.0', '%2e%2e', '"reportData"', '"measurement"', '"tee"', '"relay"'].map(utf8),
      async reset() {
        // a fuzzed registration that was valid: drop every container but ours
        for (const c of daemon.containers()) {
          if (c.id !== 'fuzz') await exchange(daemon.paths.controlSocket, req('DELETE', `/v1/containers/${c.id}`));
        }
      },
      resetEvery: 5000,
      concurrency: 8,
      async close() {
        await daemon.close();
        rmSync(work, { recursive: true, force: true });
      },
    };
  },
};

/** The request parsers of inclavared's sockets alone (no HTTP): fast, for the bodies. */
const socketRequestsTarget: FuzzTarget = {
  name: 'inclavared-requests',
  description: 'inclavared\'s request bodies without HTTP: parseRegisterRequest(), parseEvidenceRequest() ([0|1] ‖ JSON)',
  async setup() {
    return {
      seeds: [
        withSelector(0, utf8(JSON.stringify({ id: 'c1', measurement: MEASUREMENT.toString('hex'), tee: 'sim', relay: '127.0.0.1:1111' }))),
        withSelector(1, utf8(JSON.stringify({ reportData: '00'.repeat(64) }))),
      ],
      maxLength: 8192,
      run(input) {
        if (input.length === 0) return 'empty';
        if (input[0]! % 2 === 0) parseRegisterRequest(input.subarray(1));
        else parseEvidenceRequest(input.subarray(1));
        return 'ok';
      },
      mutators: [behindSelector(jsonMutator), behindSelector(jsonMutator)],
    };
  },
};

/** A store in a temp dir with one key and one resource; reopened fresh by reset(). */
async function tempStore(prefix: string): Promise<{ store: () => EmbeddedStore; kid: () => string; reset(): Promise<void>; close(): Promise<void> }> {
  const work = tempDir(prefix);
  let n = 0;
  let store: EmbeddedStore;
  let kid = '';
  const open = async (): Promise<void> => {
    store = await openEmbeddedStore(join(work, `data-${n++}`), { init: true, now: () => SIM_AT });
    kid = (await store.createKey()).kid;
    await store.setResource('fuzz/r/x', utf8('resource'));
  };
  await open();
  return {
    store: () => store,
    kid: () => kid,
    async reset() {
      await store.close();
      rmSync(join(work, `data-${n - 1}`), { recursive: true, force: true });
      await open();
    },
    async close() {
      await store.close();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/**
 * EAA: a byte stream split into reads by the input itself (0xfe marks a read boundary), fed to FrameReader;
 * each complete request runs runCommand() for an attested sim peer. No answer may be INTERNAL; a fuzzed
 * Get KEK for an unknown kid is never OK.
 */
const eaaTarget: FuzzTarget = {
  name: 'eaa',
  description: 'verdictd\'s EAA protocol: FrameReader over a fuzzed byte stream split into reads, then runCommand() on each request for an attested sim peer (broker, policy, store)',
  async setup() {
    const s = await tempStore('fuzz-eaa-');
    const platform = generateKeyPairSync('ed25519');
    let broker = new Broker({ store: s.store(), now: () => SIM_AT, policy: 'allow-sim' });
    const evidence = createSimEvidence({ measurement: MEASUREMENT, reportData: new Uint8Array(64), platformKey: platform.privateKey, at: SIM_AT });
    const trust = async (): Promise<Attestation> => {
      await s.store().setTrust({ ...(await s.store().getTrust()), simPlatformKeys: [platform.publicKey.export({ type: 'spki', format: 'pem' }).toString()] });
      return broker.attest({ evidence, tee: 'sim', peer: { address: 'fuzz', frontEnd: 'eaa' } });
    };
    let attestation = await trust();
    const seedFrames = [
      { command: 'version' },
      { command: 'echo', data: 'x' },
      { command: 'Get KEK', kids: ['00000000-0000-4000-8000-000000000000'] },
      { command: 'Get Resource Info', name: 'fuzz/r/x' },
      { command: 'Get Resource', name: 'fuzz/r/y' },
      { command: 'Decrypt', blobs: [{ kid: '00000000-0000-4000-8000-000000000000', iv: 'AAAAAAAAAAAAAAAA', encrypted_data: 'AAAAAAAAAAAAAAAAAAAAAA==', algorithm: 'AES', key_length: 256 }] },
    ];
    return {
      seeds: [...seedFrames.map((f) => utf8(JSON.stringify(f))), utf8(seedFrames.map((f) => JSON.stringify(f)).join('\n')), Uint8Array.from([...utf8('{"command":"ver'), 0xfe, ...utf8('sion"}')])],
      maxLength: 16384,
      async run(input) {
        const reader = new FrameReader();
        const outcomes: string[] = [];
        let start = 0;
        for (let i = 0; i <= input.length; i++) {
          if (i < input.length && input[i] !== 0xfe) continue;
          for (const e of reader.push(input.subarray(start, i))) {
            if (e.kind === 'error') {
              outcomes.push(e.error.code);
              continue;
            }
            const answer = await runCommand(e.text, { broker, attestation });
            if (answer.summary === 'echo') {
              // the original's echo: the data itself, then the connection closes
              outcomes.push('echo');
              break;
            }
            // Get Resource answers with the reply base64-encoded (the original's form)
            const reply = JSON.parse(answer.body.startsWith('{') ? answer.body : Buffer.from(answer.body, 'base64').toString()) as { status?: string; code?: string };
            if (reply.code === 'INTERNAL') throw new OracleViolation(`an INTERNAL answer to ${JSON.stringify(e.text.slice(0, 300))}`);
            outcomes.push(reply.code ?? reply.status ?? 'echo');
            if (answer.close) break;
          }
          start = i + 1;
        }
        return outcomes.slice(0, 3).join(',');
      },
      mutators: [jsonMutator, jsonMutator],
      dictionary: ['{', '}', '"', '\\', '[', ']', '{"command":', '"Get KEK"', '"Decrypt"', '"Get Resource"', '"kids":', '"blobs":', '"name":', 'kbs:///fuzz/r/x', '\u00fe'].map(utf8),
      async reset() {
        await s.reset();
        broker = new Broker({ store: s.store(), now: () => SIM_AT, policy: 'allow-sim' });
        attestation = await trust();
      },
      resetEvery: 20000,
      close: () => s.close(),
    };
  },
};

/** The management API: [method index] ‖ protobuf request bytes, decoded and served as the gRPC server does (handleManagementCall). */
const managementTarget: FuzzTarget = {
  name: 'management',
  description: 'verdictd\'s management API (every method of the gRPC services): protobuf decoding and the service over an embedded store',
  async setup() {
    const s = await tempStore('fuzz-management-');
    const methods = allMethods();
    let service: ManagementService = createManagementService({ store: s.store(), broker: new Broker({ store: s.store(), now: () => SIM_AT }), now: () => SIM_AT });
    const pem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const valid: Partial<Record<MethodName, Uint8Array>> = {
      'KeyManagerService/GetKey': encodeMessage('GetKeyRequest', { uuid: '6f1c0a52-5d1e-4c69-9f0e-0a4b3a1e2d3c' }),
      'KeyManagerService/ImportKey': encodeMessage('ImportKeyRequest', { key: new Uint8Array(32).fill(1) }),
      'ResourceService/SetResource': encodeMessage('SetResourceRequest', { path: 'fuzz/r/z', data: utf8('v') }),
      'ResourceService/GetResource': encodeMessage('GetResourceRequest', { path: 'fuzz/r/x' }),
      'PolicyService/SetPolicy': encodeMessage('SetPolicyRequest', { name: 'fz', content: '{"rules":[{"name":"a","expression":"claims.debug == false"}]}' }),
      'PolicyService/TestPolicy': encodeMessage('TestPolicyRequest', { claimsJson: '{"tee":"sim","debug":false}', policyName: 'default' }),
      'ReferenceService/SetReference': encodeMessage('SetReferenceRequest', { name: 'fz', content: '{"values":{"a":[1]}}' }),
      'TrustService/AddSimPlatformKey': encodeMessage('AddSimPlatformKeyRequest', { pem }),
    };
    return {
      seeds: methods.map((m, i) => withSelector(i, valid[m] ?? new Uint8Array(0))),
      maxLength: 8192,
      async run(input) {
        if (input.length === 0) return 'empty';
        const method = methods[input[0]! % methods.length]!;
        await handleManagementCall(service, method, Buffer.from(input.subarray(1)), { address: 'fuzz' });
        return `${method} ok`;
      },
      async reset() {
        await s.reset();
        service = createManagementService({ store: s.store(), broker: new Broker({ store: s.store(), now: () => SIM_AT }), now: () => SIM_AT });
      },
      resetEvery: 20000,
      close: () => s.close(),
    };
  },
};

/** Protobuf field 1 as JSON: mutate the JSON inside the ocicrypt key provider message. */
const protocolJsonMutator: Mutator = (input, rng, ctx) => {
  if (input.length === 0) return input;
  try {
    const json = decodeProtocolMessage(input.subarray(1));
    return withSelector(input[0]!, encodeProtocolMessage(jsonMutator(json, rng, ctx)));
  } catch {
    return input;
  }
};

/** The ocicrypt key provider: [0 WrapKey | 1 UnWrapKey | 2 annotation] ‖ bytes. */
const keyProviderTarget: FuzzTarget = {
  name: 'key-provider',
  description: 'verdictd\'s ocicrypt key provider: WrapKey/UnWrapKey messages (protobuf around the keywrap JSON) and layer annotations (parseAnnotation)',
  async setup() {
    const s = await tempStore('fuzz-keyprovider-');
    let service: KeyProviderService = createKeyProviderService({ store: s.store(), now: () => SIM_AT });
    const b64 = (t: string): string => Buffer.from(t).toString('base64');
    const wrap = (params: Record<string, string[]>): Uint8Array =>
      encodeProtocolMessage(utf8(JSON.stringify({ op: 'keywrap', keywrapparams: { ec: { Parameters: params }, optsdata: b64('{"symkey":"x"}') } })));
    return {
      seeds: [
        withSelector(0, wrap({ verdictd: [b64(s.kid())] })),
        withSelector(0, wrap({ 'attestation-agent': [b64('kbs:///fuzz/r/x')] })),
        withSelector(1, encodeProtocolMessage(utf8(JSON.stringify({ op: 'keyunwrap', keyunwrapparams: { annotation: b64('{}') } })))),
        withSelector(2, wrapOptsData(s.kid(), new Uint8Array(32).fill(5), utf8('{"symkey":"x"}'))),
        withSelector(2, wrapOptsData('fuzz/r/x', new Uint8Array(32).fill(5), utf8('{}'), 'coco')),
      ],
      maxLength: 16384,
      async run(input) {
        if (input.length === 0) return 'empty';
        const bytes = input.subarray(1);
        switch (input[0]! % 3) {
          case 0:
            await service.wrapKey(bytes, { address: 'fuzz' });
            return 'wrapped';
          case 1:
            await service.unwrapKey(bytes, { address: 'fuzz' });
            return 'unwrapped';
          default:
            parseAnnotation(bytes);
            return 'annotation';
        }
      },
      mutators: [protocolJsonMutator, protocolJsonMutator, behindSelector(jsonMutator)],
      async reset() {
        await s.reset();
        service = createKeyProviderService({ store: s.store(), now: () => SIM_AT });
      },
      resetEvery: 20000,
      close: () => s.close(),
    };
  },
};

/**
 * KBS: a request framed as `METHOD path LF headers LF LF body` (engine-side framing, not HTTP), served by the
 * KBS handler. `@session` in a cookie header becomes a live session made by a real auth call, so that
 * attest bodies reach evidence parsing. No 5xx; errors are InclavareError.
 */
const kbsTarget: FuzzTarget = {
  name: 'kbs',
  description: 'verdictd\'s KBS protocol (auth, attest with sim/SGX/TDX/SNP evidence bodies, resource with bearer JWTs, admin endpoints with admin JWTs): the request handler',
  async setup() {
    const s = await tempStore('fuzz-kbs-');
    const adminKeys = generateKeyPairSync('ed25519');
    const make = async (): Promise<KbsHandler> =>
      createKbsHandler({
        store: s.store(),
        broker: new Broker({ store: s.store(), now: () => SIM_AT }),
        log: silentVerdictdLog,
        host: '127.0.0.1',
        port: 0,
        policy: 'default',
        adminKey: { key: adminKeys.publicKey, algorithms: ['EdDSA'] },
        now: () => SIM_AT,
      });
    let handler = await make();
    const platform = generateKeyPairSync('ed25519');
    const evidence = createSimEvidence({ measurement: MEASUREMENT, reportData: new Uint8Array(64), platformKey: platform.privateKey, at: SIM_AT });
    const otherKey: KeyObject = createPrivateKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const jwt = await new SignJWT({ 'submods': {} }).setProtectedHeader({ alg: 'ES256' }).setIssuedAt(Math.floor(SIM_AT.getTime() / 1000)).setExpirationTime(Math.floor(SIM_AT.getTime() / 1000) + 300).sign(otherKey);
    const adminJwt = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).setIssuedAt(Math.floor(SIM_AT.getTime() / 1000)).setExpirationTime(Math.floor(SIM_AT.getTime() / 1000) + 300).sign(adminKeys.privateKey);
    const req = (head: string, body: unknown = undefined): Uint8Array => utf8(`${head}\n\n${body === undefined ? '' : JSON.stringify(body)}`);
    const teePubkey = { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: 'MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4', y: '4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM' };
    const seeds = [
      req('POST /kbs/v0/auth', { version: '0.1.1', tee: 'sample', 'extra-params': {} }),
      req('POST /kbs/v0/auth', { version: '0.1.0', tee: 'tdx', 'extra-params': '' }),
      req('POST /kbs/v0/attest\ncookie: kbs-session-id=@session', { 'runtime-data': { nonce: '@nonce', 'tee-pubkey': teePubkey }, 'tee-evidence': { evidence: Buffer.from(evidence).toString('base64') } }),
      req('POST /kbs/v0/attest\ncookie: kbs-session-id=@session', { 'runtime-data': { nonce: '@nonce', 'tee-pubkey': { kty: 'RSA', alg: 'RSA1_5', n: 'AQAB', e: 'AQAB' } }, 'tee-evidence': { quote: 'AAAA' } }),
      req(`GET /kbs/v0/resource/fuzz/r/x\nauthorization: Bearer ${jwt}`),
      req('GET /kbs/v0/resource/fuzz/r/x\ncookie: kbs-session-id=@session'),
      req(`POST /kbs/v0/resource/fuzz/r/y\nauthorization: Bearer ${adminJwt}`, 'data'),
      req(`POST /kbs/v0/resource-policy\nauthorization: Bearer ${adminJwt}`, { policy: Buffer.from('{"rules":[]}').toString('base64') }),
      req(`POST /kbs/v0/reference-value\nauthorization: Bearer ${adminJwt}`, { name: 'x', values: [] }),
    ];
    return {
      seeds,
      maxLength: 16384,
      async run(input) {
        const r = splitRequest(input);
        let body = r.body;
        if (r.headers.cookie?.includes('@session')) {
          const auth = await handler({ method: 'POST', path: '/kbs/v0/auth', body: utf8('{"version":"0.1.1","tee":"sample"}'), headers: {}, remote: 'fuzz' });
          const id = /kbs-session-id=([^;]+)/.exec(auth.headers?.['set-cookie'] ?? '')?.[1] ?? '';
          const nonce = 'json' in auth ? (auth.json as { nonce: string }).nonce : '';
          r.headers.cookie = r.headers.cookie.replace('@session', id);
          body = utf8(text(body).replace('@nonce', nonce));
        }
        const answer = await handler({ method: r.method, path: r.path, body, headers: r.headers, remote: 'fuzz' });
        if (answer.status >= 500) throw new OracleViolation(`answered ${answer.status}`);
        return `${r.method} ${answer.status}`;
      },
      mutators: [framedRequestMutator, framedRequestMutator],
      dictionary: ['\nauthorization: Bearer ', '\ncookie: kbs-session-id=@session', 'eyJhbGciOiJub25lIn0.', '"tee-pubkey"', '"tee-evidence"', '"runtime-data"', '"init-data"', '"kty":"EC"', '"kty":"RSA"', '"sample"', '"snp"', '"sgx"'].map(utf8),
      async reset() {
        await s.reset();
        handler = await make();
      },
      resetEvery: 20000,
      close: () => s.close(),
    };
  },
};


// ---------------------------------------------------------------------------------------------------------
// containerd shim

const TTRPC_REQUESTS: TtrpcMessageName[] = ['CreateTaskRequest', 'DeleteRequest', 'ExecProcessRequest', 'ResizePtyRequest', 'StateRequest', 'KillRequest', 'CloseIORequest', 'PidsRequest', 'CheckpointTaskRequest', 'UpdateTaskRequest', 'StartRequest', 'WaitRequest', 'StatsRequest', 'ConnectRequest', 'ShutdownRequest', 'PauseRequest', 'ResumeRequest'];

/**
 * The containerd shim's ttrpc input (src/shim/ttrpc/): [split] ‖ a byte stream of frames, fed to FrameReader
 * in two chunks cut at `split`, each request frame's payload decoded as a ttrpc Request and its payload as the
 * task message its method names (or one chosen by the stream id). The codec rejects malformed protobuf with a
 * RangeError, which the server turns into an error status (serveConnection): that is a rejection here; any
 * other exception is a finding.
 */
const ttrpcTarget: FuzzTarget = {
  name: 'ttrpc',
  description: "containerd shim ttrpc frames (FrameReader, 10-byte headers, oversize skipping) and the Request/task messages of the shim's codec",
  async setup() {
    const request = (method: string, name: TtrpcMessageName, value: Record<string, unknown>, id: number): Buffer =>
      encodeFrame(id, FRAME_REQUEST, encodeTtrpcMessage('Request', { service: 'containerd.task.v2.Task', method, payload: encodeTtrpcMessage(name, value), timeout_nano: 5_000_000_000n, metadata: [{ key: 'k', value: 'v' }] }));
    const create = request('Create', 'CreateTaskRequest', { id: 'c1', bundle: '/run/bundle', rootfs: [{ type: 'overlay', source: 'overlay', target: '', options: ['lowerdir=/a'] }], terminal: false, stdin: '/s/in', stdout: '/s/out', stderr: '/s/err' }, 1);
    const kill = request('Kill', 'KillRequest', { id: 'c1', exec_id: '', signal: 15, all: true }, 3);
    const resize = request('ResizePty', 'ResizePtyRequest', { id: 'c1', exec_id: 'e1', width: 80, height: 24 }, 5);
    return {
      seeds: [Buffer.concat([Buffer.of(7), create]), Buffer.concat([Buffer.of(20), kill, resize]), Buffer.concat([Buffer.of(0), create.subarray(0, 30)])],
      maxLength: 65536,
      run(input) {
        if (input.length === 0) return 'empty';
        const stream = input.subarray(1);
        const cut = Math.min(stream.length, input[0]! * 4);
        const reader = new TtrpcFrameReader(32768);
        const events = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
        let outcome = `frames:${Math.min(events.length, 4)}`;
        for (const event of events) {
          if (event.kind === 'oversize') {
            outcome += ':oversize';
            continue;
          }
          try {
            const req = decodeTtrpcMessage<{ method?: string; payload?: Uint8Array }>('Request', event.frame.payload);
            const byMethod = TTRPC_REQUESTS.find((m) => m === `${req.method ?? ''}Request` || m === `${req.method ?? ''}TaskRequest` || m === `${req.method ?? ''}ProcessRequest`);
            decodeTtrpcMessage(byMethod ?? TTRPC_REQUESTS[event.frame.streamId % TTRPC_REQUESTS.length]!, req.payload ?? new Uint8Array());
            outcome += ':decoded';
          } catch (err) {
            if (!(err instanceof RangeError)) throw err;
            outcome += ':rejected';
          }
        }
        return outcome;
      },
      dictionary: [Uint8Array.of(0, 0, 0, 0), Uint8Array.of(0xff, 0xff, 0xff, 0xff), Uint8Array.of(0, 0, 0x80, 0x01), utf8('containerd.task.v2.Task'), utf8('Create'), Uint8Array.of(0x0a), Uint8Array.of(0x12), Uint8Array.of(0x1a)],
    };
  },
};

/** Every target, in the order scripts/fuzz.sh runs them. */
export const TARGETS: readonly FuzzTarget[] = [
  intelTarget('intel-sgx'),
  intelTarget('intel-tdx'),
  snpTarget,
  simTarget,
  x509Target,
  ratsTlsTarget,
  cborTarget,
  collateralTarget,
  ociTarget,
  socketRequestsTarget,
  inclavaredTarget,
  eaaTarget,
  managementTarget,
  keyProviderTarget,
  kbsTarget,
  ttrpcTarget,
];

export function targetNamed(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}
