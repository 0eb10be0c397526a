/**
 * Closing the day (supervisors): the station's reconciliation of that day is taken as it stands
 * and written into the audit log, once. A day that does not balance is not closed: its
 * discrepancies must be resolved first (docs/ui.md, "Supervisor").
 */
import type { Db } from '../db/open.ts';
import { writeAudit } from './audit.ts';
import { InvalidInputError, StationError } from './errors.ts';
import { reconcileDay, type Reconciliation } from './reconcile.ts';
import { requireRole, type Actor } from './users.ts';

export const DAY_CLOSED_ACTION = 'day.closed';

export interface DayClosed {
  date: string;
  at: string;
  by: string;
}

/** The day's reconciliation does not balance: what is wrong, for the supervisor to resolve. */
export class DayNotBalancedError extends StationError {
  constructor(
    readonly date: string,
    readonly discrepancies: Reconciliation['discrepancies'],
    readonly flowMismatches: Reconciliation['flowMismatches'],
  ) {
    super(
      `${date} does not balance (${discrepancies.length} discrepancies, ${flowMismatches.length} ledger mismatches): resolve them before closing the day`,
      'does_not_balance',
    );
    this.name = 'DayNotBalancedError';
  }
}

/** The day was closed already (by whom and when). */
export class DayAlreadyClosedError extends StationError {
  constructor(readonly closed: DayClosed) {
    super(`${closed.date} was already closed by ${closed.by} at ${closed.at}`, 'closed');
    this.name = 'DayAlreadyClosedError';
  }
}

/** When (and by whom) the day was closed at this station, or undefined. */
export function dayClosed(db: Db, stationId: string, date: string): DayClosed | undefined {
  const row = db
    .prepare(
      `SELECT at, actor FROM audit_log
        WHERE action = ? AND station_id = ? AND json_extract(details, '$.date') = ?
        ORDER BY seq LIMIT 1`,
    )
    .get(DAY_CLOSED_ACTION, stationId, date) as { at: string; actor: string } | undefined;
  return row ? { date, at: row.at, by: row.actor } : undefined;
}

/**
 * Closes `date` (YYYY-MM-DD, the station's day; `today` is the station's today) at this
 * station. Refused for anyone but a supervisor, for a day still to come, a day already closed,
 * and a day whose reconciliation does not balance.
 */
export function closeDay(
  db: Db,
  actor: Actor,
  opts: { stationId: string; date: string; today: string },
): DayClosed & { closing: number } {
  requireRole(actor, ['supervisor'], 'close the day');
  const { stationId, date, today } = opts;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date))
    throw new InvalidInputError(`date ${JSON.stringify(date)} is not a YYYY-MM-DD day`);
  if (date > today)
    throw new InvalidInputError(`${date} has not come yet: close it on or after it`);
  return db.transaction(() => {
    const closed = dayClosed(db, stationId, date);
    if (closed) throw new DayAlreadyClosedError(closed);
    const r = reconcileDay(db, date, { stationId });
    const s = r.stations.find((x) => x.stationId === stationId);
    if (!r.balanced) throw new DayNotBalancedError(date, r.discrepancies, r.flowMismatches);
    const closing = s?.closing ?? 0;
    const entry = writeAudit(db, {
      actor,
      action: DAY_CLOSED_ACTION,
      stationId,
      details: {
        date,
        opening: s?.opening ?? 0,
        issued: s?.issued ?? 0,
        spoiled: s?.spoiled ?? 0,
        refused: s?.refused ?? 0,
        closing,
      },
    });
    return { date, at: entry.at, by: actor.username, closing };
  })();
}
