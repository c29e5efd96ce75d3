/**
 * The lock of a data directory, `<dataDir>/verdictd.pid`: one verdictd per data directory (the embedded store
 * assumes one writer; PostgreSQL replicas each have their own data directory), and `verdict store migrate`
 * takes it too, so neither runs while the other has the directory.
 */
import { join } from 'node:path';
import { acquirePidLock } from '../../sys/pid-lock.ts';
import { verdictdError } from '../codes.ts';

const LOCK_FILE = 'verdictd.pid';

/**
 * Takes `<dataDir>/verdictd.pid` (O_EXCL; a lock left by a dead process is replaced): the embedded store
 * assumes one writer. `action` names what is refused while a verdictd holds it. Returns the release function.
 */
export function lockDataDir(dataDir: string, action = 'start verdictd'): () => void {
  const file = join(dataDir, LOCK_FILE);
  return acquirePidLock(file, {
    program: 'verdictd',
    mode: 0o600,
    busy: (pid) =>
      verdictdError('VERDICTD_ERR_ALREADY_RUNNING', `Cannot ${action}: process ${pid} already owns ${dataDir} (${file}); one verdictd per data directory`, {
        details: { pid },
      }),
    failed: (cause) =>
      cause === undefined
        ? verdictdError('VERDICTD_ERR_ALREADY_RUNNING', `Cannot ${action}: cannot take ${file}`)
        : verdictdError('VERDICTD_ERR_STORE_IO', `Cannot lock the data directory: cannot create ${file}: ${(cause as Error).message}`, { cause }),
  });
}
