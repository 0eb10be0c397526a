/**
 * Every write transaction is immediate: a transaction takes the write lock at BEGIN, whichever
 * way it is called, so a second writer waits its busy timeout instead of failing with
 * "database is locked" when its snapshot went stale. Reads that need one snapshot use
 * readSnapshot, which never takes the write lock and cannot write; opening an up-to-date
 * database takes no write lock either, so read-only commands work beside a writer.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, readSnapshot, type Db } from './open.ts';

let dir: string;
let file: string;
let other: Db | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'transactions-'));
  file = join(dir, 'station.sqlite');
  const db = openDatabase(file);
  db.exec('CREATE TABLE t (v INTEGER)');
  db.close();
});

afterEach(() => {
  if (other?.open) {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A plain connection of another writer, that never waits for a lock. */
function otherWriter(): Db {
  other = new Database(file);
  other.pragma('busy_timeout = 0');
  return other;
}

describe('transactions of an opened station database', () => {
  it('hold the write lock from BEGIN, however they are called', () => {
    const db = openDatabase(file);
    const b = otherWriter();
    for (const variant of ['call', 'default', 'deferred', 'immediate'] as const) {
      let lockedOut = false;
      const t = db.transaction(() => {
        // Only a read so far: a deferred transaction would not hold the write lock yet.
        db.prepare('SELECT count(*) FROM t').get();
        try {
          b.exec('BEGIN IMMEDIATE');
          b.exec('ROLLBACK');
        } catch (e) {
          lockedOut = (e as { code?: string }).code === 'SQLITE_BUSY';
        }
      });
      if (variant === 'call') t();
      else t[variant]();
      expect({ variant, lockedOut }).toEqual({ variant, lockedOut: true });
    }
    db.close();
  });

  it('nest as savepoints and roll back together', () => {
    const db = openDatabase(file);
    expect(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO t VALUES (1)').run();
        db.transaction(() => db.prepare('INSERT INTO t VALUES (2)').run())();
        throw new Error('undo');
      })(),
    ).toThrow('undo');
    expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(0);
    db.close();
  });
});

describe('beside a writer holding the write lock', () => {
  it('a read snapshot reads at once and cannot write', () => {
    const db = openDatabase(file);
    db.prepare('INSERT INTO t VALUES (1)').run();
    const b = otherWriter();
    b.exec('BEGIN IMMEDIATE');
    b.prepare('INSERT INTO t VALUES (2)').run();
    db.pragma('busy_timeout = 0');
    expect(readSnapshot(db, () => db.prepare('SELECT count(*) FROM t').pluck().get())).toBe(1);
    expect(() => readSnapshot(db, () => db.prepare('INSERT INTO t VALUES (3)').run())).toThrow(
      /readonly/,
    );
    b.exec('COMMIT');
    // Writable again afterwards.
    db.prepare('INSERT INTO t VALUES (4)').run();
    expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(3);
    db.close();
  });

  it('opening the database (migrations applied already) does not wait for the lock', () => {
    const b = otherWriter();
    b.exec('BEGIN IMMEDIATE');
    b.prepare('INSERT INTO t VALUES (1)').run();
    const started = Date.now();
    const db = openDatabase(file);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(0);
    db.close();
    b.exec('COMMIT');
  });
});
