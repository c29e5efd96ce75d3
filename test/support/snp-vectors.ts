/**
 * The shared AMD SEV-SNP vectors as files (for tools driven through their command line): report, VCEK (or a
 * VCEK-ASK-ARK bundle), the ASK/ARK file if any, expected.json and a verification time inside the VCEK's
 * validity (its midpoint, as test/unit/attestation/snp-verify.test.ts picks it).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { VECTORS_ROOT } from './intel-vectors.ts';

/** One SNP vector's files and expectations. */
export interface SnpVectorFiles {
  id: string;
  dir: string;
  report: string;
  /** vcek.der, vcek.pem, or vcek_ask_ark.pem (VCEK first). */
  vcek: string;
  /** The ASK/ARK (or ASK alone) PEM, when the vector has one separate from the VCEK. */
  certChain: string | undefined;
  // expected.json is free-form JSON written by the vector authors.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  expected: Record<string, any>;
  notBefore: Date;
  notAfter: Date;
  at: Date;
}

/** Every amd-sev-snp vector, sorted by id. */
export function loadSnpVectorFiles(): SnpVectorFiles[] {
  const root = join(VECTORS_ROOT, 'amd-sev-snp');
  return readdirSync(root)
    .sort()
    .map((id) => {
      const dir = join(root, id);
      const files = readdirSync(dir).sort();
      const vcek = ['vcek.der', 'vcek.pem', 'vcek_ask_ark.pem'].find((f) => files.includes(f));
      if (vcek === undefined) throw new Error(`SNP vector ${id} has no VCEK file`);
      const chain = files.find((f) => f.endsWith('.pem') && !f.startsWith('vcek') && /ask|cert_chain/.test(f));
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as SnpVectorFiles['expected'];
      const [from, until] = expected.leaf_certificate.validity as [string, string];
      const notBefore = new Date(from);
      const notAfter = new Date(until);
      return {
        id,
        dir,
        report: join(dir, 'report.bin'),
        vcek: join(dir, vcek),
        certChain: chain === undefined ? undefined : join(dir, chain),
        expected,
        notBefore,
        notAfter,
        at: new Date((notBefore.getTime() + notAfter.getTime()) / 2),
      };
    });
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g;

/** The VCEK and chain of a vector as verifySnpReport() takes them (a VCEK-ASK-ARK bundle is split). */
export function snpInputs(v: SnpVectorFiles): { vcek: Uint8Array | string; certChain?: string } {
  const vcek = readFileSync(v.vcek);
  const chain = v.certChain === undefined ? '' : readFileSync(v.certChain, 'utf8');
  if (!v.vcek.endsWith('.pem')) return chain ? { vcek: new Uint8Array(vcek), certChain: chain } : { vcek: new Uint8Array(vcek) };
  const [leaf = '', ...rest] = vcek.toString('utf8').match(PEM_BLOCK) ?? [];
  const certChain = chain + rest.join('');
  return certChain ? { vcek: leaf, certChain } : { vcek: leaf };
}
