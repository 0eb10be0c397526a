/**
 * Two processes writing to one station database at the same time, each transaction reading
 * before it writes as station code does: every transaction commits (the second writer waits
 * for the first within the busy timeout), none fails with "database is locked".
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/open.ts';
import { repoRoot } from './helpers/station-process.ts';

const ROUNDS = 300;
let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'write-race-'));
  file = join(dir, 'race.sqlite');
  const db = openDatabase(file, { migrations: [] });
  db.exec(`CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
    INSERT INTO counter VALUES (1, 0);
    CREATE TABLE log (id INTEGER PRIMARY KEY, who TEXT NOT NULL, seen INTEGER NOT NULL);`);
  db.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writer(label: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'bin', 'run-ts.mjs'),
        'test/helpers/race-writer.ts',
        file,
        label,
        String(ROUNDS),
      ],
      { cwd: repoRoot },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('two processes writing at once', () => {
  it('commit every read-then-write transaction, none refused as locked', async () => {
    const results = await Promise.all([writer('a'), writer('b')]);
    expect(results).toEqual([
      { code: 0, stderr: '' },
      { code: 0, stderr: '' },
    ]);
    const db = openDatabase(file, { migrations: [] });
    // No lost update either: each transaction saw the value the previous one wrote.
    expect(db.prepare('SELECT n FROM counter').pluck().get()).toBe(2 * ROUNDS);
    expect(db.prepare('SELECT count(DISTINCT seen) FROM log').pluck().get()).toBe(2 * ROUNDS);
    db.close();
  });
});
