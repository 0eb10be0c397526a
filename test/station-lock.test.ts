/**
 * One station process per data directory, with real processes: `station start` (the console,
 * on the simulator) holds the data directory; a second `station intake` or `station start` is
 * refused with a message naming the holder before it opens a device or starts a simulator;
 * every command that writes is refused the same way; read-only commands work beside it, also
 * while it writes; a holder killed with SIGKILL leaves nothing locked.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getStationIdentity, openStationDb } from '../station/identity.ts';
import { STATION_LOCK_FILE, acquireStationLock } from '../station/station-lock.ts';
import { dayOf } from '../station/time.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { DEV_ENV } from './intake-support.ts';
import { runCli } from './helpers/cli.ts';
import { lockedMessage, stationProcess, type StationProcess } from './helpers/station-process.ts';

const env = { ...DEV_ENV, STATION_PIN: DEV_PIN, STATION_NEW_PIN: '482913' };
let tmp: string;
let dataDir: string;
let today: string;
let holder: StationProcess | undefined;

beforeAll(async () => {
  Object.assign(process.env, env);
  tmp = mkdtempSync(join(tmpdir(), 'station-lock-'));
  dataDir = join(tmp, 'station');
  expect(
    (await runCli(['--data-dir', dataDir, 'dev', 'seed', '--scenario', 'foreign-loan'])).code,
  ).toBe(0);
  const db = openStationDb(dataDir);
  today = dayOf(new Date(), getStationIdentity(db).timeZone);
  db.close();
});

afterAll(async () => {
  if (holder && holder.child.exitCode === null) {
    holder.child.kill('SIGKILL');
    await holder.exited;
  }
  rmSync(tmp, { recursive: true, force: true });
});

/** `station start` on the simulator, waiting at its console. */
async function startHolder(): Promise<StationProcess> {
  const p = stationProcess(['--data-dir', dataDir, 'start', '--lang', 'en'], {
    env,
    killAfterMs: 120_000,
  });
  await p.waitFor(/type "help" for the commands/);
  return p;
}

describe('the lock file', () => {
  it('is private to the station user (0600), like the database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-mode-'));
    try {
      const lock = acquireStationLock(dir, { command: 'test' });
      try {
        expect(statSync(join(dir, STATION_LOCK_FILE)).mode & 0o777).toBe(0o600);
      } finally {
        lock.release();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a second station process on the same data directory', () => {
  it('is refused with a message naming the holder, before it opens a device', async () => {
    holder = await startHolder();
    const second = stationProcess(
      ['--data-dir', dataDir, 'intake', '--port', join(tmp, 'no-such-port'), '--user', 'operator'],
      { env, stdin: '' },
    );
    expect(await second.exited).toBe(1);
    expect(second.stderr).toMatch(lockedMessage(holder.pid));
    expect(second.stderr).toContain('"station start"');
    // It never reached the device: opening the missing port would have said so.
    expect(second.stderr).not.toContain('no-such-port');
    expect(second.stdout).toBe('');

    // A second console is refused before it starts a simulator or seeds anything.
    const console2 = stationProcess(['--data-dir', dataDir, 'start'], { env, stdin: '' });
    expect(await console2.exited).toBe(1);
    expect(console2.stderr).toMatch(lockedMessage(holder.pid));
    expect(console2.stdout).not.toMatch(/simulator|seeded/);
  });

  it('refuses every command that writes, and lets the read-only ones work beside it', async () => {
    const writers: string[][] = [
      ['users', 'add', 'ana', '--role', 'operator', '--user', 'admin'],
      [
        'stock',
        'mark',
        'voided',
        '--serials',
        'PA0100009',
        '--reason',
        'x',
        '--user',
        'supervisor',
      ],
      ['recover', '--user', 'supervisor'],
      ['db', 'migrate'],
      ['agency', 'add', '--code', 'PER-X', '--name', 'X', '--user', 'admin'],
      ['device', 'info', '--port', join(tmp, 'no-such-port')],
    ];
    for (const args of writers) {
      const r = await runCli(['--data-dir', dataDir, ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(lockedMessage(holder!.pid));
    }
    const readers: string[][] = [
      ['report', 'reconcile', '--date', today],
      ['audit', 'verify'],
      ['stock', 'show', 'PA0100001'],
      ['stock', 'list'],
      ['users', 'list'],
      ['agency', 'list'],
      ['info'],
      ['db', 'status'],
    ];
    // While the holder takes booklets through intake (writing all along).
    holder!.send('intake 6');
    const busy = holder!.waitFor(/(accepted|refused).*\n(.*\n){5}/);
    let rounds = 0;
    let done = false;
    void busy.then(() => (done = true));
    while (!done || rounds === 0) {
      for (const args of readers) {
        const r = await runCli(['--data-dir', dataDir, ...args]);
        expect({ args, code: r.code, err: r.stderr }).toEqual({ args, code: 0, err: '' });
      }
      rounds++;
    }
    await busy;
    expect(holder!.stderr).not.toMatch(/locked|error/i);
  });

  it('a holder killed with SIGKILL leaves the data directory free', async () => {
    const pid = holder!.pid;
    holder!.child.kill('SIGKILL');
    expect(await holder!.exited).toBeNull();
    expect(existsSync(join(dataDir, STATION_LOCK_FILE))).toBe(true);
    // The next process takes it at once, in this process and in another one.
    const lock = acquireStationLock(dataDir, { command: 'test' });
    expect(lock.holder.pid).toBe(process.pid);
    expect(lock.holder.session).not.toBe('');
    lock.release();
    const r = stationProcess(['--data-dir', dataDir, 'recover', '--user', 'supervisor'], {
      env,
      stdin: '',
    });
    expect(await r.exited).toBe(0);
    expect(r.stderr).not.toMatch(lockedMessage(pid));
    // And a new console starts.
    holder = await startHolder();
    holder.send('quit');
    expect(await holder.exited).toBe(0);
  });
});
