/** inclavared's log: the daemons' JSON-lines log (src/sys/json-log.ts). Never logs key material or report data. */
export { createDaemonLog, formatLogLine, silentLog, type DaemonLog, type LogLevel } from '../sys/json-log.ts';
