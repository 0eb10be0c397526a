import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireStationLock, heldLockOfDatabase, heldStationLock } from './station-lock.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'station-lock-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the data-directory lock within one process', () => {
  it('is shared by the process: the same session until every share is released', () => {
    const a = acquireStationLock(dir, { command: 'station start' });
    expect(a.holder).toMatchObject({ pid: process.pid, command: 'station start' });
    const b = acquireStationLock(dir, { command: 'station intake' });
    expect(b.holder.session).toBe(a.holder.session);
    expect(heldLockOfDatabase(join(dir, 'station.sqlite'))?.session).toBe(a.holder.session);
    a.release();
    a.release();
    expect(a.held).toBe(false);
    expect(b.held).toBe(true);
    expect(heldStationLock(dir)?.session).toBe(a.holder.session);
    b.release();
    expect(heldStationLock(dir)).toBeUndefined();
    // A new hold is a new session: the old one's jobs are a finished process's.
    const c = acquireStationLock(dir, { command: 'station recover' });
    expect(c.holder.session).not.toBe(a.holder.session);
    c.release();
  });

  it('an in-memory database has no data directory to hold', () => {
    expect(heldLockOfDatabase(':memory:')).toBeUndefined();
  });
});
