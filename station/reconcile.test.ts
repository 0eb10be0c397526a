import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { transition, transitionMany } from './lifecycle.ts';
import { reconcileDay } from './reconcile.ts';
import { allocateStock } from './stock.ts';
import { createTestStation, type TestStation } from './testing.ts';

let st: TestStation;
const DAY1 = new Date('2026-04-01T14:00:00Z'); // 09:00 in Lima
const DAY2 = new Date('2026-04-02T14:00:00Z');
const LATE = new Date('2026-04-03T03:30:00Z'); // still 2 April in Lima

beforeEach(() => {
  st = createTestStation({ timeZone: 'America/Lima' });
  const serials = st.receive('B-1', 10, { at: DAY1 });
  const { supervisor, operator } = st.users;
  allocateStock(st.db, supervisor, { batchId: 'B-1', serials: serials.slice(0, 5), at: DAY2 });
  allocateStock(st.db, supervisor, {
    batchId: 'B-1',
    serials: serials.slice(5, 7),
    toStation: 'LIM-AIR-02',
    at: DAY2,
  });
  transitionMany(st.db, serials.slice(0, 3), {
    to: 'in_process',
    actor: operator,
    reason: 'job',
    at: DAY2,
  });
  transitionMany(st.db, serials.slice(0, 2), {
    to: 'issued',
    actor: operator,
    reason: 'ok',
    at: DAY2,
  });
  transition(st.db, {
    serial: serials[2]!,
    to: 'spoiled',
    actor: operator,
    reason: 'chip write failed',
    at: LATE,
  });
  transition(st.db, {
    serial: serials[9]!,
    to: 'lost_stolen',
    actor: supervisor,
    reason: 'missing at count',
    at: LATE,
  });
});
afterEach(() => st.close());

describe('reconcileDay', () => {
  it('gives opening, flows and closing per station, in the station time zone', () => {
    const d1 = reconcileDay(st.db, '2026-04-01');
    expect(d1.stations).toEqual([
      expect.objectContaining({ stationId: 'LIM-AIR-01', opening: 0, received: 10, closing: 10 }),
    ]);
    const d2 = reconcileDay(st.db, '2026-04-02');
    expect(d2.balanced).toBe(true);
    expect(d2.stations).toEqual([
      expect.objectContaining({
        stationId: 'LIM-AIR-01',
        opening: 10,
        received: 0,
        transferredOut: 2,
        issued: 2,
        spoiled: 1,
        lost: 1,
        closing: 4,
      }),
      expect.objectContaining({
        stationId: 'LIM-AIR-02',
        opening: 0,
        transferredIn: 2,
        closing: 2,
      }),
    ]);
    expect(d2.onHandNow).toEqual([
      { stationId: 'LIM-AIR-01', ledger: 4, counted: 4 },
      { stationId: 'LIM-AIR-02', ledger: 2, counted: 2 },
    ]);
    expect(reconcileDay(st.db, '2026-04-03').stations.map((s) => [s.opening, s.closing])).toEqual([
      [4, 4],
      [2, 2],
    ]);
  });

  it('lists a booklet whose state was changed behind the ledger', () => {
    st.db.prepare("UPDATE booklets SET state = 'allocated' WHERE serial = 'PE0000001'").run();
    const r = reconcileDay(st.db, '2026-04-02');
    expect(r.balanced).toBe(false);
    expect(r.discrepancies).toContainEqual({
      serial: 'PE0000001',
      problem: expect.stringMatching(/state is allocated but its last event .* left it issued/),
    });
    expect(
      r.discrepancies.some(
        (d) => d.serial === '*' && /holds 5 booklets but its ledger says 4/.test(d.problem),
      ),
    ).toBe(true);
  });

  it('finds a booklet with no events at all in a full check', () => {
    st.db
      .prepare(
        "INSERT INTO booklets (serial, chip_serial, batch_id, stock_class, state, holder_station) VALUES ('PE0099999', 'ABCDEF99', 'B-1', 'production', 'received', 'LIM-AIR-01')",
      )
      .run();
    const r = reconcileDay(st.db, '2026-04-02', { allBooklets: true });
    expect(r.discrepancies).toContainEqual({
      serial: 'PE0099999',
      problem: 'it has no events at all',
    });
  });

  it('notices daily totals that the events do not reproduce', () => {
    st.db
      .prepare("UPDATE daily_flows SET n = n - 1 WHERE day = '2026-04-02' AND category = 'issued'")
      .run();
    const r = reconcileDay(st.db, '2026-04-02');
    expect(r.balanced).toBe(false);
    expect(r.flowMismatches).toEqual([
      { stationId: 'LIM-AIR-01', category: 'issued', ledger: 1, events: 2 },
    ]);
  });

  it('refuses a malformed date', () => {
    expect(() => reconcileDay(st.db, '2026-02-30')).toThrow(/not a YYYY-MM-DD day/);
  });
});
