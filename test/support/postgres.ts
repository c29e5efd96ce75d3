/**
 * A real PostgreSQL for the tests of the PostgreSQL store: a fresh cluster (`initdb`) in a temp dir, listening
 * on 127.0.0.1 and a free port with its unix socket in that dir, trust authentication for the `verdictd` role
 * on loopback only, stopped (and the dir removed) by `stop()`. PostgreSQL refuses to run as root, so as root the
 * cluster belongs to the `postgres` system user that Debian's package creates (`runuser`). The binaries come
 * from Debian's `postgresql` package (scripts/setup.sh); {@link postgresSkipReason} says when they are missing.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** Where Debian 12's postgresql-15 puts initdb, pg_ctl and postgres. */
export const POSTGRES_BIN = process.env.INCLAVARE_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why the PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresSkipReason(): string | undefined {
  for (const tool of ['initdb', 'pg_ctl', 'postgres']) {
    if (!existsSync(join(POSTGRES_BIN, tool))) return `${join(POSTGRES_BIN, tool)} is missing: install Debian's postgresql package (scripts/setup.sh does)`;
  }
  if (process.getuid?.() === 0 && !existsSync('/usr/sbin/runuser')) return 'running as root needs runuser (util-linux) to start PostgreSQL as the postgres user';
  return undefined;
}

/** A running test cluster. */
export interface TestPostgres {
  /** `postgres://verdictd@127.0.0.1:PORT/postgres`: a database per test comes from {@link TestPostgres.createDatabase}. */
  url: string;
  port: number;
  /** Creates an empty database and resolves to its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown) and removes its directory. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL tool as the cluster's owner (the `postgres` user when we are root). */
function asOwner(tool: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const bin = join(POSTGRES_BIN, tool);
  return process.getuid?.() === 0 ? run('/usr/sbin/runuser', ['-u', 'postgres', '--', bin, ...args]) : run(bin, args);
}

/** initdb, then pg_ctl start on 127.0.0.1 and a free port; resolves once it accepts connections. */
export async function startPostgres(): Promise<TestPostgres> {
  const reason = postgresSkipReason();
  if (reason !== undefined) throw new Error(`Cannot start PostgreSQL: ${reason}`);
  const dir = mkdtempSync(join(tmpdir(), 'verdictd-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const port = await freePort();
  try {
    await asOwner('initdb', ['-D', data, '-U', 'verdictd', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    await asOwner('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', `-h 127.0.0.1 -p ${port} -k ${dir} -c max_connections=60`, 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Cannot start PostgreSQL in ${dir} (as ${process.getuid?.() === 0 ? 'postgres' : userInfo().username}): ${(err as Error).message}`, { cause: err });
  }
  const url = `postgres://verdictd@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    async createDatabase(name: string): Promise<string> {
      await asOwner('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'verdictd', name]);
      return `postgres://verdictd@127.0.0.1:${port}/${name}`;
    },
    async stop(): Promise<void> {
      await asOwner('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => asOwner('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
