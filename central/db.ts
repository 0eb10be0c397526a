/**
 * The central office's one database path: `pg` against PostgreSQL. With a DATABASE_URL it is
 * the server there; without one, an embedded PGlite in the data directory, served on a loopback
 * port over the Postgres wire protocol, so the same queries run on both.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { migrate } from './migrations.ts';

export interface CentralDb {
  pool: pg.Pool;
  /** 'postgres' (DATABASE_URL) or 'pglite' (embedded). */
  backend: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export async function openCentralDb(opts: {
  dataDir?: string;
  databaseUrl?: string;
}): Promise<CentralDb> {
  if (opts.databaseUrl) {
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: 10 });
    await migrateOrClose(pool, async () => pool.end());
    return { pool, backend: 'postgres', close: () => pool.end() };
  }
  let dir: string | undefined;
  if (opts.dataDir) {
    dir = join(opts.dataDir, 'pgdata');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  const lite = await PGlite.create(dir);
  const server = new PGLiteSocketServer({
    db: lite,
    host: '127.0.0.1',
    port: 0,
    maxConnections: 8,
  });
  await server.start();
  // pg reaches PGlite like any server; the queue in PGLiteSocketServer runs one query at a
  // time and keeps a transaction's statements together.
  const [host, port] = server.getServerConn().split(':');
  const pool = new pg.Pool({
    host,
    port: Number(port),
    user: 'postgres',
    database: 'postgres',
    max: 4,
  });
  const close = async () => {
    await pool.end();
    await server.stop();
    await lite.close();
  };
  await migrateOrClose(pool, close);
  return { pool, backend: 'pglite', close };
}

async function migrateOrClose(pool: pg.Pool, close: () => Promise<void>): Promise<void> {
  try {
    await migrate(pool);
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}

/** Runs `fn` in one transaction on one connection: committed if it returns, rolled back if it
 * throws. */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (c: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}
