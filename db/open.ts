import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, rmSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { formatBytes } from '../contracts/bounded-read.ts';
import { LATEST_SCHEMA_VERSION, migrations, type Migration } from './migrations.ts';
import {
  createPrivateFile,
  ensurePrivateMode,
  fsyncDir,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  temporaryNameFor,
} from './private-files.ts';

export type { Db };

/** The database was written by a newer Perso Station than this one. Nothing was changed. */
export class DatabaseTooNewError extends Error {
  constructor(
    readonly file: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `${file} has schema version ${found}, but this Perso Station only knows versions up to ` +
        `${supported}: it was written by a newer version. Install that version (or newer); ` +
        `the database was left unchanged.`,
    );
    this.name = 'DatabaseTooNewError';
  }
}

/** The disk holding the database is full: say so, rather than SQLite's `disk I/O error`. */
export class DiskFullError extends Error {
  constructor(
    readonly file: string,
    readonly free: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `the disk holding ${file} is full${free === undefined ? '' : ` (${formatBytes(free)} free)`}: ` +
        `free some space on it, then run the command again`,
      options,
    );
    this.name = 'DiskFullError';
  }
}

/** Below this much free space, an I/O error while using the database is taken as a full disk. */
const NEARLY_FULL_BYTES = 1024 * 1024;

/** Bytes free to this user on the file system holding `file`, if it can be asked. */
function freeBytes(file: string): number | undefined {
  try {
    const s = statfsSync(dirname(file));
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/**
 * Says what a storage error means. SQLITE_FULL and ENOSPC are a full disk. SQLite reports
 * other failed writes as SQLITE_IOERR_* (`disk I/O error`): even a read-only command writes
 * the WAL index (`-shm`) on open, and on a full disk that fails as SQLITE_IOERR_SHMSIZE. Such an
 * error on a disk with less than 1 MiB free is a full disk too. Anything else is returned as is.
 */
export function explainStorageError(e: unknown, file: string): unknown {
  if (e instanceof DiskFullError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return e;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC')
    return new DiskFullError(file, freeBytes(file), { cause: e });
  if (code.startsWith('SQLITE_IOERR')) {
    const free = freeBytes(file);
    if (free !== undefined && free < NEARLY_FULL_BYTES)
      return new DiskFullError(file, free, { cause: e });
  }
  return e;
}

/** The station database's file name inside a data directory. */
export const STATION_DB_FILE = 'station.sqlite';

export function stationDbPath(dataDir: string): string {
  return join(dataDir, STATION_DB_FILE);
}

export interface OpenOptions {
  /** Apply pending migrations (default true). With false, an old schema is left as it is. */
  migrate?: boolean;
  readonly?: boolean;
  /** For tests: a different migration list. */
  migrations?: readonly Migration[];
}

/** Checks that a migration list is numbered 1..n in order. */
export function checkMigrationOrder(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migration #${i} has version ${m.version}; expected ${i + 1}`);
  });
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Opens (creating if needed) a station database: WAL, synchronous=FULL, foreign keys on,
 * pending migrations applied each in its own transaction together with its version bump.
 * Refuses a database whose schema is newer than this code knows. Every transaction made on
 * the handle is immediate (see immediateTransactions).
 */
export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  try {
    return openDatabaseUnexplained(file, opts);
  } catch (e) {
    throw explainStorageError(e, file);
  }
}

function openDatabaseUnexplained(file: string, opts: OpenOptions): Db {
  const list = opts.migrations ?? migrations;
  checkMigrationOrder(list);
  const onDisk = file !== ':memory:' && file !== '';
  if (onDisk) {
    if (!opts.readonly) {
      mkdirSync(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
      // 0600 before SQLite opens it: SQLite gives the WAL and SHM files the database's mode.
      createPrivateFile(file);
    }
    protectDatabaseFiles(file);
  }
  const db = new Database(file, {
    readonly: opts.readonly ?? false,
    fileMustExist: opts.readonly === true,
  });
  immediateTransactions(db);
  try {
    const found = schemaVersion(db);
    if (found > list.length) throw new DatabaseTooNewError(file, found, list.length);
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    if (opts.migrate !== false && !opts.readonly) migrateDatabase(db, list);
    if (onDisk) protectDatabaseFiles(file);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * The database, its WAL and its shared-memory file hold the PIN hashes and the ledger: 0600,
 * tightened (and reported) when found looser, refused when another user owns them.
 */
function protectDatabaseFiles(file: string): void {
  ensurePrivateMode(file, PRIVATE_FILE_MODE, 'the station database');
  for (const suffix of ['-wal', '-shm', '-journal'])
    ensurePrivateMode(file + suffix, PRIVATE_FILE_MODE, 'the station database');
}

/** Applies pending migrations; returns the versions applied. */
export function migrateDatabase(db: Db, list: readonly Migration[] = migrations): number[] {
  checkMigrationOrder(list);
  const applied: number[] = [];
  for (const m of list) {
    // Applied already: no transaction, so a reader opening the database beside a writer never
    // waits for the write lock.
    if (schemaVersion(db) >= m.version) continue;
    db.transaction(() => {
      // Re-read inside the transaction: another process may have migrated meanwhile.
      const current = schemaVersion(db);
      if (current > list.length) throw new DatabaseTooNewError(db.name, current, list.length);
      if (current >= m.version) return;
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
      applied.push(m.version);
    }).immediate();
  }
  return applied;
}

/**
 * Makes every transaction of this handle take the write lock at BEGIN (BEGIN IMMEDIATE),
 * whichever variant is called (`db.transaction(fn)()`, `.deferred()`, `.default()`).
 *
 * Why: a deferred transaction reads first and asks for the write lock at its first write. In
 * WAL mode, if another connection committed in between, that upgrade fails at once with
 * SQLITE_BUSY ("database is locked") and the busy timeout does not help, because the
 * transaction's snapshot is stale. Taking the lock at BEGIN makes the second writer wait its
 * busy timeout instead. Reads that need one consistent snapshot use readSnapshot().
 */
export function immediateTransactions(db: Db): void {
  const make = db.transaction.bind(db);
  const transaction = <F extends (...args: never[]) => unknown>(fn: F) => {
    const made = make(fn as unknown as Parameters<Db['transaction']>[0]);
    const immediate = function (this: unknown, ...args: unknown[]): unknown {
      return (made.immediate as (...a: unknown[]) => unknown).apply(this, args);
    };
    Object.defineProperties(immediate, {
      default: { value: immediate },
      deferred: { value: immediate },
      immediate: { value: immediate },
      exclusive: { value: made.exclusive },
      database: { value: db, enumerable: true },
    });
    return immediate;
  };
  db.transaction = transaction as Db['transaction'];
}

/**
 * Runs fn in a transaction committed without an fsync of its own (`synchronous = NORMAL` for
 * this one commit; the connection is back to FULL after it). In WAL mode the commit is in the
 * operating system's hands at once, so it survives a crash or SIGKILL of this process; it
 * reaches the disk with the next ordinary commit, whose fsync of the WAL carries every frame
 * before it. Only a power cut or an operating-system crash before then can lose it. For
 * journal entries that no decision depends on across a power cut (docs/personalization.md,
 * "What the journal forces to disk"). Inside a transaction already open, fn joins it and its
 * durability.
 */
export function commitWithoutSync<T>(db: Db, fn: () => T): T {
  if (db.inTransaction) return fn();
  // A job commits dozens of entries this way. db.pragma() makes a statement object each time;
  // the level is read with one statement made once per handle, and set with exec() (SQLite
  // applies a pragma as it compiles it, so it is compiled each time it is to apply).
  const s = unsyncedCommits(db);
  const was = Number(s.level.get());
  db.exec('PRAGMA synchronous = NORMAL');
  try {
    return s.transaction(fn) as T;
  } finally {
    db.exec(`PRAGMA synchronous = ${was}`);
  }
}

interface UnsyncedCommit {
  /** The connection's `synchronous` (the table-valued form: read when run). */
  level: Statement;
  transaction: (fn: () => unknown) => unknown;
}
const unsyncedCommitsOf = new WeakMap<Db, UnsyncedCommit>();

function unsyncedCommits(db: Db): UnsyncedCommit {
  let s = unsyncedCommitsOf.get(db);
  if (!s) {
    s = {
      level: db.prepare('SELECT synchronous FROM pragma_synchronous').pluck(),
      transaction: db.transaction((fn: () => unknown) => fn()),
    };
    unsyncedCommitsOf.set(db, s);
  }
  return s;
}

const statementsOf = new WeakMap<Db, Map<string, Statement>>();

/**
 * `sql` prepared once per database handle: for the statements a job runs every time (journal,
 * audit, ledger). Only for a fixed SQL text (never one with values spliced in) and only with
 * run(), get(), all() as prepared: pluck() or raw() would change it for every caller.
 */
export function preparedOnce(db: Db, sql: string): Statement {
  let byText = statementsOf.get(db);
  if (!byText) statementsOf.set(db, (byText = new Map()));
  let st = byText.get(sql);
  if (!st) byText.set(sql, (st = db.prepare(sql)));
  return st;
}

/**
 * Runs fn inside one read transaction (a consistent snapshot) that cannot write: the
 * connection is query-only meanwhile, so a write in fn fails instead of racing other writers.
 * Never takes the write lock, so it never waits for a writer in WAL mode. Inside a transaction
 * already open, fn runs in it.
 */
export function readSnapshot<T>(db: Db, fn: () => T): T {
  if (db.inTransaction) return fn();
  const wasQueryOnly = db.pragma('query_only', { simple: true }) === 1;
  db.pragma('query_only = ON');
  try {
    db.exec('BEGIN DEFERRED');
    try {
      const result = fn();
      db.exec('COMMIT');
      return result;
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
  } finally {
    if (!wasQueryOnly) db.pragma('query_only = OFF');
  }
}

/** Pending migrations of an open database (versions not yet applied). */
export function pendingMigrations(db: Db, list: readonly Migration[] = migrations): Migration[] {
  const v = schemaVersion(db);
  return list.filter((m) => m.version > v);
}

/**
 * A consistent online backup (SQLite's backup API through better-sqlite3), safe while the
 * station keeps writing. The copy is checked with `PRAGMA integrity_check` before returning.
 */
export async function backupDatabase(db: Db, destination: string): Promise<{ pages: number }> {
  mkdirSync(dirname(destination), { recursive: true, mode: PRIVATE_DIR_MODE });
  // Into a 0600 temporary file next to the destination, checked and fsynced, then linked to
  // its name (refused if that exists): the backup appears whole, private, or not at all.
  const tmp = temporaryNameFor(destination);
  try {
    createPrivateFile(tmp);
    const result = await db.backup(tmp);
    const copy = new Database(tmp, { readonly: true, fileMustExist: true });
    try {
      const check = copy.pragma('integrity_check', { simple: true });
      if (check !== 'ok')
        throw new Error(`backup ${destination} failed its integrity check: ${check}`);
    } finally {
      copy.close();
    }
    const fd = openSync(tmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, destination);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new Error(`${destination} exists already`);
      throw e;
    }
    fsyncDir(dirname(destination));
    return { pages: result.totalPages };
  } finally {
    for (const f of [tmp, `${tmp}-journal`, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
  }
}

export { LATEST_SCHEMA_VERSION };
