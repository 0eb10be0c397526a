/**
 * What the job journals force to disk (docs/personalization.md, "What the journal forces to
 * disk"): before the booklet is fed, moved, first written, printed on or ejected, every entry
 * journaled so far is on disk (the last commit before that command was a forced one, whose
 * fsync of the WAL carries every entry before it). Entries of steps that only read are
 * committed without their own fsync. Watched on a real job over the simulator and the serial
 * stack: each journal insert is recorded with the connection's `synchronous` setting at the
 * time, each command frame as it leaves for the wire.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from '../drivers/protocol.ts';
import { FrameType, type TraceEntry } from '../drivers/link.ts';
import { commitWithoutSync, openDatabase } from '../db/open.ts';
import { personalize, setPersoOrder } from '../station/personalization/job.ts';
import { seedPersoStation, startRig, type PersoStation } from './perso-support.ts';

let ps: PersoStation;
beforeAll(async () => {
  ps = await seedPersoStation();
});
afterAll(async () => {
  await ps?.close();
});

/** SQLite's `synchronous` values (FULL and EXTRA fsync the WAL at each commit). */
const SYNC_LEVELS: Record<string, number> = { OFF: 0, NORMAL: 1, FULL: 2, EXTRA: 3 };

type Event =
  | { kind: 'journal'; table: string; step: string; detail: string; forced: boolean }
  | { kind: 'command'; code: number; payload: Buffer };

/** The commands that move the booklet or mark it: FEED, MOVE_TO_ENCODER, PRINT, EJECT. */
const MOVING: ReadonlySet<number> = new Set([
  Command.FEED,
  Command.MOVE_TO_ENCODER,
  Command.PRINT_DATA_PAGE,
  Command.EJECT,
]);

/** Runs one job on `serial`, recording journal inserts and command frames in order. */
async function recordJob(serial: string): Promise<Event[]> {
  const db = ps.station.db;
  const rig = await startRig(ps, [ps.booklet(serial)]);
  const events: Event[] = [];
  db.function('journal_probe', (table: unknown, step: unknown, detail: unknown, level: unknown) => {
    events.push({
      kind: 'journal',
      table: String(table),
      step: String(step),
      detail: String(detail),
      forced: Number(level) >= SYNC_LEVELS.FULL!,
    });
    return null;
  });
  // The connection's `synchronous` as SQLite has it when the entry is inserted (the commit that
  // carries the entry runs at that level), however the code set it.
  for (const t of ['intake_journal', 'perso_journal'])
    db.exec(
      `CREATE TEMP TRIGGER probe_${t} AFTER INSERT ON main.${t}
       BEGIN SELECT journal_probe('${t}', NEW.step, NEW.detail,
         (SELECT synchronous FROM pragma_synchronous)); END`,
    );
  const onFrame = (e: TraceEntry): void => {
    if (e.dir === 'tx' && e.frame?.type === FrameType.COMMAND)
      events.push({ kind: 'command', code: e.frame.code, payload: e.frame.payload });
  };
  rig.dev.link.on('frame', onFrame);
  try {
    const o = await personalize(rig.opts());
    expect(o.outcome, JSON.stringify(o)).toBe('issued');
  } finally {
    rig.dev.link.off('frame', onFrame);
    for (const t of ['intake_journal', 'perso_journal']) db.exec(`DROP TRIGGER temp.probe_${t}`);
    await rig.close();
  }
  return events;
}

/**
 * Walks a job's events: an unforced entry stays off the disk until the next forced one. Returns
 * the commands checked, in order; fails on one that found entries not on disk.
 */
function checkForcedBeforeActing(events: Event[]): string[] {
  let waiting: string[] = [];
  let firstWriteSeen = false;
  let awaitingFirstWrite = false;
  const checked: string[] = [];
  for (const e of events) {
    if (e.kind === 'journal') {
      waiting = e.forced ? [] : [...waiting, `${e.table}:${e.step}`];
      const kind = (JSON.parse(e.detail) as { kind?: string }).kind;
      if (e.step === 'chip-step' && kind !== 'select-application' && !firstWriteSeen) {
        firstWriteSeen = true;
        awaitingFirstWrite = true;
      }
      continue;
    }
    // An APDU goes as TRANSCEIVE, or TRANSCEIVE_COLLECT to an encoder that collects 61xx itself.
    const apdu = e.code === Command.TRANSCEIVE || e.code === Command.TRANSCEIVE_COLLECT;
    const name =
      apdu && awaitingFirstWrite
        ? 'the first chip write'
        : MOVING.has(e.code)
          ? `command 0x${e.code.toString(16)}`
          : undefined;
    if (apdu) awaitingFirstWrite = false;
    if (!name) continue;
    checked.push(name);
    expect(waiting, `journal entries not on disk before ${name}`).toEqual([]);
  }
  return checked;
}

const hex = (code: number): string => `command 0x${code.toString(16)}`;

describe('the journal before the device acts', () => {
  it('forces every entry to disk before the booklet moves, is first written or printed on', async () => {
    const events = await recordJob('PA3000033');
    const checked = checkForcedBeforeActing(events);
    expect(checked.filter((c) => c === hex(Command.FEED))).toHaveLength(1);
    // Encode first (the default): the chip is written before the page is printed.
    expect(checked.indexOf('the first chip write')).toBeGreaterThan(-1);
    expect(checked.indexOf('the first chip write')).toBeLessThan(
      checked.indexOf(hex(Command.PRINT_DATA_PAGE)),
    );
    expect(checked).toContain(hex(Command.EJECT));

    // And the reading steps did go without their own fsync: most of a job's entries.
    const journal = events.filter((e) => e.kind === 'journal');
    const unforced = journal.filter((e) => !e.forced).map((e) => `${e.table}:${e.step}`);
    expect(unforced).toContain('intake_journal:read-chip-record');
    expect(unforced).toContain('perso_journal:border-result');
    expect(unforced.length).toBeGreaterThan(journal.length / 2);
  });

  it('also with a chip profile that prints first: the first chip write is forced after the print', async () => {
    const db = ps.station.db;
    const admin = ps.station.actor('admin');
    const profiles = db.prepare('SELECT agency_code, profile_id FROM chip_profiles').all() as {
      agency_code: string;
      profile_id: string;
    }[];
    for (const p of profiles) setPersoOrder(db, admin, p.agency_code, p.profile_id, 'print-first');
    try {
      const checked = checkForcedBeforeActing(await recordJob('PA3000034'));
      expect(checked.indexOf(hex(Command.PRINT_DATA_PAGE))).toBeGreaterThan(-1);
      expect(checked.indexOf(hex(Command.PRINT_DATA_PAGE))).toBeLessThan(
        checked.indexOf('the first chip write'),
      );
    } finally {
      for (const p of profiles)
        setPersoOrder(db, admin, p.agency_code, p.profile_id, 'encode-first');
    }
  });
});

describe('commitWithoutSync', () => {
  it('commits at NORMAL and puts back the level it found, from the first commit of a handle on', () => {
    const db = openDatabase(':memory:', { migrations: [] });
    const level = (): number =>
      db.prepare('SELECT synchronous FROM pragma_synchronous').pluck().get() as number;
    try {
      db.exec('CREATE TABLE probe (v INTEGER)');
      for (const start of [
        SYNC_LEVELS.FULL!,
        SYNC_LEVELS.FULL!,
        SYNC_LEVELS.EXTRA!,
        SYNC_LEVELS.FULL!,
      ]) {
        db.pragma(`synchronous = ${start}`);
        let inside: number | undefined;
        commitWithoutSync(db, () => {
          inside = level();
          db.prepare('INSERT INTO probe VALUES (?)').run(start);
        });
        expect(inside).toBe(SYNC_LEVELS.NORMAL);
        expect(level()).toBe(start);
      }
      expect(db.prepare('SELECT count(*) FROM probe').pluck().get()).toBe(4);
    } finally {
      db.close();
    }
  });

  it('commits, then puts the connection back to FULL, also when the work throws', () => {
    const db = ps.station.db;
    expect(db.pragma('synchronous', { simple: true })).toBe(SYNC_LEVELS.FULL);
    db.exec('CREATE TEMP TABLE probe (v TEXT)');
    let inside: unknown;
    commitWithoutSync(db, () => {
      inside = db.inTransaction;
      db.prepare('INSERT INTO temp.probe VALUES (?)').run('a');
    });
    expect(inside).toBe(true);
    expect(db.pragma('synchronous', { simple: true })).toBe(SYNC_LEVELS.FULL);
    expect(() =>
      commitWithoutSync(db, () => {
        db.prepare('INSERT INTO temp.probe VALUES (?)').run('b');
        throw new Error('half-way');
      }),
    ).toThrow('half-way');
    expect(db.pragma('synchronous', { simple: true })).toBe(SYNC_LEVELS.FULL);
    // Rolled back whole; inside an open transaction the work joins it (and its rollback).
    expect(() =>
      db.transaction(() => {
        commitWithoutSync(db, () => db.prepare('INSERT INTO temp.probe VALUES (?)').run('c'));
        throw new Error('outer');
      })(),
    ).toThrow('outer');
    expect(db.prepare('SELECT v FROM temp.probe').pluck().all()).toEqual(['a']);
    db.exec('DROP TABLE temp.probe');
  });
});
