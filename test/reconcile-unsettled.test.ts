/**
 * Reconciliation flags a booklet whose intake job ended without a verdict (interrupted by a
 * restart, or failed on a device fault after the booklet was identified): the booklet left the
 * hopper, yet its ledger state hides it. The flag stays until a later intake decides the
 * booklet or its ledger moves; a job that never took a booklet in (an empty hopper) is not one.
 */
import { dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { finishJob, journalStep, recordFacts, startJob } from '../station/intake/journal.ts';
import { transition } from '../station/lifecycle.ts';
import { reconcileDay } from '../station/reconcile.ts';
import { acquireStationLock, type StationLock } from '../station/station-lock.ts';
import { allocateStock } from '../station/stock.ts';
import { createTestStation, TEST_STATION, type TestStation } from '../station/testing.ts';

const DAY = new Date('2026-04-02T14:00:00Z');
const LATER = new Date('2026-04-02T15:00:00Z');
const NEXT = new Date('2026-04-03T14:00:00Z');
let st: TestStation;
let lock: StationLock;
let ours: string[];

beforeEach(() => {
  st = createTestStation({ timeZone: 'America/Lima' });
  lock = acquireStationLock(dirname(st.db.name), { command: 'test' });
  ours = st.receive('B-1', 3, { at: DAY });
  allocateStock(st.db, st.users.supervisor, { batchId: 'B-1', serials: ours, at: DAY });
});
afterEach(() => {
  st.close();
  lock.release();
});

/** A job that took a booklet in and ended as given, without a verdict. */
function endedJob(
  serial: string | undefined,
  status: 'interrupted' | 'failed' | 'refused' | 'released',
  at: Date,
): number {
  const id = startJob(st.db, {
    kind: 'production',
    stationId: TEST_STATION,
    actorId: st.users.operator.id,
    at,
  });
  journalStep(st.db, id, 'feed', at);
  if (serial) {
    journalStep(st.db, id, 'read-printed-serial', at);
    recordFacts(st.db, id, { printedSerial: serial });
  }
  if (status === 'released') finishJob(st.db, id, 'accepted', at);
  finishJob(st.db, id, status, at, status === 'refused' ? { reason: 'FOREIGN_AGENCY' } : {});
  return id;
}

describe('reconciliation and intake jobs without a verdict', () => {
  it('flags them, ours and foreign, until a later verdict or ledger move settles them', () => {
    expect(reconcileDay(st.db, '2026-04-02').balanced).toBe(true);
    const jam = endedJob(ours[0], 'failed', LATER);
    const restart = endedJob('PR0500001', 'interrupted', LATER);
    // An empty hopper: the job never took a booklet in.
    endedJob(undefined, 'failed', LATER);

    const r = reconcileDay(st.db, '2026-04-02');
    expect(r.balanced).toBe(false);
    expect(r.discrepancies).toEqual([
      {
        serial: ours[0],
        problem: `intake job ${jam} ended failed without a verdict: the booklet was taken in, but no acceptance or refusal was recorded and nothing has settled it since`,
      },
      {
        serial: 'PR0500001',
        problem: expect.stringMatching(
          new RegExp(`^intake job ${restart} ended interrupted without a verdict`),
        ),
      },
    ]);
    // Not on a day before the jobs, and only for the station that ran them.
    expect(reconcileDay(st.db, '2026-04-01').balanced).toBe(true);
    expect(reconcileDay(st.db, '2026-04-02', { stationId: 'LIM-AIR-09' }).discrepancies).toEqual(
      [],
    );

    // The foreign booklet goes through intake again and is refused: settled.
    endedJob('PR0500001', 'refused', NEXT);
    // Ours is taken in again and released blank (its ledger moves: in process, allocated).
    transition(st.db, {
      serial: ours[0]!,
      to: 'in_process',
      actor: st.users.operator,
      reason: 'intake',
      at: NEXT,
    });
    transition(st.db, {
      serial: ours[0]!,
      to: 'allocated',
      actor: st.users.operator,
      reason: 'released',
      at: NEXT,
    });
    expect(reconcileDay(st.db, '2026-04-03').discrepancies).toEqual([]);
    expect(reconcileDay(st.db, '2026-04-03').balanced).toBe(true);
    // Seen from the day of the jobs, nothing had settled them yet.
    expect(reconcileDay(st.db, '2026-04-02').balanced).toBe(false);
  });
});
