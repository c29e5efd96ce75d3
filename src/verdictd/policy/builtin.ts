/**
 * The policies verdictd ships (DESIGN.md "Attestation model"; Trustee ships allow_all, deny_all, default the
 * same way). They are policy documents like any other, kept here as their JSON text so the bundled daemon
 * needs no data files; `verdict policy get default` prints the same text, a starting point for your own.
 */

/** Allows any evidence that verified. For development only: it accepts debug and `sim` enclaves. */
export const ALLOW_ALL_POLICY = `{
  "name": "allow-all",
  "description": "Allows every enclave whose evidence verified (signatures, collateral, freshness). For development only: debug and sim enclaves pass.",
  "rules": [
    { "name": "allow", "expression": "true", "message": "always holds" }
  ]
}
`;

/** Denies everything: what a broker with no policy configured uses. */
export const DENY_ALL_POLICY = `{
  "name": "deny-all",
  "description": "Denies every request, whatever the evidence.",
  "rules": [
    { "name": "deny", "expression": "false", "message": "the deny-all policy releases nothing" }
  ]
}
`;

/**
 * Strict: no debug enclaves, an UpToDate TCB where the TEE reports one, \`sim\` evidence only from a platform
 * key of the reference set \`default\`, and the enclave's measurement in that set (by TEE: SGX mrenclave,
 * TDX mrtd, SNP and sim measurement). A missing set or field denies, naming it.
 */
export const DEFAULT_POLICY = `{
  "name": "default",
  "description": "Strict: no debug enclaves, TCB UpToDate, sim evidence only from a platform key in the reference set \\"default\\", and the measurement in that set.",
  "rules": [
    {
      "name": "reference-set",
      "expression": "has(reference.default)",
      "message": "the default policy reads the reference-value set \\"default\\"; set it (verdict reference set default FILE)"
    },
    {
      "name": "not-debug",
      "expression": "claims.debug == false",
      "message": "debug enclaves are refused: the host can read their memory"
    },
    {
      "name": "tcb-up-to-date",
      "expression": "claims.tcbStatus == null || claims.tcbStatus == 'UpToDate'",
      "message": "the platform's TCB status must be UpToDate"
    },
    {
      "name": "sim-platform-key",
      "expression": "claims.tee != 'sim' || claims.platform.platformKeyId in reference.default.platformKeyId",
      "message": "sim evidence is accepted only from a platform key listed in reference.default.platformKeyId"
    },
    {
      "name": "measurement",
      "expression": "claims.tee == 'sgx' ? claims.measurements.mrenclave in reference.default.mrenclave : claims.tee == 'tdx' ? claims.measurements.mrtd in reference.default.mrtd : claims.measurements.measurement in reference.default.measurement",
      "message": "the enclave's measurement must be listed in the reference set \\"default\\" (mrenclave for sgx, mrtd for tdx, measurement for snp and sim)"
    }
  ]
}
`;

/** The shipped policies by name. */
export const BUILTIN_POLICIES: Readonly<Record<'allow-all' | 'deny-all' | 'default', string>> = Object.freeze({
  'allow-all': ALLOW_ALL_POLICY,
  'deny-all': DENY_ALL_POLICY,
  default: DEFAULT_POLICY,
});
