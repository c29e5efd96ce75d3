/**
 * /proc/self/mountinfo (proc(5)): one line per mount,
 *   ID PARENT MAJOR:MINOR ROOT MOUNT-POINT MOUNT-OPTIONS [OPTIONAL-FIELDS...] - FSTYPE SOURCE SUPER-OPTIONS
 * with space, tab, newline and backslash in paths escaped as \ooo (octal). Pure parser: a line that does not
 * have this form is skipped, never guessed at.
 */

/** One mount. */
export interface MountInfo {
  major: number;
  minor: number;
  /** The mount point, unescaped. */
  mountPoint: string;
  fsType: string;
  /** The super block's options, unescaped, split at commas (key or key=value). */
  superOptions: string[];
}

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parses the text of a mountinfo file. */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 4) continue;
    const dev = /^(\d+):(\d+)$/.exec(fields[2]!);
    if (dev === null || !fields[4]!.startsWith('/')) continue;
    out.push({
      major: Number(dev[1]),
      minor: Number(dev[2]),
      mountPoint: unescape(fields[4]!),
      fsType: fields[dash + 1]!,
      // Overlay's lowerdir may hold escaped commas ("\,"); they stay in the value they belong to.
      superOptions: fields
        .slice(dash + 3)
        .join(' ')
        .split(/(?<!\\),/)
        .map(unescape),
    });
  }
  return out;
}

/** Linux's dev_t of a major:minor pair, as stat(2)'s st_dev carries it (glibc's makedev). */
export function makeDevice(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}
