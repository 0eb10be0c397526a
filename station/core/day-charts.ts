/**
 * The day's flows for the supervisor's charts: booklets issued, spoiled and refused per hour of
 * the station's day (its time zone), and spoilage and refusals by cause. Read-only.
 */
import type { Db } from '../../db/open.ts';

export interface DayCharts {
  hourly: { hour: number; issued: number; spoiled: number; refused: number }[];
  causes: { spoiled: Record<string, number>; refused: Record<string, number> };
}

function hourIn(at: string, timeZone: string): number {
  const h = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' })
    .formatToParts(new Date(at))
    .find((p) => p.type === 'hour')?.value;
  return Number(h ?? 0) % 24;
}

export function hourlyFlows(db: Db, stationId: string, day: string, timeZone: string): DayCharts {
  const hourly = Array.from({ length: 24 }, (_, hour) => ({
    hour,
    issued: 0,
    spoiled: 0,
    refused: 0,
  }));
  const causes: DayCharts['causes'] = { spoiled: {}, refused: {} };
  // Booklet events carry the station's day: issued and spoiled booklets, with the reason given.
  const events = db
    .prepare(
      `SELECT to_state AS state, at, reason FROM booklet_events
        WHERE day = ? AND station_id = ? AND to_state IN ('issued', 'spoiled')`,
    )
    .all(day, stationId) as { state: 'issued' | 'spoiled'; at: string; reason: string }[];
  for (const e of events) {
    hourly[hourIn(e.at, timeZone)]![e.state]++;
    if (e.state === 'spoiled') causes.spoiled[e.reason] = (causes.spoiled[e.reason] ?? 0) + 1;
  }
  // Refusals (our booklets and others' alike) are recorded per intake job with their reason.
  const refusals = db
    .prepare('SELECT at, reason FROM refusals WHERE day = ? AND station_id = ?')
    .all(day, stationId) as { at: string; reason: string }[];
  for (const r of refusals) {
    hourly[hourIn(r.at, timeZone)]!.refused++;
    causes.refused[r.reason] = (causes.refused[r.reason] ?? 0) + 1;
  }
  return { hourly, causes };
}

/** Booklets issued per day over the last `days` days up to `today` (inclusive). */
export function issuedPerDay(db: Db, stationId: string, fromDay: string, today: string): number {
  const row = db
    .prepare(
      `SELECT count(*) AS n FROM booklet_events
        WHERE station_id = ? AND to_state = 'issued' AND day >= ? AND day <= ?`,
    )
    .get(stationId, fromDay, today) as { n: number };
  return row.n;
}
