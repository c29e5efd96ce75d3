/**
 * verdictd's log: the daemons' JSON-lines log (src/sys/json-log.ts). Callers never pass a key, a resource's
 * content, a decrypted blob or evidence bytes: kids, paths, codes and claims digests only (the audit log, in the
 * store, is the record of releases).
 */
export { createDaemonLog as createVerdictdLog, silentLog as silentVerdictdLog, type DaemonLog as VerdictdLog } from '../sys/json-log.ts';
