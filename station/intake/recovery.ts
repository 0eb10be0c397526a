/**
 * Recovery of intake jobs left unfinished by a station process that is gone (a crash, a kill,
 * a power cut). Only the process holding the data directory's lock recovers, and it settles
 * only jobs that another lock session started: while it holds the lock no other station
 * process is alive on this directory, so those sessions are over. Its own jobs are never
 * touched.
 */
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Db } from '../../db/open.ts';
import { writeAudit } from '../audit.ts';
import { lookupBooklet } from '../booklets.ts';
import { StationError } from '../errors.ts';
import { transition } from '../lifecycle.ts';
import type { StationLock } from '../station-lock.ts';
import { requireRole, type Actor } from '../users.ts';
import { finishJob, journalStep, type JobStatus } from './journal.ts';

/** What recovery decided for one job, and on what evidence. */
export interface RecoveredJob {
  jobId: number;
  /** The status the dead process left. */
  was: Extract<JobStatus, 'running' | 'accepted'>;
  /** The status recovery gave it. */
  now: Extract<JobStatus, 'interrupted' | 'released'>;
  printedSerial: string | null;
  /** The booklet's ledger state after recovery (undefined when not one of ours). */
  bookletState?: string;
  /** The evidence and the decision, in words. */
  decision: string;
}

export interface RecoveryResult {
  interrupted: number;
  released: number;
  jobs: RecoveredJob[];
}

/** Recovery was asked for without holding the lock of the database's data directory. */
export class RecoveryLockError extends StationError {
  constructor(message: string) {
    super(message, 'recovery_not_locked');
    this.name = 'RecoveryLockError';
  }
}

function checkLock(db: Db, lock: StationLock): void {
  if (!lock.held)
    throw new RecoveryLockError('recovery needs a held station lock; it was released');
  let dir: string;
  try {
    dir = realpathSync(dirname(db.name));
  } catch {
    throw new RecoveryLockError(`recovery needs a station database in a file, not ${db.name}`);
  }
  if (dir !== lock.dataDir)
    throw new RecoveryLockError(
      `recovery of ${db.name} needs the lock of its own data directory, not of ${lock.dataDir}`,
    );
}

/**
 * Settles the unfinished intake jobs of dead processes, from the evidence they left:
 * - a job still `running` never changed its booklet (acceptance and refusal change the
 *   booklet and finish the job in one transaction): it becomes `interrupted`, the booklet's
 *   state stays as it was, and reconciliation flags it until it is taken through intake again;
 * - a job `accepted` but never personalized gives its booklet back (in process → allocated):
 *   its chip cannot have been written without the secure channel that died with the process.
 * Writes one `intake.recovered` audit entry listing every decision (none when nothing to do).
 */
export function recoverIntakeJobs(
  db: Db,
  lock: StationLock,
  actor: Actor,
  at = new Date(),
): RecoveryResult {
  requireRole(actor, ['operator', 'supervisor', 'technician', 'admin'], 'recover intake jobs');
  checkLock(db, lock);
  const result: RecoveryResult = { interrupted: 0, released: 0, jobs: [] };
  db.transaction(() => {
    // Read inside the (immediate) transaction: nothing changes these jobs until it ends.
    const open = db
      .prepare(
        `SELECT id, status, printed_serial FROM intake_jobs
         WHERE status IN ('running','accepted') AND owner IS NOT ?
           -- A booklet a personalization job took on is settled by its recovery, from evidence
           -- (station/personalization/recovery.ts): its chip may have been written.
           AND id NOT IN (SELECT intake_job_id FROM perso_jobs
                          WHERE status = 'running' AND intake_job_id IS NOT NULL)
         ORDER BY id`,
      )
      .all(lock.holder.session) as {
      id: number;
      status: 'running' | 'accepted';
      printed_serial: string | null;
    }[];
    for (const job of open) {
      if (job.status === 'running') {
        journalStep(db, job.id, 'fail', at, { recovery: 'interrupted by a restart' });
        finishJob(db, job.id, 'interrupted', at, { error: 'interrupted by a restart' });
        result.interrupted++;
        const b = job.printed_serial ? lookupBooklet(db, job.printed_serial) : undefined;
        result.jobs.push({
          jobId: job.id,
          was: 'running',
          now: 'interrupted',
          printedSerial: job.printed_serial,
          ...(b ? { bookletState: b.state } : {}),
          decision:
            'its process stopped before a verdict; the booklet was left as it was: take it through intake again',
        });
        continue;
      }
      const b = job.printed_serial ? lookupBooklet(db, job.printed_serial) : undefined;
      const back = b?.state === 'in_process';
      if (back)
        transition(db, {
          serial: b.serial,
          to: 'allocated',
          actor,
          reason: `recovery: intake ${job.id} accepted, nothing written before the restart`,
          at,
        });
      journalStep(db, job.id, 'release', at, { recovery: true });
      finishJob(db, job.id, 'released', at);
      result.released++;
      result.jobs.push({
        jobId: job.id,
        was: 'accepted',
        now: 'released',
        printedSerial: job.printed_serial,
        ...(b ? { bookletState: back ? 'allocated' : b.state } : {}),
        decision: back
          ? 'accepted but never written (its secure channel died with its process): the booklet goes back to stock'
          : `accepted; the booklet is ${b?.state ?? 'unknown'} already, so only the job is closed`,
      });
    }
    if (result.jobs.length > 0)
      writeAudit(db, {
        actor,
        action: 'intake.recovered',
        details: {
          interrupted: result.interrupted,
          released: result.released,
          jobs: result.jobs.map((j) => ({ jobId: j.jobId, was: j.was, now: j.now })),
        },
        at,
      });
  })();
  return result;
}

/** `station recover`: the same recovery, asked for by a supervisor or an administrator. */
export function recoverAsSupervisor(
  db: Db,
  lock: StationLock,
  actor: Actor,
  at = new Date(),
): RecoveryResult {
  requireRole(actor, ['supervisor', 'admin'], 'run recovery');
  return recoverIntakeJobs(db, lock, actor, at);
}
