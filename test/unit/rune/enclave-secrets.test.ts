/**
 * issue #12 item 4 - the host side of secrets: the settings (ENCLAVE_SECRETS, ENCLAVE_VERDICTD,
 * ENCLAVE_VERDICTD_KEY) are validated at create; the measurement covers the resources and the pinned key but
 * not the address; the /run/secrets tmpfs goes where no other mount hides it or is hidden by it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readEnclaveConfig } from '../../../src/rune/enclave/config.ts';
import { canonicalDescription, computeMeasurement, type MeasurementInput } from '../../../src/rune/enclave/measurement.ts';
import { withSecretsMount } from '../../../src/rune/enclave/bundle.ts';
import { isInclavareError } from '../../../src/errors/errors.ts';

const PIN = `sha256:${'ab'.repeat(32)}`;
const SIM = ['ENCLAVE_TYPE=sim', 'ENCLAVE_RUNTIME_PATH=sim'];

test('readEnclaveConfig() reads the secrets settings from the env, then the annotations, and removes them from the workload env', () => {
  const fromEnv = readEnclaveConfig({ process: { env: [...SIM, 'ENCLAVE_SECRETS=app/db/password, app/tls/key,app/db/password', `ENCLAVE_VERDICTD_KEY=${PIN.toUpperCase().replace('SHA256', 'sha256')}`, 'A=1'] } });
  assert.deepEqual(fromEnv?.secrets, { resources: ['app/db/password', 'app/tls/key'], verdictd: '127.0.0.1:1234', verdictdKey: PIN });
  assert.deepEqual(fromEnv?.workloadEnv, ['A=1']);
  const fromAnnotations = readEnclaveConfig({
    process: { env: SIM },
    annotations: { 'enclave.secrets': 'a/b/c', 'enclave.verdictd': '[::1]:4000', 'enclave.verdictd.key': PIN },
  });
  assert.deepEqual(fromAnnotations?.secrets, { resources: ['a/b/c'], verdictd: '[::1]:4000', verdictdKey: PIN });
  assert.equal(readEnclaveConfig({ process: { env: [...SIM, 'ENCLAVE_SECRETS='] } })?.secrets, undefined);
});

test('readEnclaveConfig() refuses bad secrets settings, naming the setting and what to give', () => {
  const cases: [string[], RegExp][] = [
    [['ENCLAVE_SECRETS=app/db'], /Invalid secret "app\/db" in ENCLAVE_SECRETS .*repo\/type\/tag/],
    [['ENCLAVE_SECRETS=../etc/passwd'], /Invalid secret/],
    [['ENCLAVE_SECRETS=a/b/c/d'], /Invalid secret/],
    [['ENCLAVE_SECRETS=a/b/c'], /ENCLAVE_VERDICTD_KEY .*verdict identity/],
    [['ENCLAVE_SECRETS=a/b/c', 'ENCLAVE_VERDICTD_KEY=sha256:12'], /Invalid verdictd key pin/],
    [['ENCLAVE_SECRETS=a/b/c', `ENCLAVE_VERDICTD_KEY=${PIN}`, 'ENCLAVE_VERDICTD=verdictd'], /Invalid verdictd address "verdictd"/],
    [['ENCLAVE_SECRETS=a/b/c', `ENCLAVE_VERDICTD_KEY=${PIN}`, 'ENCLAVE_VERDICTD=h:70000'], /Invalid verdictd address/],
    [[`ENCLAVE_VERDICTD_KEY=${PIN}`], /ENCLAVE_SECRETS .* names no secret/],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => readEnclaveConfig({ process: { env: [...SIM, ...env] } }), (err: unknown) => isInclavareError(err, 'RUNE_ERR_ENCLAVE_CONFIG') && message.test(err.message), env.join(' '));
  }
  assert.throws(
    () => readEnclaveConfig({ process: { env: ['ENCLAVE_TYPE=intelSgx', 'ENCLAVE_RUNTIME_PATH=/x/liberpal.so', 'ENCLAVE_SECRETS=a/b/c', `ENCLAVE_VERDICTD_KEY=${PIN}`] } }),
    /Cannot deliver secrets .* to enclave type intelSgx/,
  );
});

test('the measurement covers the resources and the pinned key, not the address; without secrets it is what it was', () => {
  const base: MeasurementInput = {
    type: 'sim', runtime: 'sim', runtimeDigest: '', runtimeArgs: '', entrypoint: '/bin/sh', entrypointDigest: 'ab',
    args: ['sh'], env: [], cwd: '/', rootfs: 'cd', excluded: [],
  };
  assert.doesNotMatch(canonicalDescription(base), /secrets/);
  const measured = (env: string[]): string => {
    const config = readEnclaveConfig({ process: { env: [...SIM, ...env] } })!;
    return computeMeasurement({ ...base, ...(config.secrets ? { secrets: config.secrets } : {}) });
  };
  const with1 = measured(['ENCLAVE_SECRETS=a/b/c', `ENCLAVE_VERDICTD_KEY=${PIN}`]);
  assert.equal(measured([]), computeMeasurement(base));
  assert.notEqual(with1, computeMeasurement(base));
  assert.match(canonicalDescription({ ...base, secrets: { resources: ['a/b/c'], verdictdKey: PIN } }), /,"secrets":\{"resources":\["a\/b\/c"\],"verdictdKey":"sha256:ab/);
  assert.equal(measured(['ENCLAVE_SECRETS=a/b/c', `ENCLAVE_VERDICTD_KEY=${PIN}`, 'ENCLAVE_VERDICTD=10.0.0.1:9']), with1, 'the address is not measured');
  assert.notEqual(measured(['ENCLAVE_SECRETS=a/b/c', `ENCLAVE_VERDICTD_KEY=sha256:${'cd'.repeat(32)}`]), with1, 'another pinned key');
  assert.notEqual(measured(['ENCLAVE_SECRETS=a/b/c,a/b/d', `ENCLAVE_VERDICTD_KEY=${PIN}`]), with1, 'another resource');
});

test('withSecretsMount() puts the tmpfs after /run and before mounts below /run/secrets, owned by the process user', () => {
  const m = (destination: string): { destination: string } => ({ destination });
  const dests = (mounts: unknown[]): string[] => mounts.map((x) => (x as { destination: string }).destination);
  assert.deepEqual(dests(withSecretsMount([m('/proc'), m('/run'), m('/etc/hosts')], { uid: 0, gid: 0 })), ['/proc', '/run', '/run/secrets', '/etc/hosts']);
  assert.deepEqual(
    dests(withSecretsMount([m('/proc'), m('/var/run/secrets/kubernetes.io/serviceaccount'), m('/dev')], { uid: 0, gid: 0 })),
    ['/proc', '/run/secrets', '/var/run/secrets/kubernetes.io/serviceaccount', '/dev'],
  );
  assert.deepEqual(dests(withSecretsMount([m('/proc')], { uid: 0, gid: 0 })), ['/proc', '/run/secrets']);
  const [mount] = withSecretsMount([], { uid: 1000, gid: 100 }) as { type: string; options: string[] }[];
  assert.equal(mount!.type, 'tmpfs');
  assert.deepEqual(mount!.options.filter((o) => /^(mode|uid|gid)=/.test(o)), ['mode=700', 'uid=1000', 'gid=100']);
  for (const taken of ['/run/secrets', '/var/run/secrets/', '/run/secrets/.']) {
    assert.throws(() => withSecretsMount([m(taken)], { uid: 0, gid: 0 }), /already mounts \/run\/secrets/, taken);
  }
});
