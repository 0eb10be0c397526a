/**
 * The episode end to end: a station seeded for the `foreign-loan` scenario runs intake over the
 * simulator through the real serial stack (socat + serialport). Each booklet must be accepted or
 * refused with the expected reason, the reject tray must hold exactly the refused ones, the
 * events must be in the database, and the day's reconciliation must balance.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStationDb } from '../station/identity.ts';
import { lookupBooklet } from '../station/booklets.ts';
import { verifyAudit } from '../station/audit.ts';
import { pendingOutbox } from '../station/outbox.ts';
import { reconcileDay } from '../station/reconcile.ts';
import { dayOf } from '../station/time.ts';
import { loadScenario, startSimulator, type RunningSimulator } from '../simulator/index.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { runCli } from './helpers/cli.ts';

let dataDir: string;
let sim: RunningSimulator;

beforeAll(async () => {
  process.env.STATION_MODE = 'development';
  process.env.STATION_DEV_KEYS_PASSPHRASE = 'development passphrase for tests';
  process.env.STATION_PIN = DEV_PIN;
  dataDir = mkdtempSync(join(tmpdir(), 'foreign-loan-'));
  const seeded = await runCli(['--data-dir', dataDir, 'dev', 'seed', '--scenario', 'foreign-loan']);
  expect(seeded.stderr).toBe('');
  expect(seeded.code).toBe(0);
  sim = await startSimulator({ scenario: 'foreign-loan' });
});

afterAll(async () => {
  await sim?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('foreign-loan scenario through intake', () => {
  it('accepts our booklets and refuses every other one with its reason', async () => {
    const scenario = await loadScenario('foreign-loan');
    const expected = scenario.expected!();
    const r = await runCli([
      '--data-dir',
      dataDir,
      'intake',
      '--port',
      sim.stationPath,
      '--user',
      'operator',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const results = r.out.map(
      (l) =>
        JSON.parse(l) as {
          decision: string;
          reason?: string;
          facts: { printedSerial?: string; claimedAgency?: string };
          messages?: { es: { reason: string }; en: { reason: string; instruction: string } };
        },
    );
    expect(
      results.map((o) => ({
        printedSerial: o.facts.printedSerial,
        decision: o.decision === 'accepted' ? 'accepted' : o.reason,
      })),
    ).toEqual(expected);

    // The operator is told in their language what to do with a foreign booklet.
    const foreign = results.find((o) => o.reason === 'FOREIGN_AGENCY')!;
    expect(foreign.messages!.en.reason).toBe('This booklet belongs to another agency (PER-RREE).');
    expect(foreign.messages!.en.instruction).toBe(
      'Put it aside for your supervisor. It must not be used here.',
    );
    expect(foreign.messages!.es.reason).toBe('Esta libreta pertenece a otra entidad (PER-RREE).');

    // Trays: exactly the refused booklets went to the reject tray, the rest to the output tray.
    const refused = expected.filter((e) => e.decision !== 'accepted').map((e) => e.printedSerial);
    const accepted = expected.filter((e) => e.decision === 'accepted').map((e) => e.printedSerial);
    expect(sim.rejectTray.map((b) => b.booklet.printedSerial)).toEqual(refused);
    expect(sim.outputTray.map((b) => b.booklet.printedSerial)).toEqual(accepted);
    expect(sim.hopper).toHaveLength(0);
    // Nothing was written to any chip.
    for (const b of [...sim.rejectTray, ...sim.outputTray])
      expect(b.chip?.listFiles() ?? []).toEqual([]);
  });

  it('recorded every decision durably, queued refusals for the central office, and balances', () => {
    const db = openStationDb(dataDir);
    try {
      const refusals = db
        .prepare(
          'SELECT reason, printed_serial, claimed_agency, booklet_id FROM refusals ORDER BY id',
        )
        .all() as {
        reason: string;
        printed_serial: string;
        claimed_agency: string;
        booklet_id: number | null;
      }[];
      expect(refusals.map((r) => r.reason)).toEqual([
        'FOREIGN_AGENCY',
        'FOREIGN_AGENCY',
        'TRANSPORT_AUTH_FAILED',
        'FOREIGN_AGENCY',
        'PRINTED_AND_CHIP_SERIAL_DIFFER',
        'CHIP_ALREADY_PERSONALIZED',
        'FOREIGN_AGENCY',
        'UNKNOWN_SERIAL',
        'FOREIGN_AGENCY',
      ]);
      // Foreign booklets are recorded but never enter our stock.
      for (const r of refusals.filter((x) => x.reason === 'FOREIGN_AGENCY')) {
        expect(r.claimed_agency).toBe('PER-RREE');
        expect(r.booklet_id).toBeNull();
        expect(lookupBooklet(db, r.printed_serial)).toBeUndefined();
      }
      // Our refused booklets followed the life cycle; accepted ones went back to stock unwritten.
      expect(lookupBooklet(db, 'PA0100003')!.state).toBe('refused');
      expect(lookupBooklet(db, 'PA0100005')!.state).toBe('refused');
      expect(lookupBooklet(db, 'PA0100007')!.state).toBe('refused');
      expect(lookupBooklet(db, 'PA0100006')!.state).toBe('allocated');
      for (const s of ['PA0100001', 'PA0100002', 'PA0100008', 'PA0100009', 'PA0100010'])
        expect(lookupBooklet(db, s)!.state).toBe('allocated');

      const queued = pendingOutbox(db, 1000).filter((o) => o.kind === 'intake.refusal');
      expect(queued).toHaveLength(refusals.length);
      expect(queued[0]!.payload).toMatchObject({ reason: 'FOREIGN_AGENCY', operator: 'operator' });

      const jobs = db.prepare('SELECT status, count(*) n FROM intake_jobs GROUP BY status').all();
      expect(jobs).toEqual(
        expect.arrayContaining([
          { status: 'refused', n: 9 },
          { status: 'released', n: 5 },
        ]),
      );
      const steps = db
        .prepare(
          `SELECT step FROM intake_journal WHERE job_id = (SELECT min(id) FROM intake_jobs) ORDER BY id`,
        )
        .pluck()
        .all();
      expect(steps).toEqual([
        'feed',
        'read-printed-serial',
        'move-to-encoder',
        'field-on',
        'detect-chip',
        'read-chip-record',
        'check',
        'read-chip-life-cycle',
        'select-application',
        'transport-authentication',
        'accept',
        'release',
        'eject-output',
      ]);

      const day = reconcileDay(db, dayOf(new Date(), 'America/Lima'));
      expect(day.discrepancies).toEqual([]);
      expect(day.balanced).toBe(true);
      const here = day.stations.find((s) => s.stationId === 'LIM-AIR-01')!;
      expect(here.refused).toBe(3);
      expect(verifyAudit(db).ok).toBe(true);
    } finally {
      db.close();
    }
  });
});
