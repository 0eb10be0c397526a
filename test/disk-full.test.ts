/**
 * A full disk says so. The real case needs a small file system to fill: as root the test mounts
 * a 2 MiB tmpfs; otherwise that part is skipped and only the error mapping is checked, with
 * real SqliteError and ENOSPC errors.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskFullError, explainStorageError, stationDbPath } from '../db/open.ts';
import { createTestStation } from '../station/testing.ts';
import { runCli } from './helpers/cli.ts';

function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), 'mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
const root = canMount();

describe.skipIf(!root)('a station on a full disk (tmpfs, as root)', () => {
  let base: string;
  let dataDir: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'disk-full-'));
    dataDir = join(base, 'mnt');
    mkdirSync(dataDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dataDir]);
    const st = createTestStation();
    st.receive('B-FULL', 5);
    st.db.close();
    cpSync(st.dataDir, dataDir, { recursive: true });
    rmSync(st.dataDir, { recursive: true, force: true });
    // Fill the file system to the last block.
    const fd = openSync(join(dataDir, 'filler'), 'w');
    try {
      for (const block = Buffer.alloc(4096); ;) writeSync(fd, block);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
  });
  afterAll(() => {
    if (!base) return;
    try {
      execFileSync('umount', [dataDir]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('read-only commands say the disk is full, not "disk I/O error"', async () => {
    const expected = `station: the disk holding ${stationDbPath(dataDir)} is full (0 bytes free): free some space on it, then run the command again`;
    for (const args of [
      ['stock', 'list'],
      ['stock', 'show', 'PE0000001'],
      ['audit', 'verify'],
    ]) {
      const r = await runCli(['--data-dir', dataDir, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toBe(expected);
    }
  });
});

describe('explainStorageError', () => {
  const file = '/nonexistent/station.sqlite';

  it('maps SQLITE_FULL and ENOSPC to a full disk', () => {
    const full = new Database.SqliteError('database or disk is full', 'SQLITE_FULL');
    const mapped = explainStorageError(full, file);
    expect(mapped).toBeInstanceOf(DiskFullError);
    expect((mapped as Error).message).toBe(
      `the disk holding ${file} is full: free some space on it, then run the command again`,
    );
    expect((mapped as Error).cause).toBe(full);
    const dir = mkdtempSync(join(tmpdir(), 'enospc-'));
    try {
      const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), {
        code: 'ENOSPC',
      });
      writeFileSync(join(dir, 'x'), '');
      expect(explainStorageError(enospc, join(dir, 'station.sqlite'))).toBeInstanceOf(
        DiskFullError,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves an I/O error on a disk with room, and other errors, as they are', () => {
    const ioerr = new Database.SqliteError('disk I/O error', 'SQLITE_IOERR_SHMSIZE');
    expect(explainStorageError(ioerr, join(tmpdir(), 'station.sqlite'))).toBe(ioerr);
    const busy = new Database.SqliteError('database is locked', 'SQLITE_BUSY');
    expect(explainStorageError(busy, file)).toBe(busy);
    const plain = new Error('no');
    expect(explainStorageError(plain, file)).toBe(plain);
  });
});
