/**
 * rune's log: runc-compatible lines in the file given by `--log` (containerd shows the last `error` line of
 * log.json to users), in `--log-format json` (`{"level","msg","time"}`) or `text` (`time="…" level=… msg="…"`).
 * Errors also go to stderr as one line. Nothing secret is ever logged here: messages name paths and ids only.
 */
import { linuxSys } from '../sys/linux.ts';
import type { Sys } from '../sys/sys.ts';

/** Log levels rune writes. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/** Where and how to log, from the global flags. */
export interface LogOptions {
  path?: string | undefined;
  format: 'text' | 'json';
  debug: boolean;
  /** Where the lines go (default: this process's stderr and the real file system). */
  sys?: Pick<Sys, 'appendFile' | 'stderr'>;
}

/** Formats a time as runc does: RFC 3339 in UTC with second precision. */
export function logTime(now: Date = new Date()): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One log line in runc's format, without the newline. */
export function formatLogLine(level: LogLevel, msg: string, format: 'text' | 'json', now?: Date): string {
  const time = logTime(now);
  if (format === 'json') return JSON.stringify({ level, msg, time });
  return `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
}

/** A logger bound to the global flags of one rune call. */
export class RuneLog {
  readonly #options: LogOptions;
  readonly #sys: Pick<Sys, 'appendFile' | 'stderr'>;

  constructor(options: LogOptions) {
    this.#options = options;
    this.#sys = options.sys ?? linuxSys();
  }

  get options(): LogOptions {
    return this.#options;
  }

  /** Writes a line to the --log file (when given); debug lines only with --debug. */
  write(level: LogLevel, msg: string): void {
    if (level === 'debug' && !this.#options.debug) return;
    if (this.#options.path === undefined) {
      if (level === 'debug') this.#sys.stderr(`${formatLogLine(level, msg, 'text')}\n`);
      return;
    }
    try {
      this.#sys.appendFile(this.#options.path, `${formatLogLine(level, msg, this.#options.format)}\n`, { mode: 0o600 });
    } catch (err) {
      // The log is advisory: losing it must not turn a working call into a failed one.
      this.#sys.stderr(`rune: cannot write log file ${this.#options.path}: ${(err as Error).message}\n`);
    }
  }

  debug(msg: string): void {
    this.write('debug', msg);
  }

  /** Reports an error: one line on stderr and, with --log, one error line in the log file. */
  error(msg: string): void {
    this.write('error', msg);
    this.#sys.stderr(`rune: ${msg}\n`);
  }
}
