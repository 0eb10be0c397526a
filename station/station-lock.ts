/**
 * One station process owns a data directory at a time.
 *
 * The lock is a small SQLite file (`station.lock`) in the data directory, kept in rollback-
 * journal mode. The holder keeps a write transaction open on it (BEGIN IMMEDIATE: SQLite's
 * RESERVED lock, an operating-system byte-range lock) for the life of the process. The
 * operating system drops that lock when the process ends, however it ends (SIGKILL, a crash,
 * a power cut), so a dead holder never leaves the directory locked. Other processes may still
 * read the file: that is how a refused process names the holder, from the row the holder wrote
 * just before taking the lock for good.
 *
 * Never open `station.lock` in this process other than through this module: POSIX locks belong
 * to the process, and closing any descriptor of the file would drop them.
 */
import Database from 'better-sqlite3';
import type { Database as SqliteDb } from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync, realpathSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createPrivateFile } from '../db/private-files.ts';
import { StationError } from './errors.ts';

/** The lock file's name inside a data directory. */
export const STATION_LOCK_FILE = 'station.lock';

/** Who holds (or last held) a data directory. */
export interface LockHolder {
  /** Unique per acquisition; intake jobs record it as their owner. */
  session: string;
  pid: number;
  host: string;
  user: string;
  /** What the holder runs, e.g. "station intake". */
  command: string;
  startedAt: string;
}

/** Another process holds the data directory. */
export class StationLockedError extends StationError {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(
      `the data directory ${dataDir} is in use by another station process: ` +
        (holder
          ? `"${holder.command}" (process ${holder.pid} on ${holder.host}, user ${holder.user}, since ${holder.startedAt})`
          : 'it has not said who it is yet') +
        '. Only one station process may work on a data directory at a time: wait for it to ' +
        'finish or stop it, then try again. Read-only commands (reports, audit verify, stock ' +
        'show and list) work beside it.',
      'station_locked',
    );
    this.name = 'StationLockedError';
  }
}

/** A held data-directory lock (one share of this process's hold on it). */
export interface StationLock {
  /** The data directory, resolved (symbolic links followed). */
  readonly dataDir: string;
  readonly holder: LockHolder;
  /** False once released. */
  readonly held: boolean;
  /** Gives this share up; the directory is free once every share is (or the process ends). */
  release(): void;
}

/**
 * This process's hold on a data directory. The lock belongs to the process: taking it again
 * in the same process (a command run in-process by a test, or by the desktop app beside its
 * own console) adds a share with the same session instead of refusing the process itself.
 */
interface Hold {
  db: SqliteDb;
  holder: LockHolder;
  shares: number;
}

/** The data directories this process holds, by resolved path. */
const holds = new Map<string, Hold>();

function share(dir: string, hold: Hold): StationLock {
  hold.shares++;
  let held = true;
  return {
    dataDir: dir,
    holder: hold.holder,
    get held() {
      return held;
    },
    release: () => {
      if (!held) return;
      held = false;
      if (--hold.shares > 0) return;
      holds.delete(dir);
      try {
        if (hold.db.inTransaction) hold.db.exec('ROLLBACK');
      } finally {
        hold.db.close();
      }
    },
  };
}

const canonical = (dir: string): string => realpathSync(resolve(dir));

const SQLITE_BUSY = /^SQLITE_BUSY/;
const isBusy = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && SQLITE_BUSY.test(String((e as { code?: unknown }).code));

interface HolderRow {
  session: string;
  pid: number;
  host: string;
  user: string;
  command: string;
  started_at: string;
}

function readHolder(db: SqliteDb): LockHolder | undefined {
  try {
    const r = db.prepare('SELECT * FROM holder WHERE id = 1').get() as HolderRow | undefined;
    return r
      ? {
          session: r.session,
          pid: r.pid,
          host: r.host,
          user: r.user,
          command: r.command,
          startedAt: r.started_at,
        }
      : undefined;
  } catch {
    // No holder row yet (a holder that has not written it), or the file is being recovered.
    return undefined;
  }
}

/** Whether process `pid` of this host exists (one of another user's counts: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** False only for a holder on this host whose process is gone. */
function mayBeAlive(h: LockHolder): boolean {
  return h.host !== hostname() || processAlive(h.pid);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}

/**
 * Takes the data directory for this process, or throws StationLockedError naming the holder.
 * Never waits: a second station process is refused at once. Take it before opening any device
 * or the station database for writing.
 */
export function acquireStationLock(dataDir: string, opts: { command: string }): StationLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const dir = canonical(dataDir);
  const mine = holds.get(dir);
  if (mine) return share(dir, mine);
  const file = join(dir, STATION_LOCK_FILE);
  // 0600 before SQLite opens it (its rollback journal takes the same mode): the holder row names
  // the user, host and command.
  createPrivateFile(file);
  const db = new Database(file);
  const refuse = (): never => {
    db.pragma('busy_timeout = 1000');
    // A holder that has just taken the lock writes its row a moment later; until then the row
    // may still name the previous holder, gone since. Wait a little for the live one.
    let holder = readHolder(db);
    for (let i = 0; i < 20 && !(holder && mayBeAlive(holder)); i++) {
      sleepSync(50);
      holder = readHolder(db);
    }
    db.close();
    throw new StationLockedError(dir, holder);
  };
  const tryBegin = (): boolean => {
    db.pragma('busy_timeout = 0');
    try {
      db.exec('BEGIN IMMEDIATE');
      return true;
    } catch (e) {
      if (isBusy(e)) return false;
      throw e;
    }
  };
  try {
    // The lock file never uses WAL: its locks must be the file's own byte-range locks.
    db.pragma('busy_timeout = 1000');
    db.pragma('journal_mode = DELETE');
    if (!tryBegin()) refuse();
    const holder: LockHolder = {
      session: randomUUID(),
      pid: process.pid,
      host: hostname(),
      user: currentUser(),
      command: opts.command,
      startedAt: new Date().toISOString(),
    };
    db.exec(`CREATE TABLE IF NOT EXISTS holder (
      id INTEGER PRIMARY KEY CHECK (id = 1), session TEXT NOT NULL, pid INTEGER NOT NULL,
      host TEXT NOT NULL, user TEXT NOT NULL, command TEXT NOT NULL, started_at TEXT NOT NULL)`);
    db.prepare(
      `INSERT OR REPLACE INTO holder (id, session, pid, host, user, command, started_at)
       VALUES (1, ?, ?, ?, ?, ?, ?)`,
    ).run(holder.session, holder.pid, holder.host, holder.user, holder.command, holder.startedAt);
    // Committing makes the holder readable to the processes it refuses; readers may delay the
    // commit briefly (busy timeout).
    db.pragma('busy_timeout = 1000');
    db.exec('COMMIT');
    // Between COMMIT and this BEGIN another process may take the lock: then it is the holder,
    // and this process is refused like any other.
    if (!tryBegin()) refuse();
    const hold: Hold = { db, holder, shares: 0 };
    holds.set(dir, hold);
    return share(dir, hold);
  } catch (e) {
    if (db.open) {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
    throw e;
  }
}

/** Who holds a data directory if this process does (its session), else undefined. */
export function heldStationLock(dataDir: string): LockHolder | undefined {
  let dir: string;
  try {
    dir = canonical(dataDir);
  } catch {
    return undefined;
  }
  return holds.get(dir)?.holder;
}

/**
 * This process's hold on the data directory of a station database file, if any (undefined
 * for an in-memory database, which no other process can open).
 */
export function heldLockOfDatabase(dbFile: string): LockHolder | undefined {
  if (!isFileDatabase(dbFile)) return undefined;
  return heldStationLock(dirname(dbFile));
}

/** True if the database lives in a file another process could open (not `:memory:`). */
export function isFileDatabase(dbFile: string): boolean {
  return dbFile !== '' && dbFile !== ':memory:';
}
