/**
 * The application queue: its states, the legal moves between them (each audited with the
 * application id only), and taking an application with its personal data unsealed for the
 * personalization job.
 *
 *   queued -> taken -> personalized        taken -> queued (the job failed: back in the queue)
 *   queued <-> on_hold                     queued | on_hold -> cancelled
 *
 * Personalized and cancelled are final: the application's sealed data and key are erased.
 */
import { preparedOnce, type Db } from '../../db/open.ts';
import { withDocumentNumber, type Application } from '../../mrtd/application.ts';
import { writeAudit } from '../audit.ts';
import { InvalidInputError, StationError } from '../errors.ts';
import type { ApplicationDataKey } from '../keys/data-key.ts';
import { requireRole, type Actor, type Role } from '../users.ts';
import type { ApplicationDetails } from './import.ts';
import { ApplicationIntegrityError, openField, unwrapApplicationKey } from './seal.ts';

export const APPLICATION_STATUSES = [
  'queued',
  'taken',
  'on_hold',
  'personalized',
  'cancelled',
] as const;
export type ApplicationStatus = (typeof APPLICATION_STATUSES)[number];

/** Every legal move. */
export const APPLICATION_TRANSITIONS: Readonly<
  Record<ApplicationStatus, readonly ApplicationStatus[]>
> = {
  queued: ['taken', 'on_hold', 'cancelled'],
  taken: ['queued', 'personalized'],
  on_hold: ['queued', 'cancelled'],
  personalized: [],
  cancelled: [],
};

/** Who may do what (checked here, whatever the caller checked before). */
const OPERATORS: readonly Role[] = ['operator', 'supervisor'];
const SUPERVISORS: readonly Role[] = ['supervisor'];

/** An application as the queue shows it: no personal data. */
export interface QueueEntry {
  id: number;
  status: ApplicationStatus;
  receivedAt: string;
  documentCode: string;
  issuingState: string;
  takenBy: string | null;
  takenAt: string | null;
  documentNumber: string | null;
  updatedAt: string;
}

/** A taken application with its personal data, for the personalization job. */
export interface TakenApplication {
  id: number;
  details: ApplicationDetails;
  face: Buffer;
  signature?: Buffer;
  /** The full application (validated again) once the booklet's serial is known. */
  toApplication(documentNumber: string): Application;
}

interface Row {
  id: number;
  status: ApplicationStatus;
  received_at: string;
  document_code: string;
  issuing_state: string;
  key_label: string;
  wrapped_key: Buffer | null;
  taken_by: number | null;
  taken_by_name: string | null;
  taken_at: string | null;
  document_number: string | null;
  updated_at: string;
}

const SELECT = `SELECT a.*, u.username AS taken_by_name FROM applications a
  LEFT JOIN users u ON u.id = a.taken_by`;

function entry(r: Row): QueueEntry {
  return {
    id: r.id,
    status: r.status,
    receivedAt: r.received_at,
    documentCode: r.document_code,
    issuingState: r.issuing_state,
    takenBy: r.taken_by_name,
    takenAt: r.taken_at,
    documentNumber: r.document_number,
    updatedAt: r.updated_at,
  };
}

function checkId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1)
    throw new InvalidInputError(
      `application id ${String(id)} is not valid: use a positive integer`,
    );
}

function load(db: Db, id: number): Row {
  checkId(id);
  const r = preparedOnce(db, `${SELECT} WHERE a.id = ?`).get(id) as Row | undefined;
  if (!r) throw new StationError(`no application ${id} at this station`, 'application_unknown');
  return r;
}

function illegal(r: Row, to: ApplicationStatus, action: string): StationError {
  const from = (Object.keys(APPLICATION_TRANSITIONS) as ApplicationStatus[]).filter((s) =>
    APPLICATION_TRANSITIONS[s].includes(to),
  );
  return new StationError(
    `application ${r.id} is ${r.status}: it cannot be ${action} (only an application that is ${from.join(' or ')} can)`,
    'application_state',
  );
}

/** Moves one application, checking the move is legal, and audits it; in the caller's
 * transaction (or its own). */
function move(
  db: Db,
  actor: Actor,
  id: number,
  to: ApplicationStatus,
  action: string,
  past: string,
  at: Date,
  set: { takenBy?: number | null; documentNumber?: string } = {},
): QueueEntry {
  return db
    .transaction((): QueueEntry => {
      const r = load(db, id);
      if (!APPLICATION_TRANSITIONS[r.status].includes(to)) throw illegal(r, to, past);
      const final = APPLICATION_TRANSITIONS[to].length === 0;
      const when = at.toISOString();
      const takenBy = to === 'taken' ? actor.id : 'takenBy' in set ? set.takenBy : r.taken_by;
      preparedOnce(
        db,
        `UPDATE applications SET status = ?, updated_at = ?, taken_by = ?, taken_at = ?,
           document_number = ?, wrapped_key = ? WHERE id = ?`,
      ).run(
        to,
        when,
        takenBy ?? null,
        to === 'taken' ? when : r.taken_at,
        set.documentNumber ?? r.document_number,
        final ? null : r.wrapped_key,
        id,
      );
      // A final application keeps no personal data: nothing more will be made from it.
      if (final) preparedOnce(db, 'DELETE FROM application_data WHERE application_id = ?').run(id);
      writeAudit(db, {
        actor,
        action,
        details: { applicationId: id, from: r.status, to },
        at,
      });
      return entry(load(db, id));
    })
    .immediate();
}

/** The queue without personal data: applications not yet final, or all with `all`. Operators
 * and supervisors. Queued applications come in the order takeNext takes them. */
export function listQueue(db: Db, actor: Actor, opts: { all?: boolean } = {}): QueueEntry[] {
  requireRole(actor, OPERATORS, 'see the application queue');
  const where = opts.all ? '' : `WHERE a.status IN ('queued','taken','on_hold')`;
  return (db.prepare(`${SELECT} ${where} ORDER BY a.id`).all() as Row[]).map(entry);
}

function unseal(db: Db, keys: ApplicationDataKey, r: Row): TakenApplication {
  if (!r.wrapped_key)
    throw new StationError(
      `application ${r.id} is ${r.status}: its personal data was erased`,
      'application_erased',
    );
  const key = unwrapApplicationKey(keys, r.id, r.key_label, r.wrapped_key);
  try {
    const sealed = new Map(
      (
        preparedOnce(db, 'SELECT field, sealed FROM application_data WHERE application_id = ?').all(
          r.id,
        ) as { field: string; sealed: Buffer }[]
      ).map((x) => [x.field, x.sealed]),
    );
    const details = sealed.get('details');
    const face = sealed.get('face');
    if (!details) throw new ApplicationIntegrityError(r.id, 'details');
    if (!face) throw new ApplicationIntegrityError(r.id, 'face');
    const detailsText = openField(key, r.id, 'details', details);
    const data = JSON.parse(detailsText.toString('utf8')) as ApplicationDetails;
    detailsText.fill(0);
    const signature = sealed.get('signature');
    const taken: TakenApplication = {
      id: r.id,
      details: data,
      face: openField(key, r.id, 'face', face),
      toApplication: (documentNumber) => withDocumentNumber(data, documentNumber),
    };
    if (signature) taken.signature = openField(key, r.id, 'signature', signature);
    return taken;
  } finally {
    key.fill(0);
  }
}

/** Takes a queued application for a personalization job: its data unsealed, the application
 * marked taken by the actor, audited. Sealed data that does not decrypt puts the application on
 * hold (audited) for a supervisor, and throws ApplicationIntegrityError naming what failed. */
export function take(
  db: Db,
  keys: ApplicationDataKey,
  actor: Actor,
  id: number,
  at = new Date(),
): TakenApplication {
  requireRole(actor, OPERATORS, 'take applications');
  try {
    return db
      .transaction((): TakenApplication => {
        const r = load(db, id);
        if (r.status !== 'queued') throw illegal(r, 'taken', 'taken');
        const taken = unseal(db, keys, r);
        move(db, actor, id, 'taken', 'application.taken', 'taken', at);
        return taken;
      })
      .immediate();
  } catch (e) {
    if (e instanceof ApplicationIntegrityError) {
      move(db, actor, id, 'on_hold', 'application.held_integrity', 'put on hold', at);
    }
    throw e;
  }
}

/** Takes the oldest queued application; undefined when the queue is empty. */
export function takeNext(
  db: Db,
  keys: ApplicationDataKey,
  actor: Actor,
  at = new Date(),
): TakenApplication | undefined {
  requireRole(actor, OPERATORS, 'take applications');
  const id = db
    .prepare("SELECT id FROM applications WHERE status = 'queued' ORDER BY id LIMIT 1")
    .pluck()
    .get() as number | undefined;
  return id === undefined ? undefined : take(db, keys, actor, id, at);
}

/** The job failed before the booklet was issued: the application goes back to the queue. */
export function returnToQueue(db: Db, actor: Actor, id: number, at = new Date()): QueueEntry {
  requireRole(actor, OPERATORS, 'return applications to the queue');
  return move(db, actor, id, 'queued', 'application.returned', 'returned to the queue', at, {
    takenBy: null,
  });
}

/**
 * The booklet was issued: the application is personalized with `documentNumber` (the booklet's
 * printed serial) and its personal data erased. Synchronous and transaction-compatible: the job
 * calls it inside its issuance transaction, so both commit or neither does.
 */
export function markPersonalized(
  db: Db,
  actor: Actor,
  id: number,
  documentNumber: string,
  at = new Date(),
): QueueEntry {
  requireRole(actor, OPERATORS, 'mark applications personalized');
  if (!/^[A-Z0-9]{1,9}$/.test(documentNumber))
    throw new InvalidInputError(
      `document number ${JSON.stringify(documentNumber)} is not valid: 1-9 characters A-Z, 0-9`,
    );
  return db
    .transaction((): QueueEntry => {
      const used = db
        .prepare('SELECT id FROM applications WHERE document_number = ?')
        .pluck()
        .get(documentNumber) as number | undefined;
      if (used !== undefined)
        throw new StationError(
          `document number ${documentNumber} was already given to application ${used}`,
          'document_number_used',
        );
      return move(db, actor, id, 'personalized', 'application.personalized', 'personalized', at, {
        documentNumber,
      });
    })
    .immediate();
}

/** A supervisor puts a queued application on hold: takeNext passes over it. */
export function hold(db: Db, actor: Actor, id: number, at = new Date()): QueueEntry {
  requireRole(actor, SUPERVISORS, 'put applications on hold');
  return move(db, actor, id, 'on_hold', 'application.held', 'put on hold', at);
}

/** A supervisor releases an application on hold back to the queue. */
export function release(db: Db, actor: Actor, id: number, at = new Date()): QueueEntry {
  requireRole(actor, SUPERVISORS, 'release applications');
  return move(db, actor, id, 'queued', 'application.released', 'released', at);
}

/** A supervisor cancels a queued or held application, for good; its personal data is erased. */
export function cancel(db: Db, actor: Actor, id: number, at = new Date()): QueueEntry {
  requireRole(actor, SUPERVISORS, 'cancel applications');
  return move(db, actor, id, 'cancelled', 'application.cancelled', 'cancelled', at);
}

/** One application for a supervisor: the queue entry, and its personal data while the station
 * still holds it (the viewing is audited). */
export function showApplication(
  db: Db,
  keys: ApplicationDataKey | undefined,
  actor: Actor,
  id: number,
  at = new Date(),
): QueueEntry & {
  details?: ApplicationDetails;
  face?: { bytes: number };
  signature?: { bytes: number };
} {
  requireRole(actor, SUPERVISORS, "see an application's personal data");
  const r = load(db, id);
  if (!keys || !r.wrapped_key) return entry(r);
  const a = unseal(db, keys, r);
  writeAudit(db, { actor, action: 'application.shown', details: { applicationId: id }, at });
  const shown = { ...entry(r), details: a.details, face: { bytes: a.face.length } };
  return a.signature ? { ...shown, signature: { bytes: a.signature.length } } : shown;
}
