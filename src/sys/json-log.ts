/**
 * The daemons' log (inclavared, verdictd): one JSON object per line (`level`, `msg`, `time`, as runc's and
 * rune's JSON logs), to stderr or a file. Callers never pass key material, secrets or evidence bytes.
 */
import { appendFileSync } from 'node:fs';

/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/** Where a daemon's log lines go. */
export interface DaemonLog {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Formats one log line (without the newline). */
export function formatLogLine(level: LogLevel, msg: string, at: Date): string {
  return JSON.stringify({ level, msg, time: at.toISOString() });
}

/** A log that appends to `path` (mode 0600) or, without one, writes to stderr. Debug lines only with `debug`. */
export function createDaemonLog(options: { path?: string; debug?: boolean } = {}): DaemonLog {
  const write = (level: LogLevel, msg: string): void => {
    const line = `${formatLogLine(level, msg, new Date())}\n`;
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
export const silentLog: DaemonLog = { debug() {}, info() {}, warn() {}, error() {} };
