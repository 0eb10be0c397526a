/** Read-only queries over booklets and their events. Writes live in lifecycle.ts only. */
import { preparedOnce, type Db } from '../db/open.ts';
import { ON_HAND_STATES, type BookletState, type StockClass } from './lifecycle.ts';

export interface BookletInfo {
  id: number;
  serial: string;
  chipSerial: string;
  chipUid: string | null;
  batchId: string;
  agencyCode: string;
  profileId: string;
  stockClass: StockClass;
  state: BookletState;
  /** The station holding the booklet (the one it is allocated to, once allocated). */
  holderStation: string;
  /** Set once the booklet was allocated (and while it stays allocated or in process). */
  allocatedStation: string | null;
}

export interface BookletEvent {
  id: number;
  from: BookletState | null;
  to: BookletState;
  fromHolder: string | null;
  toHolder: string;
  actor: string;
  stationId: string;
  at: string;
  day: string;
  reason: string;
}

interface Row {
  id: number;
  serial: string;
  chip_serial: string;
  chip_uid: string | null;
  batch_id: string;
  agency_code: string;
  profile_id: string;
  stock_class: StockClass;
  state: BookletState;
  holder_station: string;
}

const SELECT = `SELECT b.id, b.serial, b.chip_serial, b.chip_uid, b.batch_id, t.agency_code, t.profile_id,
  b.stock_class, b.state, b.holder_station FROM booklets b JOIN batches t ON t.batch_id = b.batch_id`;

function toInfo(r: Row): BookletInfo {
  return {
    id: r.id,
    serial: r.serial,
    chipSerial: r.chip_serial,
    chipUid: r.chip_uid,
    batchId: r.batch_id,
    agencyCode: r.agency_code,
    profileId: r.profile_id,
    stockClass: r.stock_class,
    state: r.state,
    holderStation: r.holder_station,
    allocatedStation: r.state === 'allocated' || r.state === 'in_process' ? r.holder_station : null,
  };
}

/** Looks a booklet up by its printed serial. */
export function lookupBooklet(db: Db, serial: string): BookletInfo | undefined {
  const r = preparedOnce(db, `${SELECT} WHERE b.serial = ?`).get(serial) as Row | undefined;
  return r ? toInfo(r) : undefined;
}

/** Looks a booklet up by its chip serial. */
export function lookupBookletByChipSerial(db: Db, chipSerial: string): BookletInfo | undefined {
  const r = preparedOnce(db, `${SELECT} WHERE b.chip_serial = ?`).get(chipSerial) as
    Row | undefined;
  return r ? toInfo(r) : undefined;
}

export function listBooklets(
  db: Db,
  filter: { batchId?: string; state?: BookletState; limit?: number } = {},
): BookletInfo[] {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.batchId) {
    where.push('b.batch_id = ?');
    params.push(filter.batchId);
  }
  if (filter.state) {
    where.push('b.state = ?');
    params.push(filter.state);
  }
  const sql = `${SELECT} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY b.serial LIMIT ?`;
  return (db.prepare(sql).all(...params, filter.limit ?? 1000) as Row[]).map(toInfo);
}

/** The event history of one booklet, oldest first. */
export function bookletHistory(db: Db, serial: string): BookletEvent[] {
  return db
    .prepare(
      `SELECT e.id, e.from_state AS "from", e.to_state AS "to", e.from_holder AS fromHolder,
              e.to_holder AS toHolder, u.username AS actor, e.station_id AS stationId, e.at, e.day, e.reason
       FROM booklet_events e JOIN booklets b ON b.id = e.booklet_id JOIN users u ON u.id = e.actor_id
       WHERE b.serial = ? ORDER BY e.id`,
    )
    .all(serial) as BookletEvent[];
}

/** Booklets held by a station in each state that counts as on hand (zero counts included). */
export function stockOnHand(db: Db, stationId: string): { state: BookletState; count: number }[] {
  const rows = db
    .prepare(`SELECT state, count(*) AS n FROM booklets WHERE holder_station = ? GROUP BY state`)
    .all(stationId) as { state: BookletState; n: number }[];
  const by = new Map(rows.map((r) => [r.state, r.n]));
  return ON_HAND_STATES.map((state) => ({ state, count: by.get(state) ?? 0 }));
}
