/**
 * Recovery of personalization jobs left unfinished by a station process that is gone, from
 * evidence (docs/personalization.md, "Recovery"). Like intake recovery, it runs only in the
 * process holding the data directory's lock and settles only other sessions' jobs.
 *
 * - Nothing written or printed (the journal has no chip write and no print step: each is
 *   journaled before the device is asked): the booklet goes back to stock, blank; the
 *   application back to the queue.
 * - Something written or printed: the booklet in the transport is read. A chip that reads back
 *   completely as a border reader reads it (BAC with the job's MRZ, passive authentication
 *   against our CSCA, DG1 = MRZ, Active Authentication), with the SOD the journal recorded and
 *   the chip UID intake saw, AND a printed page whose MRZ the camera reads back equal to DG1
 *   finish the job: issued. Anything else is spoiled, with the reason.
 * - Recovery does not move a printed booklet back to the encoder (not every transport can):
 *   at the print head, the chip evidence is the border read-back the job itself recorded after
 *   the chip was locked (journal `border-result`: passed, with the SOD digest), and the printed
 *   MRZ is read now. At the encoder after a page printed first (`print-first`), the page
 *   evidence is the job's own `mrz-result` (the camera cannot see the page there).
 * - The transport is empty: if the journal shows every check passed and the eject to the output
 *   tray ordered, the passport is in the output tray: issued. Otherwise spoiled (not found).
 *
 * Every decision is audited (`personalization.recovered`) and listed by `station recover`.
 */
import { createHash } from 'node:crypto';
import type { EncoderClient } from '../../drivers/encoder.ts';
import type { DevicePermit } from '../../drivers/permit.ts';
import type { PrinterClient } from '../../drivers/printer.ts';
import { DeviceError, Status } from '../../drivers/protocol.ts';
import type { Db } from '../../db/open.ts';
import { readAsBorder } from '../../mrtd/border-reader.ts';
import { markPersonalized, returnToQueue } from '../applications/index.ts';
import { writeAudit } from '../audit.ts';
import { lookupBooklet } from '../booklets.ts';
import { permitRecoveryRead, revokePermit } from '../device-gate.ts';
import { getStationIdentity } from '../identity.ts';
import { finishJob, getJob } from '../intake/journal.ts';
import { recoverIntakeJobs, type RecoveryResult } from '../intake/recovery.ts';
import type { ApplicationDataKey } from '../keys/data-key.ts';
import { transition } from '../lifecycle.ts';
import { enqueueOutbox } from '../outbox.ts';
import type { StationLock } from '../station-lock.ts';
import { requireRole, type Actor } from '../users.ts';
import { deviceAnswer, insertIssuance, mrzAad } from './job.ts';
import {
  finishPersoJob,
  journalPerso,
  listPersoJobs,
  persoJournal,
  persoJournalSteps,
  type PersoJobRow,
  type PersoJournalEntry,
} from './journal.ts';

export type RecoveryOutcome = 'issued' | 'test_consumed' | 'spoiled' | 'returned' | 'abandoned';

export interface RecoveredPersoJob {
  jobId: number;
  serial: string | null;
  applicationId: number | null;
  outcome: RecoveryOutcome;
  /** The evidence and the decision, in words (no personal data). */
  decision: string;
  ejectError?: string;
}

export interface PersoRecoveryResult {
  jobs: RecoveredPersoJob[];
  /** Jobs that need the device (or an operator's sign-in) to be settled; left as they were. */
  pending: { jobId: number; serial: string | null; reason: string }[];
}

export interface RecoveryDevices {
  printer: PrinterClient;
  encoder: EncoderClient;
}

export interface PersoRecoveryOptions {
  db: Db;
  lock: StationLock;
  actor: Actor;
  /** The printer and encoder: without them, jobs that wrote or printed stay pending. */
  devices?: RecoveryDevices;
  dataKey?: ApplicationDataKey;
  /** CSCAs by job kind: the chip of a production job must verify against production's. */
  cscas?: { production?: string; test?: string };
  now?: () => Date;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const last = (j: PersoJournalEntry[], step: string): PersoJournalEntry | undefined =>
  j.findLast((e) => e.step === step);

/** Settles the personalization jobs of dead processes. */
export async function recoverPersonalizationJobs(
  opts: PersoRecoveryOptions,
): Promise<PersoRecoveryResult> {
  const { db, lock, actor } = opts;
  const now = opts.now ?? (() => new Date());
  requireRole(actor, ['operator', 'supervisor', 'technician', 'admin'], 'recover jobs');
  if (!lock.held) throw new Error('recovery needs a held station lock');
  const result: PersoRecoveryResult = { jobs: [], pending: [] };
  const open = listPersoJobs(db, { status: ['running'], notOwner: lock.holder.session });
  for (const job of open) {
    const j = persoJournal(db, job.id);
    const marked = job.firstWriteAt !== null;
    // Queue moves need an operator or supervisor (station/applications).
    if (job.applicationId !== null && actor.role !== 'operator' && actor.role !== 'supervisor') {
      result.pending.push({
        jobId: job.id,
        serial: job.bookletSerial,
        reason: 'its application must be settled by an operator or a supervisor',
      });
      continue;
    }
    if (!marked) {
      result.jobs.push(await settleUnwritten(opts, job, now()));
      continue;
    }
    if (!opts.devices || !opts.dataKey || !job.sealedMrz) {
      result.pending.push({
        jobId: job.id,
        serial: job.bookletSerial,
        reason:
          'its booklet was written or printed: it is settled by reading it, which needs the printer and encoder (station recover --port)',
      });
      continue;
    }
    result.jobs.push(await settleFromEvidence(opts, job, j, now));
  }
  if (result.jobs.length > 0)
    writeAudit(db, {
      actor,
      action: 'personalization.recovered',
      details: {
        jobs: result.jobs.map((r) => ({
          jobId: r.jobId,
          serial: r.serial,
          applicationId: r.applicationId,
          outcome: r.outcome,
          decision: r.decision,
        })),
      },
    });
  return result;
}

/** Nothing reached the booklet: back to stock (blank), the application back to the queue. */
async function settleUnwritten(
  opts: PersoRecoveryOptions,
  job: PersoJobRow,
  at: Date,
): Promise<RecoveredPersoJob> {
  const { db, actor } = opts;
  const serial = job.bookletSerial;
  const b = serial ? lookupBooklet(db, serial) : undefined;
  const intake = job.intakeJobId !== null ? getJob(db, job.intakeJobId) : undefined;
  const outcome: RecoveryOutcome = serial ? 'returned' : 'abandoned';
  const decision = serial
    ? 'nothing was written or printed (the journal shows no chip write and no print): the booklet goes back to stock and the application to the queue'
    : 'it stopped before a booklet was cleared for it: the application goes back to the queue';
  db.transaction(() => {
    journalPerso(db, job.id, 'recovery', at, { outcome });
    if (b?.state === 'in_process')
      transition(db, {
        serial: b.serial,
        to: 'allocated',
        actor,
        reason: `recovery: personalization ${job.id} wrote nothing`,
        at,
      });
    if (intake?.status === 'accepted')
      finishJob(db, intake.id, 'released', at, { reason: `personalization ${job.id} recovered` });
    if (job.applicationId !== null && applicationTaken(db, job.applicationId))
      returnToQueue(db, actor, job.applicationId, at);
    finishPersoJob(db, job.id, outcome, at, { reason: 'recovered: nothing written' });
  })();
  const r: RecoveredPersoJob = {
    jobId: job.id,
    serial,
    applicationId: job.applicationId,
    outcome,
    decision,
  };
  return r;
}

const applicationTaken = (db: Db, id: number): boolean =>
  db.prepare('SELECT status FROM applications WHERE id = ?').pluck().get(id) === 'taken';

async function settleFromEvidence(
  opts: PersoRecoveryOptions,
  job: PersoJobRow,
  j: PersoJournalEntry[],
  now: () => Date,
): Promise<RecoveredPersoJob> {
  const { db, actor } = opts;
  const { printer, encoder } = opts.devices!;
  const serial = job.bookletSerial!;
  const mrz = opts.dataKey!.unwrap(job.sealedMrz!, mrzAad(job.id)).toString('ascii');
  const csca = opts.cscas?.[job.jobKind];
  const recorded = last(j, 'border-result')?.detail as
    { ok?: boolean; sodSha256?: string | null; chipUid?: string } | undefined;
  const recordedOk =
    recorded?.ok === true &&
    recorded.sodSha256 === job.sodSha256 &&
    recorded.chipUid === job.chipUid;
  const mrzRecordedOk =
    (last(j, 'mrz-result')?.detail as { ok?: boolean } | undefined)?.ok === true;
  const prepared = last(j, 'prepare')?.detail as
    { dataGroupHashes?: Record<string, string> } | undefined;

  let permit: DevicePermit | undefined;
  let chipOk = false;
  let printOk = false;
  let dgHashes = prepared?.dataGroupHashes ?? {};
  const evidence: string[] = [];
  let inTransport = false;
  try {
    const s = await printer.status();
    inTransport = s.flags.BOOKLET_PRESENT;
    if (!inTransport) {
      chipOk = recordedOk;
      printOk = mrzRecordedOk && last(j, 'eject-output') !== undefined;
      evidence.push(
        printOk && chipOk
          ? 'the transport is empty and the journal shows the chip verified, the printed MRZ verified and the eject to the output tray ordered'
          : 'the booklet is not in the transport and the journal does not show a verified passport ejected to the output tray',
      );
    } else {
      permit = permitRecoveryRead(db, actor, { printer, encoder }, job.id);
      if (s.position === 'printer') {
        // Printed: read the page now; recovery does not move it back to the encoder.
        try {
          printOk = (await printer.readMrz()).join('') === mrz;
          evidence.push(
            printOk
              ? 'the printed MRZ reads back equal to DG1'
              : 'the printed MRZ differs from DG1',
          );
        } catch (e) {
          evidence.push(`the printed MRZ cannot be read: ${deviceAnswer(e)}`);
        }
        chipOk = recordedOk;
        evidence.push(
          chipOk
            ? 'the journal records the locked chip read back as a border reader would, with this SOD'
            : 'the journal records no passing border read-back of the chip',
        );
      } else {
        const printedSerial = await printer.readSerial();
        if (printedSerial !== serial) {
          evidence.push(`the booklet in the transport is ${printedSerial}, not this job's`);
        } else {
          if (s.position !== 'encoder') await printer.moveToEncoder(permit);
          encoder.setWrapper(undefined);
          await encoder.field(false);
          await encoder.field(true);
          const info = await encoder.detectChip().catch((e: unknown) => {
            evidence.push(`no chip answers: ${deviceAnswer(e)}`);
            return undefined;
          });
          if (info && info.uid.toString('hex').toUpperCase() !== job.chipUid)
            evidence.push('another chip answers in the booklet');
          else if (info && csca) {
            const report = await readAsBorder({
              transceive: (raw) => encoder.transmit(raw, permit),
              mrz,
              cscas: [csca],
              extendedLength: info.extendedLength,
            });
            const sod = report.files.get('EF.SOD');
            const sodOk = sod !== undefined && sha256(sod) === job.sodSha256;
            chipOk = report.ok && sodOk;
            if (chipOk)
              dgHashes = Object.fromEntries(
                [...report.files]
                  .filter(([n]) => n.startsWith('DG'))
                  .map(([n, b]) => [n, sha256(b)]),
              );
            evidence.push(
              chipOk
                ? 'the chip reads back completely as a border reader reads it, with the SOD the journal recorded'
                : `the chip does not verify: ${[...report.failed, ...(sodOk ? [] : ['sod.digest'])].join(', ')}`,
            );
          }
          // At the encoder the camera cannot see the page: a page printed first (`print-first`)
          // counts only as the job recorded it, its MRZ read back equal to DG1.
          printOk = mrzRecordedOk;
          evidence.push(
            printOk
              ? 'the journal records the page printed first and its MRZ read back equal to DG1'
              : 'the page was not printed',
          );
        }
      }
    }
  } catch (e) {
    evidence.push(`the device could not be read: ${deviceAnswer(e)}`);
  }

  const issue = chipOk && printOk;
  const at = now();
  const identity = getStationIdentity(db);
  const outcome: RecoveryOutcome = issue
    ? job.jobKind === 'test'
      ? 'test_consumed'
      : 'issued'
    : 'spoiled';
  const decision = `${evidence.join('; ')}: ${issue ? 'issued' : 'spoiled'}`;
  let ejectError: string | undefined;
  if (inTransport && permit) {
    try {
      await printer.eject(issue ? 'output' : 'reject', permit);
    } catch (e) {
      ejectError = deviceAnswer(e);
    } finally {
      revokePermit(permit, 'recovery decided');
    }
  } else if (permit) revokePermit(permit, 'recovery decided');

  db.transaction(() => {
    journalPerso(db, job.id, 'recovery', at, { outcome, evidence });
    const b = lookupBooklet(db, serial);
    const intake = job.intakeJobId !== null ? getJob(db, job.intakeJobId) : undefined;
    if (intake?.status === 'accepted')
      finishJob(db, intake.id, 'released', at, { reason: `personalization ${job.id} recovered` });
    if (b?.state === 'in_process')
      transition(db, {
        serial,
        to: issue ? (job.jobKind === 'test' ? 'test_consumed' : 'issued') : 'spoiled',
        actor,
        reason: `recovery of personalization ${job.id}: ${issue ? 'verified' : 'not verified'}`,
        at,
      });
    if (issue && job.jobKind === 'production') {
      markPersonalized(db, actor, job.applicationId!, job.documentNumber!, at);
      const record = {
        jobId: job.id,
        applicationId: job.applicationId!,
        documentNumber: job.documentNumber!,
        bookletSerial: serial,
        chipUid: job.chipUid!,
        dataGroupHashes: dgHashes,
        sodSha256: job.sodSha256!,
        signerCertificate: job.signerCertificate!,
        operator: actor.username,
        stationId: identity.stationId,
        steps: persoJournalSteps(db, job.id),
        checks: [
          { id: 'chip', ok: chipOk },
          { id: 'mrz.printed', ok: printOk },
        ],
        issuedAt: at.toISOString(),
      };
      insertIssuance(db, record, identity.timeZone, true);
      enqueueOutbox(
        db,
        'issuance',
        { ...record, recovered: true },
        {
          idempotencyKey: `${identity.stationId}/issuance/${job.id}`,
          at,
        },
      );
    } else if (!issue) {
      if (job.applicationId !== null && applicationTaken(db, job.applicationId))
        returnToQueue(db, actor, job.applicationId, at);
      enqueueOutbox(
        db,
        'spoilage',
        {
          jobId: job.id,
          stationId: identity.stationId,
          bookletSerial: serial,
          step: 'recovery',
          answer: decision,
          at: at.toISOString(),
          operator: actor.username,
        },
        { idempotencyKey: `${identity.stationId}/spoilage/${job.id}`, at },
      );
    }
    finishPersoJob(
      db,
      job.id,
      issue ? (job.jobKind === 'test' ? 'test_passed' : 'issued') : 'spoiled',
      at,
      {
        failedStep: issue ? undefined : 'recovery',
        reason: decision,
      },
    );
  })();
  return {
    jobId: job.id,
    serial,
    applicationId: job.applicationId,
    outcome,
    decision,
    ...(ejectError ? { ejectError } : {}),
  };
}

/**
 * After recovery: a booklet still in the transport (an intake a dead process left) is ejected,
 * to the output tray when the ledger has it back in stock, else to the reject tray.
 */
export async function clearTransportAfterRecovery(
  db: Db,
  actor: Actor,
  devices: RecoveryDevices,
): Promise<string | undefined> {
  const s = await devices.printer.status();
  if (!s.flags.BOOKLET_PRESENT) return undefined;
  let serial: string | undefined;
  if (s.position === 'reader' || s.position === 'encoder')
    serial = await devices.printer.readSerial().catch(() => undefined);
  const b = serial ? lookupBooklet(db, serial) : undefined;
  const tray = b?.state === 'allocated' ? 'output' : 'reject';
  const permit = permitRecoveryRead(db, actor, devices, 0);
  try {
    devices.encoder.setWrapper(undefined);
    await devices.printer.eject(tray, permit);
  } catch (e) {
    if (!(e instanceof DeviceError && e.status === Status.NO_BOOKLET)) throw e;
  } finally {
    revokePermit(permit, 'transport cleared');
  }
  writeAudit(db, {
    actor,
    action: 'recovery.transport_cleared',
    details: { serial: serial ?? null, tray },
  });
  return `${serial ?? 'an unidentified booklet'} left in the transport was ejected to the ${tray} tray`;
}

export interface StationRecovery {
  personalization: PersoRecoveryResult;
  intake: RecoveryResult;
  transport?: string;
}

/** What a station does on start (and `station recover`): personalization, intake, transport. */
export async function recoverStation(opts: PersoRecoveryOptions): Promise<StationRecovery> {
  const personalization = await recoverPersonalizationJobs(opts);
  const intake = recoverIntakeJobs(
    opts.db,
    opts.lock,
    opts.actor,
    (opts.now ?? (() => new Date()))(),
  );
  const transport =
    opts.devices && personalization.pending.length === 0
      ? await clearTransportAfterRecovery(opts.db, opts.actor, opts.devices)
      : undefined;
  return { personalization, intake, ...(transport ? { transport } : {}) };
}

/** What recovery decided, job by job, newest first (supervisors; no personal data). */
export function listRecoveryDecisions(
  db: Db,
  actor: Actor,
  limit = 50,
): {
  jobId: number;
  at: string;
  serial: string | null;
  applicationId: number | null;
  status: string;
  decision: string;
}[] {
  requireRole(actor, ['supervisor', 'admin'], 'see what recovery decided');
  return db
    .prepare(
      `SELECT j.id AS jobId, r.at AS at, j.booklet_serial AS serial,
           j.application_id AS applicationId, j.status AS status, coalesce(j.reason, '') AS decision
         FROM perso_journal r JOIN perso_jobs j ON j.id = r.job_id
         WHERE r.step = 'recovery' ORDER BY r.id DESC LIMIT ?`,
    )
    .all(Math.max(1, Math.min(limit, 10_000))) as {
    jobId: number;
    at: string;
    serial: string | null;
    applicationId: number | null;
    status: string;
    decision: string;
  }[];
}
