import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  backupDatabase,
  DatabaseTooNewError,
  LATEST_SCHEMA_VERSION,
  openDatabase,
  pendingMigrations,
  schemaVersion,
} from './open.ts';
import type { Migration } from './migrations.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'db-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('openDatabase', () => {
  it('creates the schema with WAL, synchronous FULL and foreign keys on', () => {
    const db = openDatabase(join(dir, 'station.sqlite'));
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(pendingMigrations(db)).toEqual([]);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type='table'").pluck().all();
    expect(tables).toEqual(
      expect.arrayContaining(['booklets', 'booklet_events', 'audit_log', 'outbox', 'users']),
    );
    db.close();
  });

  it('applies each migration in its own transaction and rolls a failing one back', () => {
    const file = join(dir, 'm.sqlite');
    const list: Migration[] = [
      { version: 1, name: 'a', up: (db) => db.exec('CREATE TABLE a (x)') },
      {
        version: 2,
        name: 'b',
        up: (db) => {
          db.exec('CREATE TABLE b (x)');
          throw new Error('boom');
        },
      },
    ];
    expect(() => openDatabase(file, { migrations: list })).toThrow('boom');
    const raw = new Database(file);
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    const names = raw.prepare("SELECT name FROM sqlite_master WHERE type='table'").pluck().all();
    expect(names).toEqual(['a']);
    raw.close();
  });

  it('refuses a database written by a newer version, leaving it unchanged', () => {
    const file = join(dir, 'new.sqlite');
    const raw = new Database(file);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 5}`);
    raw.close();
    expect(() => openDatabase(file)).toThrow(DatabaseTooNewError);
    expect(() => openDatabase(file)).toThrow(/newer version/);
    const again = new Database(file);
    expect(again.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION + 5);
    expect(again.prepare('SELECT count(*) FROM sqlite_master').pluck().get()).toBe(0);
    again.close();
  });

  it('refuses a migration list with a gap', () => {
    const list: Migration[] = [{ version: 2, name: 'x', up: () => {} }];
    expect(() => openDatabase(join(dir, 'g.sqlite'), { migrations: list })).toThrow(/expected 1/);
  });

  it('makes a consistent online backup while the database is open', async () => {
    const db = openDatabase(join(dir, 'station.sqlite'));
    db.prepare("INSERT INTO agencies (code, name, created_at) VALUES ('PER-X', 'x', 'now')").run();
    const target = join(dir, 'backup', 'copy.sqlite');
    await backupDatabase(db, target);
    db.close();
    const copy = openDatabase(target, { readonly: true });
    expect(copy.prepare('SELECT code FROM agencies').pluck().all()).toEqual(['PER-X']);
    copy.close();
  });
});
