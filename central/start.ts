/**
 * Starts a central office: its data directory (0700) with the office key and admin token
 * (made at first start, 0600), the database (DATABASE_URL, else embedded PGlite in the data
 * directory), the HTTP app on a loopback port. The URL goes to `central-url` in the data
 * directory so the `central` command finds the running office.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { type LockHolder, acquireDirLock, heldDirLock, holderText } from '../contracts/dir-lock.ts';
import { buildApp, REDACTED_HEADERS } from './app.ts';
import { openCentralDb } from './db.ts';
import type { CentralOffice } from './office.ts';
import { loadAdminToken, loadCentralKey, prepareDataDir } from './secrets.ts';

export const URL_FILE = 'central-url';
/** The lock file a running office holds in its data directory (contracts/dir-lock.ts). */
export const CENTRAL_LOCK_FILE = 'central.lock';

/** Another office (another process, or this one) runs on the data directory. */
export class CentralLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(
      `the data directory ${dataDir} is in use by another central office: ` +
        holderText(holder) +
        '. One office at a time may use a data directory (its embedded database allows one ' +
        'process, and its address file names one office): stop it first, or use another ' +
        'directory with --data-dir.',
    );
    this.name = 'CentralLockedError';
  }
}

export interface RunningCentral {
  url: string;
  /** The central office's functions, in process (tests, benches). */
  adminApi: CentralOffice;
  adminToken: string;
  centralPublicKeyPem: string;
  backend: 'postgres' | 'pglite';
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startCentral(opts: {
  dataDir: string;
  port?: number;
  host?: string;
  databaseUrl?: string;
  now?: () => Date;
  logger?: FastifyServerOptions['logger'];
}): Promise<RunningCentral> {
  prepareDataDir(opts.dataDir);
  // Before anything in the directory is opened; held until close (or the process's end).
  const held = heldDirLock(opts.dataDir, CENTRAL_LOCK_FILE);
  if (held) throw new CentralLockedError(opts.dataDir, held);
  const lock = acquireDirLock(opts.dataDir, {
    file: CENTRAL_LOCK_FILE,
    command: `central start (port ${opts.port ?? 'any'})`,
    refused: (dir, holder) => new CentralLockedError(dir, holder),
  });
  let db: Awaited<ReturnType<typeof openCentralDb>>;
  let key: ReturnType<typeof loadCentralKey>;
  let adminToken: string;
  try {
    key = loadCentralKey(opts.dataDir);
    adminToken = loadAdminToken(opts.dataDir);
    db = await openCentralDb({ dataDir: opts.dataDir, databaseUrl: opts.databaseUrl });
  } catch (e) {
    lock.release();
    throw e;
  }
  let app: FastifyInstance;
  try {
    app = await buildApp({
      db,
      key,
      adminToken,
      now: opts.now,
      logger: opts.logger ?? false,
    });
    await app.listen({ port: opts.port ?? 0, host: opts.host ?? '127.0.0.1' });
  } catch (e) {
    await db.close();
    lock.release();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  writeFileSync(join(opts.dataDir, URL_FILE), url + '\n', { mode: 0o600 });
  let closed = false;
  return {
    url,
    adminApi: app.office,
    adminToken,
    centralPublicKeyPem: key.publicKeyPem,
    backend: db.backend,
    app,
    close: async () => {
      if (closed) return;
      closed = true;
      rmSync(join(opts.dataDir, URL_FILE), { force: true });
      try {
        await app.close();
        await db.close();
      } finally {
        lock.release();
      }
    },
  };
}

/** Logging for a running office: requests and refusals, never secrets. */
export const productionLogger: FastifyServerOptions['logger'] = {
  level: 'info',
  redact: { paths: REDACTED_HEADERS, censor: '[redacted]' },
};
