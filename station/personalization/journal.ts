/**
 * Personalization jobs and their step journal (docs/personalization.md). Every step is written
 * (and committed) before the device is asked to act, so after a crash the journal says how far
 * the booklet got: whether a byte was written to its chip or printed on its page.
 */
import { preparedOnce, type Db } from '../../db/open.ts';
import { appendJournal, startOwnedJob, type JobKind } from '../intake/journal.ts';

export type PersoJobStatus =
  'running' | 'issued' | 'test_passed' | 'spoiled' | 'returned' | 'abandoned';

/** The steps of a job, in the order the default (encode first) runs them. */
export const PERSO_STEPS = [
  'take-application',
  'intake',
  'prepare',
  'chip-step',
  'chip-written',
  'border-read',
  'border-result',
  'print',
  'printed',
  'read-mrz',
  'mrz-result',
  'eject-output',
  'eject-blank',
  'issue',
  'spoil',
  'eject-reject',
  'return',
  'pause',
  'resume',
  'recovery',
] as const;
export type PersoStepName = (typeof PERSO_STEPS)[number];

/**
 * Steps whose entries are not forced to disk on their own (see UNFORCED_INTAKE_STEPS): they
 * read back or record a result, and the next forced entry (`print`, `mrz-result`, the job's
 * end) carries them to disk before the booklet is next printed on, moved or released. Every
 * other step is forced before the device acts, and so is the job's first chip write; the chip
 * writes after it are not (`journalPerso`'s `forced`), since from the first one on recovery
 * decides from what the chip holds, not from which write the journal names last.
 */
export const UNFORCED_PERSO_STEPS: ReadonlySet<PersoStepName> = new Set<PersoStepName>([
  'intake',
  'chip-written',
  'border-read',
  'border-result',
  'printed',
  'read-mrz',
]);

/** Steps that act on the booklet: from the first of these on, a failure spoils it. */
export const MARKING_STEPS: readonly PersoStepName[] = ['chip-step', 'print'];

export interface PersoJobRow {
  id: number;
  jobKind: JobKind;
  stationId: string;
  actorId: number;
  owner: string | null;
  startedAt: string;
  finishedAt: string | null;
  status: PersoJobStatus;
  applicationId: number | null;
  intakeJobId: number | null;
  bookletSerial: string | null;
  chipUid: string | null;
  documentNumber: string | null;
  sealedMrz: Buffer | null;
  sodSha256: string | null;
  signerCertificate: string | null;
  firstWriteAt: string | null;
  failedStep: string | null;
  reason: string | null;
}

export interface PersoJournalEntry {
  step: PersoStepName;
  at: string;
  detail: Record<string, unknown>;
}

export function startPersoJob(
  db: Db,
  job: { kind: JobKind; stationId: string; actorId: number; at: Date },
): number {
  return startOwnedJob(db, 'perso_jobs', job);
}

export function journalPerso(
  db: Db,
  jobId: number,
  step: PersoStepName,
  at: Date,
  detail: Record<string, unknown> = {},
  forced = !UNFORCED_PERSO_STEPS.has(step),
): void {
  appendJournal(db, 'perso_journal', jobId, step, at, detail, forced);
}

type Facts = Partial<{
  applicationId: number;
  intakeJobId: number;
  bookletSerial: string;
  chipUid: string;
  documentNumber: string;
  sealedMrz: Buffer;
  sodSha256: string;
  signerCertificate: string;
  firstWriteAt: string;
}>;

const COLUMNS: Record<keyof Facts, string> = {
  applicationId: 'application_id',
  intakeJobId: 'intake_job_id',
  bookletSerial: 'booklet_serial',
  chipUid: 'chip_uid',
  documentNumber: 'document_number',
  sealedMrz: 'sealed_mrz',
  sodSha256: 'sod_sha256',
  signerCertificate: 'signer_certificate',
  firstWriteAt: 'first_write_at',
};

/** Records what the job learnt (only while it runs). */
export function recordPersoFacts(db: Db, jobId: number, f: Facts): void {
  const keys = (Object.keys(f) as (keyof Facts)[]).filter((k) => f[k] !== undefined);
  if (keys.length === 0) return;
  preparedOnce(
    db,
    `UPDATE perso_jobs SET ${keys.map((k) => `${COLUMNS[k]} = ?`).join(', ')}
     WHERE id = ? AND status = 'running'`,
  ).run(...keys.map((k) => f[k]!), jobId);
}

/** Ends a running job; its sealed MRZ is erased with it. */
export function finishPersoJob(
  db: Db,
  jobId: number,
  status: Exclude<PersoJobStatus, 'running'>,
  at: Date,
  extra: { failedStep?: string; reason?: string } = {},
): void {
  const r = preparedOnce(
    db,
    `UPDATE perso_jobs SET status = ?, finished_at = ?, sealed_mrz = NULL,
         failed_step = coalesce(?, failed_step), reason = coalesce(?, reason)
       WHERE id = ? AND status = 'running'`,
  ).run(status, at.toISOString(), extra.failedStep ?? null, extra.reason ?? null, jobId);
  if (r.changes !== 1) throw new Error(`personalization job ${jobId} cannot become ${status}`);
}

interface Row {
  id: number;
  job_kind: JobKind;
  station_id: string;
  actor_id: number;
  owner: string | null;
  started_at: string;
  finished_at: string | null;
  status: PersoJobStatus;
  application_id: number | null;
  intake_job_id: number | null;
  booklet_serial: string | null;
  chip_uid: string | null;
  document_number: string | null;
  sealed_mrz: Buffer | null;
  sod_sha256: string | null;
  signer_certificate: string | null;
  first_write_at: string | null;
  failed_step: string | null;
  reason: string | null;
}

const toJob = (r: Row): PersoJobRow => ({
  id: r.id,
  jobKind: r.job_kind,
  stationId: r.station_id,
  actorId: r.actor_id,
  owner: r.owner,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  status: r.status,
  applicationId: r.application_id,
  intakeJobId: r.intake_job_id,
  bookletSerial: r.booklet_serial,
  chipUid: r.chip_uid,
  documentNumber: r.document_number,
  sealedMrz: r.sealed_mrz,
  sodSha256: r.sod_sha256,
  signerCertificate: r.signer_certificate,
  firstWriteAt: r.first_write_at,
  failedStep: r.failed_step,
  reason: r.reason,
});

export function getPersoJob(db: Db, jobId: number): PersoJobRow | undefined {
  const r = preparedOnce(db, 'SELECT * FROM perso_jobs WHERE id = ?').get(jobId) as Row | undefined;
  return r ? toJob(r) : undefined;
}

export function listPersoJobs(
  db: Db,
  opts: { status?: PersoJobStatus[]; notOwner?: string; limit?: number } = {},
): PersoJobRow[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (opts.status?.length) {
    where.push(`status IN (${opts.status.map(() => '?').join(',')})`);
    args.push(...opts.status);
  }
  if (opts.notOwner !== undefined) {
    where.push('owner IS NOT ?');
    args.push(opts.notOwner);
  }
  const sql = `SELECT * FROM perso_jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY id ${opts.limit ? `DESC LIMIT ${Math.floor(opts.limit)}` : ''}`;
  return (db.prepare(sql).all(...args) as Row[]).map(toJob);
}

export function persoJournal(db: Db, jobId: number): PersoJournalEntry[] {
  return (
    preparedOnce(db, 'SELECT step, at, detail FROM perso_journal WHERE job_id = ? ORDER BY id').all(
      jobId,
    ) as { step: PersoStepName; at: string; detail: string }[]
  ).map((r) => ({
    step: r.step,
    at: r.at,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
  }));
}

/** The job's steps and when each was journaled (the issuance record's), without their details. */
export function persoJournalSteps(db: Db, jobId: number): { step: PersoStepName; at: string }[] {
  return preparedOnce(db, 'SELECT step, at FROM perso_journal WHERE job_id = ? ORDER BY id').all(
    jobId,
  ) as { step: PersoStepName; at: string }[];
}
