/**
 * Daily reconciliation of booklet stock per station, and the ledger checks behind it.
 * Balances come from the daily_flows aggregate (kept with every event); each report
 * re-derives the day's flows from the raw events and checks every booklet touched that day.
 */
import { readSnapshot, type Db } from '../db/open.ts';
import { InvalidInputError } from './errors.ts';
import {
  flowsOf,
  INFLOW_CATEGORIES,
  isLegalTransition,
  ON_HAND_STATES,
  type BookletState,
  type FlowCategory,
  type StockClass,
} from './lifecycle.ts';
import { dayOf, isDay } from './time.ts';

export interface StationDay {
  stationId: string;
  date: string;
  opening: number;
  received: number;
  transferredIn: number;
  transferredOut: number;
  issued: number;
  spoiled: number;
  voided: number;
  refused: number;
  testConsumed: number;
  lost: number;
  returned: number;
  closing: number;
}

export interface Discrepancy {
  serial: string;
  problem: string;
}

export interface Reconciliation {
  date: string;
  stations: StationDay[];
  /** Day's flows in the ledger that the raw events do not reproduce. */
  flowMismatches: { stationId: string; category: FlowCategory; ledger: number; events: number }[];
  /** Stock counted now vs. all the ledger's flows up to now, per station. */
  onHandNow: { stationId: string; ledger: number; counted: number }[];
  /** Booklets whose events don't add up. */
  discrepancies: Discrepancy[];
  /** True if every station's figures balance, the ledger matches the events and the stock, and nothing is amiss. */
  balanced: boolean;
}

const CATEGORY_FIELD: Record<FlowCategory, keyof StationDay> = {
  received: 'received',
  transfer_in: 'transferredIn',
  transfer_out: 'transferredOut',
  issued: 'issued',
  spoiled: 'spoiled',
  voided: 'voided',
  refused: 'refused',
  test_consumed: 'testConsumed',
  lost_stolen: 'lost',
  returned: 'returned',
};

const IN_SQL = `(${INFLOW_CATEGORIES.map((c) => `'${c}'`).join(',')})`;
const ON_HAND_SQL = `(${ON_HAND_STATES.map((s) => `'${s}'`).join(',')})`;

function emptyDay(stationId: string, date: string, opening: number): StationDay {
  return {
    stationId,
    date,
    opening,
    received: 0,
    transferredIn: 0,
    transferredOut: 0,
    issued: 0,
    spoiled: 0,
    voided: 0,
    refused: 0,
    testConsumed: 0,
    lost: 0,
    returned: 0,
    closing: opening,
  };
}

interface EventRow {
  booklet_id: number;
  id: number;
  from_state: BookletState | null;
  to_state: BookletState;
  from_holder: string | null;
  to_holder: string;
  day: string;
  serial: string;
  state: BookletState;
  holder_station: string;
  stock_class: StockClass;
}

/** Walks each booklet's events (rows ordered by booklet, event) and lists what does not add up. */
function checkChains(rows: Iterable<EventRow>): Discrepancy[] {
  const out: Discrepancy[] = [];
  let cur: EventRow | undefined;
  let prev: EventRow | undefined;
  const finish = (): void => {
    if (!prev) return;
    if (prev.to_state !== prev.state)
      out.push({
        serial: prev.serial,
        problem: `its state is ${prev.state} but its last event (#${prev.id}) left it ${prev.to_state}`,
      });
    else if (prev.to_holder !== prev.holder_station)
      out.push({
        serial: prev.serial,
        problem: `it is held by ${prev.holder_station} but its last event (#${prev.id}) gave it to ${prev.to_holder}`,
      });
  };
  for (const r of rows) {
    if (!cur || r.booklet_id !== cur.booklet_id) {
      finish();
      cur = r;
      prev = undefined;
      if (r.from_state !== null) {
        out.push({
          serial: r.serial,
          problem: `its first event (#${r.id}) does not record its receipt`,
        });
      }
    } else if (prev) {
      if (r.from_state !== prev.to_state || r.from_holder !== prev.to_holder) {
        out.push({
          serial: r.serial,
          problem: `event #${r.id} starts from ${r.from_state}@${r.from_holder} but event #${prev.id} left it ${prev.to_state}@${prev.to_holder}`,
        });
      }
    }
    if (r.from_state !== null && !isLegalTransition(r.from_state, r.to_state))
      out.push({
        serial: r.serial,
        problem: `event #${r.id} is an illegal move ${r.from_state} -> ${r.to_state}`,
      });
    if (r.to_state === 'issued' && r.stock_class === 'test')
      out.push({ serial: r.serial, problem: `event #${r.id} issued a test booklet` });
    prev = r;
  }
  finish();
  return out;
}

/**
 * The reconciliation of one day (YYYY-MM-DD, in the station's time zone), per station.
 * With `allBooklets`, every booklet's history is checked, not only those touched that day
 * (slow on a large ledger; for an audit).
 */
export function reconcileDay(
  db: Db,
  date: string,
  opts: { stationId?: string; allBooklets?: boolean } = {},
): Reconciliation {
  if (!isDay(date))
    throw new InvalidInputError(`date ${JSON.stringify(date)} is not a YYYY-MM-DD day`);
  return readSnapshot(db, () => {
    const stations = new Map<string, StationDay>();
    const openings = db
      .prepare(
        `SELECT station_id AS s, sum(CASE WHEN category IN ${IN_SQL} THEN n ELSE -n END) AS n
         FROM daily_flows WHERE day < ? GROUP BY station_id`,
      )
      .all(date) as { s: string; n: number }[];
    for (const o of openings) stations.set(o.s, emptyDay(o.s, date, o.n));
    const flows = db
      .prepare('SELECT station_id AS s, category AS c, n FROM daily_flows WHERE day = ?')
      .all(date) as { s: string; c: FlowCategory; n: number }[];
    const ledgerFlows = new Map<string, number>();
    for (const f of flows) {
      let d = stations.get(f.s);
      if (!d) stations.set(f.s, (d = emptyDay(f.s, date, 0)));
      const field = CATEGORY_FIELD[f.c];
      if (!field) throw new Error(`daily_flows holds an unknown category ${f.c}`);
      (d[field] as number) += f.n;
      ledgerFlows.set(`${f.s}\u0000${f.c}`, f.n);
    }
    for (const d of stations.values()) {
      const inflow = d.received + d.transferredIn;
      const outflow =
        d.transferredOut +
        d.issued +
        d.spoiled +
        d.voided +
        d.refused +
        d.testConsumed +
        d.lost +
        d.returned;
      d.closing = d.opening + inflow - outflow;
    }

    // The day's events, re-derived (grouped in SQL: a handful of rows however busy the day).
    const eventFlows = new Map<string, number>();
    const illegalMoves: { from: BookletState; to: BookletState }[] = [];
    const dayGroups = db
      .prepare(
        `SELECT from_state, to_state, from_holder, to_holder, count(*) AS n FROM booklet_events
         WHERE day = ? GROUP BY from_state, to_state, from_holder, to_holder`,
      )
      .all(date) as (Pick<EventRow, 'from_state' | 'to_state' | 'from_holder' | 'to_holder'> & {
      n: number;
    })[];
    for (const e of dayGroups) {
      if (e.from_state !== null && !isLegalTransition(e.from_state, e.to_state))
        illegalMoves.push({ from: e.from_state, to: e.to_state });
      for (const f of flowsOf(e.from_state, e.to_state, e.from_holder, e.to_holder)) {
        const k = `${f.station}\u0000${f.category}`;
        eventFlows.set(k, (eventFlows.get(k) ?? 0) + e.n);
      }
    }
    const flowMismatches: Reconciliation['flowMismatches'] = [];
    for (const k of new Set([...ledgerFlows.keys(), ...eventFlows.keys()])) {
      const ledger = ledgerFlows.get(k) ?? 0;
      const events = eventFlows.get(k) ?? 0;
      if (ledger !== events) {
        const [stationId, category] = k.split('\u0000') as [string, FlowCategory];
        flowMismatches.push({ stationId, category, ledger, events });
      }
    }

    // Stock now vs. the ledger's all-time flows.
    const ledgerNow = new Map(
      (
        db
          .prepare(
            `SELECT station_id AS s, sum(CASE WHEN category IN ${IN_SQL} THEN n ELSE -n END) AS n
             FROM daily_flows GROUP BY station_id`,
          )
          .all() as { s: string; n: number }[]
      ).map((r) => [r.s, r.n]),
    );
    const countedNow = new Map(
      (
        db
          .prepare(
            `SELECT holder_station AS s, count(*) AS n FROM booklets
             WHERE state IN ${ON_HAND_SQL} GROUP BY holder_station`,
          )
          .all() as { s: string; n: number }[]
      ).map((r) => [r.s, r.n]),
    );
    const onHandNow = [...new Set([...ledgerNow.keys(), ...countedNow.keys()])].sort().map((s) => ({
      stationId: s,
      ledger: ledgerNow.get(s) ?? 0,
      counted: countedNow.get(s) ?? 0,
    }));

    let discrepancies: Discrepancy[];
    if (opts.allBooklets) {
      discrepancies = checkChains(
        db
          .prepare(
            `SELECT e.booklet_id, e.id, e.from_state, e.to_state, e.from_holder, e.to_holder, e.day,
               b.serial, b.state, b.holder_station, b.stock_class
             FROM booklet_events e JOIN booklets b ON b.id = e.booklet_id ORDER BY e.booklet_id, e.id`,
          )
          .iterate() as Iterable<EventRow>,
      );
    } else {
      discrepancies = [];
      // Each of the day's events must start where the booklet's previous event left it.
      const broken = db
        .prepare(
          `SELECT e.id, b.serial, e.from_state, e.from_holder, e.to_state, b.stock_class,
             p.id AS pid, p.to_state AS pto, p.to_holder AS pholder
           FROM booklet_events e
           JOIN booklets b ON b.id = e.booklet_id
           LEFT JOIN booklet_events p ON p.id =
             (SELECT max(q.id) FROM booklet_events q WHERE q.booklet_id = e.booklet_id AND q.id < e.id)
           WHERE e.day = ? AND (
             (p.id IS NULL AND e.from_state IS NOT NULL)
             OR (p.id IS NOT NULL AND (e.from_state IS NOT p.to_state OR e.from_holder IS NOT p.to_holder))
             OR (e.to_state = 'issued' AND b.stock_class = 'test'))
           ORDER BY e.id`,
        )
        .all(date) as {
        id: number;
        serial: string;
        from_state: BookletState | null;
        from_holder: string | null;
        to_state: BookletState;
        stock_class: StockClass;
        pid: number | null;
        pto: BookletState | null;
        pholder: string | null;
      }[];
      for (const r of broken) {
        if (r.to_state === 'issued' && r.stock_class === 'test')
          discrepancies.push({ serial: r.serial, problem: `event #${r.id} issued a test booklet` });
        if (r.pid === null && r.from_state !== null)
          discrepancies.push({
            serial: r.serial,
            problem: `its first event (#${r.id}) does not record its receipt`,
          });
        else if (r.pid !== null && (r.from_state !== r.pto || r.from_holder !== r.pholder))
          discrepancies.push({
            serial: r.serial,
            problem: `event #${r.id} starts from ${r.from_state}@${r.from_holder} but event #${r.pid} left it ${r.pto}@${r.pholder}`,
          });
      }
      // Each booklet moved that day must be where its last event left it.
      const stale = db
        .prepare(
          `SELECT b.serial, b.state, b.holder_station, l.id, l.to_state, l.to_holder
           FROM (SELECT DISTINCT booklet_id FROM booklet_events WHERE day = ?) t
           JOIN booklets b ON b.id = t.booklet_id
           JOIN booklet_events l ON l.id =
             (SELECT max(q.id) FROM booklet_events q WHERE q.booklet_id = t.booklet_id)
           WHERE l.to_state IS NOT b.state OR l.to_holder IS NOT b.holder_station
           ORDER BY b.serial`,
        )
        .all(date) as {
        serial: string;
        state: BookletState;
        holder_station: string;
        id: number;
        to_state: BookletState;
        to_holder: string;
      }[];
      for (const r of stale)
        discrepancies.push({
          serial: r.serial,
          problem:
            r.to_state !== r.state
              ? `its state is ${r.state} but its last event (#${r.id}) left it ${r.to_state}`
              : `it is held by ${r.holder_station} but its last event (#${r.id}) gave it to ${r.to_holder}`,
        });
      for (const m of illegalMoves) {
        const serials = db
          .prepare(
            `SELECT b.serial, e.id FROM booklet_events e JOIN booklets b ON b.id = e.booklet_id
             WHERE e.day = ? AND e.from_state = ? AND e.to_state = ?`,
          )
          .all(date, m.from, m.to) as { serial: string; id: number }[];
        for (const x of serials)
          discrepancies.push({
            serial: x.serial,
            problem: `event #${x.id} is an illegal move ${m.from} -> ${m.to}`,
          });
      }
    }
    if (opts.allBooklets) {
      const silent = db
        .prepare(
          'SELECT serial FROM booklets b WHERE NOT EXISTS (SELECT 1 FROM booklet_events e WHERE e.booklet_id = b.id)',
        )
        .pluck()
        .all() as string[];
      for (const serial of silent)
        discrepancies.push({ serial, problem: 'it has no events at all' });
    }
    discrepancies.push(...unsettledIntake(db, date, opts.stationId));
    for (const o of onHandNow)
      if (o.ledger !== o.counted)
        discrepancies.push({
          serial: '*',
          problem: `station ${o.stationId} holds ${o.counted} booklets but its ledger says ${o.ledger}`,
        });

    let list = [...stations.values()].sort((a, b) => a.stationId.localeCompare(b.stationId));
    if (opts.stationId) list = list.filter((d) => d.stationId === opts.stationId);
    const balanced =
      flowMismatches.length === 0 &&
      discrepancies.length === 0 &&
      onHandNow.every((o) => o.ledger === o.counted) &&
      list.every((d) => d.closing >= 0);
    return { date, stations: list, flowMismatches, onHandNow, discrepancies, balanced };
  });
}

/**
 * Booklets an intake job took in and left without a verdict (interrupted or failed after it
 * read the printed serial), up to the end of `date`, that nothing has settled since: no later
 * intake job on the same serial reached a verdict and the booklet's ledger has not moved. The
 * booklet left the hopper, yet its ledger state (allocated, or none for a foreign one) hides
 * that: it must go through intake again or be accounted for.
 */
function unsettledIntake(db: Db, date: string, stationId?: string): Discrepancy[] {
  const timeZone = db.prepare('SELECT timezone FROM station WHERE id = 1').pluck().get() as
    string | undefined;
  if (timeZone === undefined) return [];
  const upTo = (iso: string): boolean => dayOf(new Date(iso), timeZone) <= date;
  const ended = db
    .prepare(
      `SELECT id, status, printed_serial AS serial, started_at FROM intake_jobs
       WHERE status IN ('interrupted','failed') AND printed_serial IS NOT NULL
         AND (? IS NULL OR station_id = ?)
       ORDER BY id`,
    )
    .all(stationId ?? null, stationId ?? null) as {
    id: number;
    status: string;
    serial: string;
    started_at: string;
  }[];
  const laterVerdicts = db.prepare(
    `SELECT started_at FROM intake_jobs
     WHERE printed_serial = ? AND id > ? AND status IN ('accepted','refused','released')`,
  );
  const laterMoves = db.prepare(
    `SELECT e.day FROM booklet_events e JOIN booklets b ON b.id = e.booklet_id
     WHERE b.serial = ? AND e.at > ?`,
  );
  const out: Discrepancy[] = [];
  for (const j of ended) {
    if (!upTo(j.started_at)) continue;
    const verdict = (laterVerdicts.pluck().all(j.serial, j.id) as string[]).some(upTo);
    const moved = (laterMoves.pluck().all(j.serial, j.started_at) as string[]).some(
      (day) => day <= date,
    );
    if (!verdict && !moved)
      out.push({
        serial: j.serial,
        problem: `intake job ${j.id} ended ${j.status} without a verdict: the booklet was taken in, but no acceptance or refusal was recorded and nothing has settled it since`,
      });
  }
  return out;
}
