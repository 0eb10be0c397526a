/**
 * Intake jobs and their step journal. Every step is written before the device is asked to act,
 * so after a crash the journal says how far a booklet got.
 */
import type { Statement } from 'better-sqlite3';
import { commitWithoutSync, preparedOnce, type Db } from '../../db/open.ts';
import { StationError } from '../errors.ts';
import { heldLockOfDatabase, isFileDatabase } from '../station-lock.ts';

export type JobKind = 'production' | 'test';
export type JobStatus = 'running' | 'accepted' | 'refused' | 'released' | 'interrupted' | 'failed';

/** The steps of intake, in order (docs/intake.md). */
export const INTAKE_STEPS = [
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
  'refuse',
  'eject-reject',
  'release',
  'eject-output',
  'fail',
] as const;
export type IntakeStep = (typeof INTAKE_STEPS)[number];

/**
 * Steps that only read the booklet or decide: nothing moves, nothing is written. Their entries
 * are committed without an fsync of their own (commitWithoutSync): they survive a crash of the
 * station process and reach the disk with the next entry that is forced, the one written before
 * the booklet next moves (`move-to-encoder`, `accept`, an eject). Every other step is forced to
 * disk before the device acts. After a power cut the journal can lack an unforced entry; the
 * booklet is then where the last forced entry left it, and recovery decides the same.
 */
export const UNFORCED_INTAKE_STEPS: ReadonlySet<IntakeStep> = new Set<IntakeStep>([
  'read-printed-serial',
  'field-on',
  'detect-chip',
  'read-chip-record',
  'check',
  'read-chip-life-cycle',
  'select-application',
  'transport-authentication',
  'refuse',
]);

export interface IntakeJobRow {
  id: number;
  jobKind: JobKind;
  stationId: string;
  actorId: number;
  startedAt: string;
  finishedAt: string | null;
  status: JobStatus;
  printedSerial: string | null;
  chipSerial: string | null;
  chipUid: string | null;
  claimedAgency: string | null;
  chipProfile: string | null;
  keyVersion: number | null;
  reason: string | null;
  error: string | null;
  /** The lock session (station/station-lock.ts) of the process that ran the job. */
  owner: string | null;
}

export interface JournalEntry {
  step: IntakeStep;
  at: string;
  detail: Record<string, unknown>;
}

/** What intake has learnt about the booklet so far (stored on the job row). */
export interface JobFacts {
  printedSerial?: string;
  chipSerial?: string;
  chipUid?: string;
  claimedAgency?: string;
  chipProfile?: string;
  keyVersion?: number;
}

/** Intake was asked to run on a station database without holding its data directory. */
export class StationNotLockedError extends StationError {
  constructor(dbFile: string) {
    super(
      `intake needs this process to hold the station lock of ${dbFile}'s data directory ` +
        '(acquireStationLock): another process could otherwise settle its jobs as abandoned',
      'station_not_locked',
    );
    this.name = 'StationNotLockedError';
  }
}

/** Starts an intake job owned by this process (startOwnedJob). */
export function startJob(
  db: Db,
  job: { kind: JobKind; stationId: string; actorId: number; at: Date },
): number {
  return startOwnedJob(db, 'intake_jobs', job);
}

export function journalStep(
  db: Db,
  jobId: number,
  step: IntakeStep,
  at: Date,
  detail: Record<string, unknown> = {},
): void {
  appendJournal(db, 'intake_journal', jobId, step, at, detail, !UNFORCED_INTAKE_STEPS.has(step));
}

/**
 * Inserts a running job (intake or personalization) owned by this process: the session of the
 * data-directory lock it holds (a database in a file is refused without that lock; an
 * in-memory one has no other process).
 */
export function startOwnedJob(
  db: Db,
  table: 'intake_jobs' | 'perso_jobs',
  job: { kind: JobKind; stationId: string; actorId: number; at: Date },
): number {
  const lock = heldLockOfDatabase(db.name);
  if (!lock && isFileDatabase(db.name)) throw new StationNotLockedError(db.name);
  const r = preparedOnce(
    db,
    `INSERT INTO ${table} (job_kind, station_id, actor_id, started_at, status, owner)
       VALUES (?, ?, ?, ?, 'running', ?)`,
  ).run(job.kind, job.stationId, job.actorId, job.at.toISOString(), lock?.session ?? null);
  return Number(r.lastInsertRowid);
}

const journalInserts = new WeakMap<Db, Map<string, Statement>>();

/** The job's INSERT, prepared once per database handle (a journal entry is written per step). */
function journalInsert(db: Db, table: 'intake_journal' | 'perso_journal'): Statement {
  let byTable = journalInserts.get(db);
  if (!byTable) journalInserts.set(db, (byTable = new Map()));
  let st = byTable.get(table);
  if (!st)
    byTable.set(
      table,
      (st = db.prepare(`INSERT INTO ${table} (job_id, step, at, detail) VALUES (?, ?, ?, ?)`)),
    );
  return st;
}

/**
 * Appends one step to a job's journal, committed before the device is asked to act: `forced`
 * (the default) with its own fsync, or else without one (commitWithoutSync: durable against a
 * crash of this process, on disk with the next forced commit). Inside an open transaction the
 * entry commits with it.
 */
export function appendJournal(
  db: Db,
  table: 'intake_journal' | 'perso_journal',
  jobId: number,
  step: string,
  at: Date,
  detail: Record<string, unknown>,
  forced = true,
): void {
  const insert = (): void => {
    journalInsert(db, table).run(jobId, step, at.toISOString(), JSON.stringify(detail));
  };
  if (forced) insert();
  else commitWithoutSync(db, insert);
}

/** Records what intake read from the booklet (unforced, like the reading steps). */
export function recordFacts(db: Db, jobId: number, f: JobFacts): void {
  commitWithoutSync(db, () => updateFacts(db, jobId, f));
}

function updateFacts(db: Db, jobId: number, f: JobFacts): void {
  preparedOnce(
    db,
    `UPDATE intake_jobs SET
       printed_serial = coalesce(?, printed_serial), chip_serial = coalesce(?, chip_serial),
       chip_uid = coalesce(?, chip_uid), claimed_agency = coalesce(?, claimed_agency),
       chip_profile = coalesce(?, chip_profile), key_version = coalesce(?, key_version)
     WHERE id = ?`,
  ).run(
    f.printedSerial ?? null,
    f.chipSerial ?? null,
    f.chipUid ?? null,
    f.claimedAgency ?? null,
    f.chipProfile ?? null,
    f.keyVersion ?? null,
    jobId,
  );
}

/** Moves a job to a final status; only from the statuses that may lead there. */
export function finishJob(
  db: Db,
  jobId: number,
  status: Exclude<JobStatus, 'running'>,
  at: Date,
  extra: { reason?: string; error?: string } = {},
): void {
  const from: JobStatus[] = status === 'released' ? ['accepted'] : ['running'];
  const r = preparedOnce(
    db,
    `UPDATE intake_jobs SET status = ?, finished_at = ?, reason = coalesce(?, reason),
         error = coalesce(?, error)
       WHERE id = ? AND status IN (${from.map(() => '?').join(',')})`,
  ).run(status, at.toISOString(), extra.reason ?? null, extra.error ?? null, jobId, ...from);
  if (r.changes !== 1) throw new Error(`intake job ${jobId} cannot become ${status}`);
}

interface Row {
  id: number;
  job_kind: JobKind;
  station_id: string;
  actor_id: number;
  started_at: string;
  finished_at: string | null;
  status: JobStatus;
  printed_serial: string | null;
  chip_serial: string | null;
  chip_uid: string | null;
  claimed_agency: string | null;
  chip_profile: string | null;
  key_version: number | null;
  reason: string | null;
  error: string | null;
  owner: string | null;
}

function toJob(r: Row): IntakeJobRow {
  return {
    id: r.id,
    jobKind: r.job_kind,
    stationId: r.station_id,
    actorId: r.actor_id,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    status: r.status,
    printedSerial: r.printed_serial,
    chipSerial: r.chip_serial,
    chipUid: r.chip_uid,
    claimedAgency: r.claimed_agency,
    chipProfile: r.chip_profile,
    keyVersion: r.key_version,
    reason: r.reason,
    error: r.error,
    owner: r.owner,
  };
}

export function getJob(db: Db, jobId: number): IntakeJobRow | undefined {
  const r = preparedOnce(db, 'SELECT * FROM intake_jobs WHERE id = ?').get(jobId) as
    Row | undefined;
  return r ? toJob(r) : undefined;
}

export function listJobs(db: Db, opts: { status?: JobStatus[] } = {}): IntakeJobRow[] {
  const where = opts.status?.length
    ? `WHERE status IN (${opts.status.map(() => '?').join(',')})`
    : '';
  return (
    db
      .prepare(`SELECT * FROM intake_jobs ${where} ORDER BY id`)
      .all(...(opts.status ?? [])) as Row[]
  ).map(toJob);
}

export function jobJournal(db: Db, jobId: number): JournalEntry[] {
  return (
    db
      .prepare('SELECT step, at, detail FROM intake_journal WHERE job_id = ? ORDER BY id')
      .all(jobId) as { step: IntakeStep; at: string; detail: string }[]
  ).map((r) => ({
    step: r.step,
    at: r.at,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
  }));
}
