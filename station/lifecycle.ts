/**
 * The booklet life cycle: the one place where a booklet's state is written. Every change is a
 * legal transition, recorded as an append-only event (booklet, from, to, actor, station, time,
 * reason) and counted in the station's daily flows, all in one transaction.
 */
import type { Db } from '../db/open.ts';
import { writeAudit } from './audit.ts';
import { enqueueOutbox } from './outbox.ts';
import { StationError, InvalidInputError } from './errors.ts';
import { getStationIdentity } from './identity.ts';
import { dayOf } from './time.ts';
import { requireRole, type Actor, type Role } from './users.ts';

export const BOOKLET_STATES = [
  'received',
  'allocated',
  'in_process',
  'issued',
  'spoiled',
  'voided',
  'refused',
  'test_consumed',
  'lost_stolen',
  'returned',
] as const;
export type BookletState = (typeof BOOKLET_STATES)[number];
export type StockClass = 'production' | 'test';

/** States in which a booklet is still stock on hand at its holding station. */
export const ON_HAND_STATES: readonly BookletState[] = ['received', 'allocated', 'in_process'];
/** Final states: a booklet that reaches one has left the stock for good. */
export const FINAL_STATES: readonly BookletState[] = BOOKLET_STATES.filter(
  (s) => !ON_HAND_STATES.includes(s),
);

/** Who may move a booklet from one state to another. Anything not listed is illegal. */
const TRANSITIONS: Readonly<Record<BookletState, Partial<Record<BookletState, readonly Role[]>>>> =
  {
    received: {
      allocated: ['supervisor'],
      voided: ['supervisor'],
      lost_stolen: ['supervisor'],
      returned: ['supervisor'],
    },
    allocated: {
      in_process: ['operator', 'supervisor', 'technician'],
      received: ['supervisor'],
      voided: ['supervisor'],
      lost_stolen: ['supervisor'],
      returned: ['supervisor'],
    },
    in_process: {
      issued: ['operator', 'supervisor'],
      spoiled: ['operator', 'supervisor', 'technician'],
      refused: ['operator', 'supervisor', 'technician'],
      test_consumed: ['technician', 'supervisor'],
      allocated: ['operator', 'supervisor', 'technician'],
      lost_stolen: ['supervisor'],
    },
    issued: {},
    spoiled: {},
    voided: {},
    refused: {},
    test_consumed: {},
    lost_stolen: {},
    returned: {},
  };

/** The states a booklet may go to from `from` (for any role). */
export function nextStates(from: BookletState): BookletState[] {
  return Object.keys(TRANSITIONS[from]) as BookletState[];
}

/** True if the state graph has an edge from `from` to `to` (whatever the role). */
export function isLegalTransition(from: BookletState, to: BookletState): boolean {
  return TRANSITIONS[from][to] !== undefined;
}

export function isBookletState(s: string): s is BookletState {
  return (BOOKLET_STATES as readonly string[]).includes(s);
}

/** A transition the life cycle forbids (wrong state, or test stock where it may not go). */
export class IllegalTransitionError extends StationError {
  constructor(
    readonly serial: string,
    readonly from: BookletState,
    readonly to: BookletState,
    why?: string,
  ) {
    super(
      `booklet ${serial} cannot go from ${from} to ${to}` + (why ? `: ${why}` : ''),
      'illegal_transition',
    );
    this.name = 'IllegalTransitionError';
  }
}

export class UnknownBookletError extends StationError {
  constructor(readonly serial: string) {
    super(`no booklet with serial ${serial} is known to this station`, 'unknown_booklet');
    this.name = 'UnknownBookletError';
  }
}

/**
 * The rules beyond the state graph, checked for every transition: test stock never becomes a
 * passport, production stock is never used up by tests, a technician handles only test stock.
 */
function checkRules(
  serial: string,
  stockClass: StockClass,
  from: BookletState,
  to: BookletState,
  actor: Actor,
): void {
  const roles = TRANSITIONS[from][to];
  if (!roles) throw new IllegalTransitionError(serial, from, to);
  if (stockClass === 'test' && to === 'issued')
    throw new IllegalTransitionError(serial, from, to, 'test stock can never be issued');
  if (stockClass === 'production' && to === 'test_consumed')
    throw new IllegalTransitionError(serial, from, to, 'production stock is not used for tests');
  if (actor.role === 'technician' && stockClass !== 'test')
    requireRole(actor, ['operator', 'supervisor'], `move production booklet ${serial}`);
  requireRole(actor, roles, `move booklet ${serial} from ${from} to ${to}`);
}

/** Categories of daily flows. In: received, transfer_in. Out: the rest. */
export const INFLOW_CATEGORIES = ['received', 'transfer_in'] as const;
export const OUTFLOW_CATEGORIES = [
  'transfer_out',
  'issued',
  'spoiled',
  'voided',
  'refused',
  'test_consumed',
  'lost_stolen',
  'returned',
] as const;
export type FlowCategory = (typeof INFLOW_CATEGORIES)[number] | (typeof OUTFLOW_CATEGORIES)[number];

/** How one event moves stock: which station gains or loses a booklet, under which heading. */
export function flowsOf(
  from: BookletState | null,
  to: BookletState,
  fromHolder: string | null,
  toHolder: string,
): { station: string; category: FlowCategory }[] {
  if (from === null) return [{ station: toHolder, category: 'received' }];
  const wasOnHand = ON_HAND_STATES.includes(from);
  const isOnHand = ON_HAND_STATES.includes(to);
  if (wasOnHand && isOnHand) {
    if (fromHolder === toHolder) return [];
    return [
      { station: fromHolder ?? toHolder, category: 'transfer_out' },
      { station: toHolder, category: 'transfer_in' },
    ];
  }
  if (wasOnHand && !isOnHand)
    return [{ station: fromHolder ?? toHolder, category: to as FlowCategory }];
  return [];
}

interface BookletStateRow {
  id: number;
  serial: string;
  state: BookletState;
  stock_class: StockClass;
  holder_station: string;
}

export interface TransitionRequest {
  serial: string;
  to: BookletState;
  actor: Actor;
  /** Why (free text, required): "allocation", "chip write failed", "MRZ unreadable", ... */
  reason: string;
  /** Only for `allocated`: the station that will hold it (default: this station). */
  toStation?: string;
  at?: Date;
}

export interface TransitionResult {
  eventId: number;
  bookletId: number;
  serial: string;
  from: BookletState | null;
  to: BookletState;
  fromHolder: string | null;
  toHolder: string;
  at: string;
  day: string;
}

class Writer {
  readonly get;
  readonly update;
  readonly insertBooklet;
  readonly insertEvent;
  readonly bumpFlow;
  constructor(db: Db) {
    this.get = db.prepare(
      'SELECT id, serial, state, stock_class, holder_station FROM booklets WHERE serial = ?',
    );
    this.update = db.prepare(
      'UPDATE booklets SET state = ?, holder_station = ? WHERE id = ? AND state = ?',
    );
    this.insertBooklet = db.prepare(
      `INSERT INTO booklets (serial, chip_serial, chip_uid, batch_id, stock_class, state, holder_station)
       VALUES (?, ?, ?, ?, ?, 'received', ?)`,
    );
    this.insertEvent = db.prepare(
      `INSERT INTO booklet_events
         (booklet_id, from_state, to_state, from_holder, to_holder, actor_id, station_id, at, day, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.bumpFlow = db.prepare(
      `INSERT INTO daily_flows (day, station_id, category, n) VALUES (?, ?, ?, ?)
       ON CONFLICT (day, station_id, category) DO UPDATE SET n = n + excluded.n`,
    );
  }
}
const writers = new WeakMap<Db, Writer>();
function writerOf(db: Db): Writer {
  let w = writers.get(db);
  if (!w) {
    w = new Writer(db);
    writers.set(db, w);
  }
  return w;
}

class FlowTally {
  private readonly counts = new Map<string, number>();
  add(day: string, station: string, category: FlowCategory): void {
    const k = `${day}\u0000${station}\u0000${category}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }
  flush(w: Writer): void {
    for (const [k, n] of this.counts) {
      const [day, station, category] = k.split('\u0000');
      w.bumpFlow.run(day, station, category, n);
    }
    this.counts.clear();
  }
}

function checkReason(reason: string): string {
  const r = reason.trim();
  if (!r) throw new InvalidInputError('a reason is required for every booklet state change');
  if (r.length > 500) throw new InvalidInputError('the reason is longer than 500 characters');
  return r;
}

function applyOne(
  db: Db,
  w: Writer,
  tally: FlowTally,
  req: TransitionRequest,
  stationId: string,
  atIso: string,
  day: string,
): TransitionResult {
  const b = w.get.get(req.serial) as BookletStateRow | undefined;
  if (!b) throw new UnknownBookletError(req.serial);
  checkRules(b.serial, b.stock_class, b.state, req.to, req.actor);
  let toHolder = b.holder_station;
  if (req.to === 'allocated' && b.state === 'received') toHolder = req.toStation ?? stationId;
  else if (req.toStation !== undefined && req.toStation !== b.holder_station)
    throw new InvalidInputError(
      `a target station only applies to allocating received stock (booklet ${b.serial} is ${b.state})`,
    );
  const reason = checkReason(req.reason);
  const r = w.update.run(req.to, toHolder, b.id, b.state);
  if (r.changes !== 1) throw new Error(`booklet ${b.serial} changed under us`);
  const ev = w.insertEvent.run(
    b.id,
    b.state,
    req.to,
    b.holder_station,
    toHolder,
    req.actor.id,
    stationId,
    atIso,
    day,
    reason,
  );
  for (const f of flowsOf(b.state, req.to, b.holder_station, toHolder))
    tally.add(day, f.station, f.category);
  return {
    eventId: Number(ev.lastInsertRowid),
    bookletId: b.id,
    serial: b.serial,
    from: b.state,
    to: req.to,
    fromHolder: b.holder_station,
    toHolder,
    at: atIso,
    day,
  };
}

/**
 * Moves one booklet to a new state. Runs in a transaction, nested in the caller's if there is
 * one: wrap it with `db.transaction(() => { transition(...); enqueueOutbox(...); writeAudit(...) })`
 * to land the event, the outbox record and the audit entry together.
 * Throws UnknownBookletError, IllegalTransitionError, PermissionError or InvalidInputError.
 */
export function transition(db: Db, req: TransitionRequest): TransitionResult {
  return transitionMany(db, [req.serial], req)[0]!;
}

/**
 * Moves many booklets to the same state, all or nothing (the first refusal rolls back all).
 */
export function transitionMany(
  db: Db,
  serials: readonly string[],
  common: Omit<TransitionRequest, 'serial'>,
): TransitionResult[] {
  const { stationId, timeZone } = getStationIdentity(db);
  const at = common.at ?? new Date();
  const atIso = at.toISOString();
  const day = dayOf(at, timeZone);
  const w = writerOf(db);
  return db.transaction(() => {
    const tally = new FlowTally();
    const out = serials.map((serial) =>
      applyOne(db, w, tally, { ...common, serial }, stationId, atIso, day),
    );
    tally.flush(w);
    return out;
  })();
}

export interface NewBooklet {
  serial: string;
  chipSerial: string;
  chipUid: string | null;
}

/**
 * Enters newly delivered booklets into stock as `received` at this station. Only the stock
 * import calls this, inside its own transaction, after the manifest was verified.
 */
export function receiveBooklets(
  db: Db,
  args: {
    batchId: string;
    stockClass: StockClass;
    booklets: readonly NewBooklet[];
    actor: Actor;
    reason: string;
    at?: Date;
  },
): { received: number; firstEventId: number | null } {
  requireRole(args.actor, ['supervisor'], 'receive stock');
  const { stationId, timeZone } = getStationIdentity(db);
  const at = args.at ?? new Date();
  const atIso = at.toISOString();
  const day = dayOf(at, timeZone);
  const reason = checkReason(args.reason);
  const w = writerOf(db);
  return db.transaction(() => {
    let firstEventId: number | null = null;
    for (const b of args.booklets) {
      const r = w.insertBooklet.run(
        b.serial,
        b.chipSerial,
        b.chipUid,
        args.batchId,
        args.stockClass,
        stationId,
      );
      const ev = w.insertEvent.run(
        r.lastInsertRowid,
        null,
        'received',
        null,
        stationId,
        args.actor.id,
        stationId,
        atIso,
        day,
        reason,
      );
      firstEventId ??= Number(ev.lastInsertRowid);
    }
    if (args.booklets.length > 0) w.bumpFlow.run(day, stationId, 'received', args.booklets.length);
    return { received: args.booklets.length, firstEventId };
  })();
}

/**
 * A transition together with the records that report it, in one transaction: the booklet
 * event, an optional outbox record for the central office and an optional audit entry. For
 * callers such as intake and personalization (e.g. `in_process -> issued` with an issuance
 * record, `in_process -> refused` with the refusal).
 */
export function recordTransition(
  db: Db,
  req: TransitionRequest,
  reports: {
    outbox?: { kind: string; payload: unknown; idempotencyKey?: string };
    audit?: { action: string; details?: unknown };
  } = {},
): TransitionResult & { outboxId: number | null; auditSeq: number | null } {
  return db.transaction(() => {
    const r = transition(db, req);
    const at = new Date(r.at);
    const box = reports.outbox
      ? enqueueOutbox(db, reports.outbox.kind, reports.outbox.payload, {
          idempotencyKey: reports.outbox.idempotencyKey,
          at,
        })
      : null;
    const entry = reports.audit
      ? writeAudit(db, {
          actor: req.actor,
          action: reports.audit.action,
          details: reports.audit.details ?? {
            serial: r.serial,
            from: r.from,
            to: r.to,
            reason: req.reason,
          },
          at,
        })
      : null;
    return { ...r, outboxId: box?.id ?? null, auditSeq: entry?.seq ?? null };
  })();
}
