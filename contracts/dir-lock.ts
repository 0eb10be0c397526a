/**
 * One process owns a data directory at a time (a station's, station/station-lock.ts, or a
 * central office's, central/start.ts).
 *
 * The lock is a small SQLite file (e.g. `station.lock`) in the data directory, kept in rollback-
 * journal mode. The holder keeps a write transaction open on it (BEGIN IMMEDIATE: SQLite's
 * RESERVED lock, an operating-system byte-range lock) for the life of the process. The
 * operating system drops that lock when the process ends, however it ends (SIGKILL, a crash,
 * a power cut), so a dead holder never leaves the directory locked. Other processes may still
 * read the file: that is how a refused process names the holder, from the row the holder wrote
 * just before taking the lock for good.
 *
 * Never open a lock file in this process other than through this module: POSIX locks belong
 * to the process, and closing any descriptor of the file would drop them.
 */
import Database from 'better-sqlite3';
import type { Database as SqliteDb } from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { closeSync, fchmodSync, mkdirSync, openSync, realpathSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';

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

/** Who holds a data directory, as a refusal names it. */
export function holderText(holder: LockHolder | undefined): string {
  return holder
    ? `"${holder.command}" (process ${holder.pid} on ${holder.host}, user ${holder.user}, since ${holder.startedAt})`
    : 'it has not said who it is yet';
}

/** A held data-directory lock (one share of this process's hold on it). */
export interface DirLock {
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

/** The lock files this process holds, by resolved path. */
const holds = new Map<string, Hold>();

function share(dir: string, key: string, hold: Hold): DirLock {
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
      holds.delete(key);
      try {
        if (hold.db.inTransaction) hold.db.exec('ROLLBACK');
      } finally {
        hold.db.close();
      }
    },
  };
}

const canonical = (dir: string): string => realpathSync(resolve(dir));

/**
 * Creates the lock file 0600 if it is not there (the holder row names the user, host and
 * command), whatever the umask; as db/private-files.ts, which this shared leaf cannot import.
 */
function createPrivate(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw e;
  }
  try {
    if (process.platform !== 'win32') fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

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
 * Takes the data directory for this process by its lock file `file`, or throws what `refused`
 * makes of the holder. Never waits: a second process is refused at once.
 */
export function acquireDirLock(
  dataDir: string,
  opts: {
    file: string;
    command: string;
    refused: (dir: string, holder: LockHolder | undefined) => Error;
  },
): DirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const dir = canonical(dataDir);
  const file = join(dir, opts.file);
  const mine = holds.get(file);
  if (mine) return share(dir, file, mine);
  // 0600 before SQLite opens it (its rollback journal takes the same mode): the holder row names
  // the user, host and command.
  createPrivate(file);
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
    throw opts.refused(dir, holder);
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
    holds.set(file, hold);
    return share(dir, file, hold);
  } catch (e) {
    if (db.open) {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
    throw e;
  }
}

/** Who holds a data directory by its lock file `file` if this process does, else undefined. */
export function heldDirLock(dataDir: string, file: string): LockHolder | undefined {
  let dir: string;
  try {
    dir = canonical(dataDir);
  } catch {
    return undefined;
  }
  return holds.get(join(dir, file))?.holder;
}
