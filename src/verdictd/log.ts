/**
 * verdictd's log: one JSON object per line (`level`, `msg`, `time`, as inclavared's), to stderr or a file.
 * Callers never pass a key, a resource's content, a decrypted blob or evidence bytes: kids, paths, codes and
 * claims digests only (the audit log, in the store, is the record of releases).
 */
import { appendFileSync } from 'node:fs';

/** Where the daemon's log lines go. */
export interface VerdictdLog {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** A log that writes to `path` (appending, 0600) or, without one, to stderr. Debug lines only with `debug`. */
export function createVerdictdLog(options: { path?: string; debug?: boolean } = {}): VerdictdLog {
  const write = (level: string, msg: string): void => {
    const line = `${JSON.stringify({ level, msg, time: new Date().toISOString() })}\n`;
    try {
      if (options.path !== undefined) appendFileSync(options.path, line, { mode: 0o600 });
      else process.stderr.write(line);
    } catch {
      // logging must never take the daemon down
    }
  };
  return {
    debug: (msg) => {
      if (options.debug === true) write('debug', msg);
    },
    info: (msg) => write('info', msg),
    warn: (msg) => write('warning', msg),
    error: (msg) => write('error', msg),
  };
}

/** A log that drops everything (tests). */
export const silentVerdictdLog: VerdictdLog = { debug() {}, info() {}, warn() {}, error() {} };
