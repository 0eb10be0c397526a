/**
 * Every refusal reason of intake, over the simulator and the real serial stack: each booklet of
 * the `every-refusal` scenario gets the decision the scenario expects, the reject tray holds
 * exactly the refused, each refusal is in the refusals table, the outbox and the audit trail,
 * our booklets follow the life cycle only where the booklet itself is at fault, and the day
 * reconciles. Then a technician's TEST job takes test stock and refuses production stock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  intakeNextBooklet,
  releaseAccepted,
  type IntakeOutcome,
} from '../station/intake/intake.ts';
import { INTAKE_STEPS, jobJournal, listJobs } from '../station/intake/journal.ts';
import { lookupBooklet } from '../station/booklets.ts';
import { verifyAudit } from '../station/audit.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import type { TransportKeyCustody } from '../station/keys/custody.ts';
import { pendingOutbox } from '../station/outbox.ts';
import { reconcileDay } from '../station/reconcile.ts';
import { dayOf } from '../station/time.ts';
import { loadScenario, startSimulator, type Scenario } from '../simulator/index.ts';
import {
  connectStation,
  DEV_ENV,
  seedScenarioStation,
  type SeededStation,
} from './intake-support.ts';

let station: SeededStation;
let custody: TransportKeyCustody;
let scenario: Scenario;
const outcomes: IntakeOutcome[] = [];

/**
 * The ledger state of each booklet of ours after the production run. Refused (the life cycle's
 * `refused`) only where the booklet itself is at fault; a booklet that is not ours to use here
 * (another station's, unallocated, lost, test stock) or whose key this station lacks keeps its
 * state; an unreadable or misprinted serial cannot be tied to a booklet of ours.
 */
const STATE_AFTER: Record<string, string> = {
  PA0200001: 'allocated', // accepted, released blank
  PA0200002: 'allocated', // SERIAL_UNREADABLE: which booklet it is cannot be known
  PA0200003: 'refused', // NO_CHIP
  PA0200004: 'refused', // CHIP_UNRESPONSIVE
  PA0200005: 'refused', // CHIP_RECORD_INVALID
  PA0200006: 'allocated', // printed as PA0200906: the printed serial is in no manifest
  PA0200009: 'refused', // CHIP_UID_MISMATCH (chip serial)
  PA0200010: 'refused', // CHIP_UID_MISMATCH (UID)
  PA0200011: 'allocated', // NOT_ALLOCATED_TO_THIS_STATION: held by another station
  PA0200012: 'received', // NOT_ALLOCATED_TO_THIS_STATION: never allocated
  PA0200013: 'lost_stolen', // REPORTED_LOST_OR_STOLEN
  PA0200014: 'allocated', // NOT_AVAILABLE: test stock in a production job
  PA0200015: 'refused', // PROFILE_NOT_ACCEPTED
  PA0200016: 'refused', // CHIP_ALREADY_PERSONALIZED
  PA0200017: 'allocated', // TRANSPORT_KEY_UNAVAILABLE: our gap, not the booklet's fault
  PA0200018: 'refused', // TRANSPORT_AUTH_FAILED
  PA0200019: 'allocated', // accepted, released blank
};

beforeAll(async () => {
  Object.assign(process.env, DEV_ENV);
  scenario = await loadScenario('every-refusal');
  station = await seedScenarioStation('every-refusal');
  custody = await openStationCustody(station.dataDir);
});

afterAll(async () => {
  await custody?.close();
  station?.cleanup();
});

describe('every-refusal scenario through intake', () => {
  it('decides every booklet as the scenario expects, trays and chips included', async () => {
    const sim = await startSimulator({ scenario: 'every-refusal' });
    const dev = await connectStation(sim.stationPath);
    try {
      const { db } = station;
      const actor = station.actor('operator');
      const opts = { db, actor, custody, printer: dev.printer, encoder: dev.encoder };
      while (sim.hopper.length > 0) {
        const o = await intakeNextBooklet(opts);
        if (o.decision === 'accepted') await releaseAccepted(opts, o);
        outcomes.push(o);
      }
      const expected = scenario.expected!();
      expect(outcomes.map((o) => (o.decision === 'accepted' ? 'accepted' : o.reason))).toEqual(
        expected.map((e) => e.decision),
      );
      const refusedSerials = expected.filter((e) => e.decision !== 'accepted');
      expect(sim.rejectTray.map((b) => b.booklet.printedSerial)).toEqual(
        refusedSerials.map((e) => e.printedSerial),
      );
      expect(sim.outputTray.map((b) => b.booklet.printedSerial)).toEqual(
        expected.filter((e) => e.decision === 'accepted').map((e) => e.printedSerial),
      );
      // The serial that could not be read is not invented; every other one is what was printed.
      outcomes.forEach((o, i) => {
        if (o.decision === 'refused' && o.reason === 'SERIAL_UNREADABLE')
          expect(o.facts.printedSerial).toBeUndefined();
        else expect(o.facts.printedSerial).toBe(expected[i]!.printedSerial);
      });
      // Intake writes nothing to any chip, accepted or refused.
      for (const b of [...sim.rejectTray, ...sim.outputTray])
        expect(b.chip?.listFiles() ?? []).toEqual([]);
    } finally {
      await dev.close();
      await sim.close();
    }
  });

  it('records each refusal in the refusals table, the outbox and the audit trail', () => {
    const { db } = station;
    const refused = outcomes.filter((o) => o.decision === 'refused');
    expect(refused).toHaveLength(17);
    const rows = db
      .prepare(
        'SELECT job_id, reason, printed_serial, actor_id, booklet_id FROM refusals ORDER BY id',
      )
      .all() as {
      job_id: number;
      reason: string;
      printed_serial: string | null;
      actor_id: number;
      booklet_id: number | null;
    }[];
    expect(rows.map((r) => [r.job_id, r.reason])).toEqual(refused.map((o) => [o.jobId, o.reason]));
    const operatorId = station.actor('operator').id;
    for (const r of rows) expect(r.actor_id).toBe(operatorId);

    const outbox = pendingOutbox(db, 1000).filter((o) => o.kind === 'intake.refusal');
    expect(outbox.map((o) => (o.payload as { jobId: number }).jobId)).toEqual(
      refused.map((o) => o.jobId),
    );
    expect(new Set(outbox.map((o) => o.idempotencyKey)).size).toBe(outbox.length);
    for (const o of outbox)
      expect(o.payload).toMatchObject({ stationId: 'LIM-AIR-01', operator: 'operator' });

    const audited = (
      db
        .prepare(`SELECT details FROM audit_log WHERE action = 'intake.refused' ORDER BY seq`)
        .pluck()
        .all() as string[]
    ).map((d) => JSON.parse(d) as { jobId: number; reason: string });
    expect(audited.map((a) => [a.jobId, a.reason])).toEqual(
      refused.map((o) => [o.jobId, o.reason]),
    );

    // A foreign booklet is recorded but never enters our stock.
    const foreign = rows.find((r) => r.reason === 'FOREIGN_AGENCY')!;
    expect(foreign.booklet_id).toBeNull();
    expect(lookupBooklet(db, foreign.printed_serial!)).toBeUndefined();

    const jobs = listJobs(db);
    expect(jobs.filter((j) => j.status === 'refused')).toHaveLength(17);
    expect(jobs.filter((j) => j.status === 'released')).toHaveLength(2);
    expect(jobs.filter((j) => j.status === 'running' || j.status === 'accepted')).toEqual([]);
  });

  it('journals each step before acting, up to the failed check', () => {
    const { db } = station;
    const stepsOf = (reason: string): string[] =>
      jobJournal(
        db,
        outcomes.find((o) => o.decision === 'refused' && o.reason === reason)!.jobId,
      ).map((j) => j.step);
    const upTo = (last: string): string[] => [
      ...INTAKE_STEPS.slice(0, INTAKE_STEPS.indexOf(last as never) + 1),
      'refuse',
      'eject-reject',
    ];
    expect(stepsOf('SERIAL_UNREADABLE')).toEqual(upTo('read-printed-serial'));
    expect(stepsOf('NO_CHIP')).toEqual(upTo('detect-chip'));
    expect(stepsOf('CHIP_RECORD_INVALID')).toEqual(upTo('read-chip-record'));
    expect(stepsOf('FOREIGN_AGENCY')).toEqual(upTo('check'));
    expect(stepsOf('CHIP_ALREADY_PERSONALIZED')).toEqual(upTo('read-chip-life-cycle'));
    expect(stepsOf('TRANSPORT_KEY_UNAVAILABLE')).toEqual(upTo('transport-authentication'));
    expect(stepsOf('TRANSPORT_AUTH_FAILED')).toEqual(upTo('transport-authentication'));
  });

  it('moves our booklets along the life cycle only where the booklet is at fault', () => {
    const { db } = station;
    for (const [serial, state] of Object.entries(STATE_AFTER))
      expect({ serial, state: lookupBooklet(db, serial)?.state }).toEqual({ serial, state });
    // The outcome reports the state the booklet was left in.
    for (const o of outcomes) {
      if (o.decision !== 'refused' || !o.facts.printedSerial) continue;
      expect(o.bookletState).toBe(STATE_AFTER[o.facts.printedSerial]);
    }
    // Nothing is left in process.
    const inProcess = db
      .prepare(`SELECT count(*) FROM booklets WHERE state = 'in_process'`)
      .pluck()
      .get();
    expect(inProcess).toBe(0);
  });

  it('balances the day and keeps the audit chain intact', () => {
    const { db } = station;
    const day = reconcileDay(db, dayOf(new Date(), 'America/Lima'));
    expect(day.discrepancies).toEqual([]);
    expect(day.balanced).toBe(true);
    const here = day.stations.find((s) => s.stationId === 'LIM-AIR-01')!;
    expect(here.refused).toBe(Object.values(STATE_AFTER).filter((s) => s === 'refused').length);
    expect(verifyAudit(db).ok).toBe(true);
  });

  it('a technician TEST job takes test stock and refuses production stock', async () => {
    const all = scenario.hopper().booklets;
    const pick = (s: string) => all.find((b) => b.printedSerial === s)!;
    // The test-stock booklet, then a production booklet this station holds (both released above).
    const sim = await startSimulator({
      hopper: { version: 1, booklets: [pick('PA0200014'), pick('PA0200019')] },
    });
    const dev = await connectStation(sim.stationPath);
    try {
      const { db } = station;
      const actor = station.actor('technician');
      const opts = {
        db,
        actor,
        custody,
        printer: dev.printer,
        encoder: dev.encoder,
        jobKind: 'test' as const,
      };
      const testStock = await intakeNextBooklet(opts);
      expect(testStock.decision).toBe('accepted');
      if (testStock.decision !== 'accepted') throw new Error('unreachable');
      expect(lookupBooklet(db, 'PA0200014')!.state).toBe('in_process');
      await releaseAccepted(opts, testStock);
      expect(lookupBooklet(db, 'PA0200014')!.state).toBe('allocated');

      const production = await intakeNextBooklet(opts);
      expect(production).toMatchObject({ decision: 'refused', reason: 'NOT_AVAILABLE' });
      if (production.decision !== 'refused') throw new Error('unreachable');
      expect(production.messages.en.reason).toBe(
        'Booklet PA0200019 cannot be used: it is production stock.',
      );
      // Production stock in a test job is not the booklet's fault: its state stays.
      expect(lookupBooklet(db, 'PA0200019')!.state).toBe('allocated');
      expect(sim.rejectTray.map((b) => b.booklet.printedSerial)).toEqual(['PA0200019']);
      expect(sim.outputTray.map((b) => b.booklet.printedSerial)).toEqual(['PA0200014']);
      const job = listJobs(db).find((j) => j.id === testStock.jobId)!;
      expect(job).toMatchObject({ jobKind: 'test', status: 'released' });
      expect(verifyAudit(db).ok).toBe(true);
    } finally {
      await dev.close();
      await sim.close();
    }
  });
});
