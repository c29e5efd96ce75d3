/**
 * Entry point of the unwrapping enclave's workload, bundled alone into dist/keyprovider-enclave.mjs (one file,
 * no chunks: the file is copied into the enclave's rootfs and is part of its measurement).
 */
import { enclaveMain } from './enclave-unwrap.ts';

process.exitCode = await enclaveMain(process.argv.slice(2));
