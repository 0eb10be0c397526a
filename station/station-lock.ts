/**
 * One station process owns a data directory at a time: the lock file `station.lock`, held as
 * contracts/dir-lock.ts holds any data directory (for the life of the process, dropped by the operating
 * system however the process ends).
 */
import { dirname } from 'node:path';
import {
  type DirLock,
  type LockHolder,
  acquireDirLock,
  heldDirLock,
  holderText,
} from '../contracts/dir-lock.ts';
import { StationError } from './errors.ts';

export { type LockHolder };

/** The lock file's name inside a data directory. */
export const STATION_LOCK_FILE = 'station.lock';

/** Another process holds the data directory. */
export class StationLockedError extends StationError {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(
      `the data directory ${dataDir} is in use by another station process: ` +
        holderText(holder) +
        '. Only one station process may work on a data directory at a time: wait for it to ' +
        'finish or stop it, then try again. Read-only commands (reports, audit verify, stock ' +
        'show and list) work beside it.',
      'station_locked',
    );
    this.name = 'StationLockedError';
  }
}

/** A held station data-directory lock (one share of this process's hold on it). */
export type StationLock = DirLock;

/**
 * Takes the data directory for this process, or throws StationLockedError naming the holder.
 * Never waits: a second station process is refused at once. Take it before opening any device
 * or the station database for writing.
 */
export function acquireStationLock(dataDir: string, opts: { command: string }): StationLock {
  return acquireDirLock(dataDir, {
    file: STATION_LOCK_FILE,
    command: opts.command,
    refused: (dir, holder) => new StationLockedError(dir, holder),
  });
}

/** Who holds a data directory if this process does (its session), else undefined. */
export function heldStationLock(dataDir: string): LockHolder | undefined {
  return heldDirLock(dataDir, STATION_LOCK_FILE);
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
