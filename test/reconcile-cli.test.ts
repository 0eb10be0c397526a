/**
 * `station reconcile close`: the supervisor closes the day from the command line with the use
 * case the window's "Close the day" runs (station/day-close.ts). Only a supervisor, with a PIN; a
 * day that does not balance is refused with each discrepancy named and nothing written; the
 * close is one signed audit entry; closing again says so and writes nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit, verifyAudit } from '../station/audit.ts';
import { DAY_CLOSED_ACTION } from '../station/day-close.ts';
import { getStationIdentity, openStationDb } from '../station/identity.ts';
import { finishJob, journalStep, recordFacts, startJob } from '../station/intake/journal.ts';
import { acquireStationLock } from '../station/station-lock.ts';
import { listUsers } from '../station/users.ts';
import { dayOf } from '../station/time.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { runCli } from './helpers/cli.ts';
import { DEV_ENV } from './intake-support.ts';

let root: string;
let dataDir: string;
let today: string;
const saved = { ...process.env };
const cli = (...args: string[]) => runCli(['--data-dir', dataDir, ...args]);
const as = async (user: string, pin: string, ...args: string[]) => {
  process.env.STATION_PIN = pin;
  try {
    return await cli(...args, '--user', user);
  } finally {
    delete process.env.STATION_PIN;
  }
};
const closes = (): { actor: string | null; details: unknown }[] => {
  const db = openStationDb(dataDir);
  try {
    return listAudit(db, { limit: 500 })
      .filter((e) => e.action === DAY_CLOSED_ACTION)
      .map((e) => ({ actor: e.actor, details: e.details }));
  } finally {
    db.close();
  }
};

/** An intake job that took a booklet in and ended without a verdict (a crash mid-job). */
function unsettledJob(serial: string, status: 'interrupted' | 'refused'): void {
  const lock = acquireStationLock(dataDir, { command: 'reconcile test' });
  const db = openStationDb(dataDir);
  try {
    const operator = listUsers(db).find((u) => u.username === 'operator')!;
    const at = new Date();
    const id = startJob(db, {
      kind: 'production',
      stationId: getStationIdentity(db).stationId,
      actorId: operator.id,
      at,
    });
    journalStep(db, id, 'feed', at);
    journalStep(db, id, 'read-printed-serial', at);
    recordFacts(db, id, { printedSerial: serial });
    finishJob(db, id, status, at, status === 'refused' ? { reason: 'FOREIGN_AGENCY' } : {});
  } finally {
    db.close();
    lock.release();
  }
}

beforeAll(async () => {
  Object.assign(process.env, DEV_ENV);
  root = mkdtempSync(join(tmpdir(), 'reconcile-cli-'));
  dataDir = join(root, 'data');
  const seeded = await cli('dev', 'seed', '--scenario', 'foreign-loan');
  expect(seeded.code, seeded.stderr).toBe(0);
  const db = openStationDb(dataDir);
  today = dayOf(new Date(), getStationIdentity(db).timeZone);
  db.close();
}, 60_000);
afterAll(() => {
  for (const k of Object.keys(DEV_ENV))
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  rmSync(root, { recursive: true, force: true });
});

describe('station reconcile close', () => {
  it('needs a supervisor and a valid day, and names what is wrong', async () => {
    const noUser = await cli('reconcile', 'close');
    expect(noUser.code).toBe(1);
    expect(noUser.stderr).toBe('station: --user <name> is required to close the day');
    const operator = await as('operator', DEV_PIN, 'reconcile', 'close');
    expect(operator.code).toBe(1);
    expect(operator.stderr).toBe(
      'station: operator (operator) may not close the day: it needs the role supervisor',
    );
    const wrongPin = await as('supervisor', '000000', 'reconcile', 'close');
    expect(wrongPin.code).toBe(1);
    expect(wrongPin.stderr).toMatch(/unknown user or wrong PIN/);
    const badDate = await as('supervisor', DEV_PIN, 'reconcile', 'close', '--date', '2026-13');
    expect(badDate.stderr).toBe('station: --date must be a day as YYYY-MM-DD, not "2026-13"');
    const future = await as('supervisor', DEV_PIN, 'reconcile', 'close', '--date', '2999-01-01');
    expect(future.code).toBe(1);
    expect(future.stderr).toBe('station: 2999-01-01 has not come yet: close it on or after it');
    expect(closes()).toEqual([]);
  });

  it('refuses a day that does not balance, naming each discrepancy, and writes nothing', async () => {
    unsettledJob('PA0000001', 'interrupted');
    const r = await as('supervisor', DEV_PIN, 'reconcile', 'close');
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(
      /^discrepancy: PA0000001: intake job \d+ ended interrupted without a verdict/,
    );
    expect(r.err.at(-1)).toBe(
      `station: ${today} does not balance (1 discrepancies, 0 ledger mismatches): resolve them before closing the day`,
    );
    expect(closes()).toEqual([]);
    // A later verdict on the same booklet settles it.
    unsettledJob('PA0000001', 'refused');
  });

  it('closes a balanced day once, audited and signed; closing again writes nothing', async () => {
    const r = await as('supervisor', DEV_PIN, 'reconcile', 'close', '--json');
    expect(r.code, r.stderr).toBe(0);
    const closed = JSON.parse(r.stdout) as { date: string; by: string; at: string };
    expect(closed).toMatchObject({ date: today, by: 'supervisor', alreadyClosed: false });
    expect(closes()).toEqual([
      {
        actor: 'supervisor',
        details: expect.objectContaining({ date: today, closing: expect.any(Number) }),
      },
    ]);
    const again = await as('supervisor', DEV_PIN, 'reconcile', 'close', '--date', today);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(
      `${today} was already closed by supervisor at ${closed.at}: nothing written`,
    );
    expect(closes()).toHaveLength(1);
    const db = openStationDb(dataDir);
    try {
      expect(verifyAudit(db).ok).toBe(true);
    } finally {
      db.close();
    }
  });
});
