/**
 * The personalization job (docs/personalization.md): from an approved application and a booklet
 * cleared by intake to a verified passport in the output tray, recorded once.
 *
 *   take the application -> intake -> prepare LDS + SOD -> write the chip under the SCP03
 *   channel -> read it back as a border reader -> print the data page -> read the printed MRZ
 *   back -> eject to the output tray -> one transaction: issued, personalized, issuance record,
 *   outbox entry.
 *
 * Each step is journaled (committed) before the device is asked to act. A failure before the
 * first byte written or printed gives the booklet back to stock and the application back to the
 * queue; from the first byte on it spoils the booklet (reject tray). Faults that need a person
 * (jam, cover open, ribbon or ink out, hopper empty, reject tray full) pause the job through the
 * caller's `waitForOperator` and resume when cleared.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import type { EncoderClient } from '../../drivers/encoder.ts';
import { LinkError } from '../../drivers/link.ts';
import type { DevicePermit } from '../../drivers/permit.ts';
import type { PrinterClient } from '../../drivers/printer.ts';
import { DeviceError, Status } from '../../drivers/protocol.ts';
import { preparedOnce, type Db } from '../../db/open.ts';
import { buildLds, mrzOf, signLds, type Application } from '../../mrtd/application.ts';
import { readAsBorder, type BorderReport } from '../../mrtd/border-reader.ts';
import { dataPageLayers } from '../../mrtd/data-page.ts';
import {
  PersoWriteError,
  personalizationSteps,
  runPersonalization,
} from '../../mrtd/perso-commands.ts';
import {
  ApplicationIntegrityError,
  markPersonalized,
  returnToQueue,
  take,
  takeNext,
  type TakenApplication,
} from '../applications/index.ts';
import { writeAudit } from '../audit.ts';
import { lookupBooklet } from '../booklets.ts';
import { permitEjectAgain, permitForClearance, revokePermit } from '../device-gate.ts';
import { StationError } from '../errors.ts';
import { agencyName } from '../agencies.ts';
import { checkIssuanceAllowed } from '../sync/offline.ts';
import { getStationIdentity } from '../identity.ts';
import {
  IntakeDeviceError,
  intakeNextBooklet,
  type IntakeAccepted,
  type IntakeClearance,
} from '../intake/intake.ts';
import { finishJob, type JobKind } from '../intake/journal.ts';
import type { RefusalReason } from '../intake/reasons.ts';
import type { ApplicationDataKey } from '../keys/data-key.ts';
import type { TransportKeyCustody } from '../keys/custody.ts';
import { transition } from '../lifecycle.ts';
import { enqueueOutbox } from '../outbox.ts';
import { dayOf } from '../time.ts';
import { requireRole, type Actor } from '../users.ts';
import {
  finishPersoJob,
  journalPerso,
  persoJournalSteps,
  recordPersoFacts,
  startPersoJob,
  type PersoStepName,
} from './journal.ts';
import { pagePrinterOf, type DataPageToPrint, type PagePrinter } from './page-printer.ts';
import type { StationSigner } from './signers.ts';

/** Device statuses a person must clear; the job pauses on them. */
export const OPERATOR_FAULTS = {
  [Status.COVER_OPEN]: { flag: 'COVER_OPEN', instruction: 'close the printer cover' },
  [Status.JAM]: { flag: 'JAM', instruction: 'clear the booklet jam in the printer' },
  [Status.RIBBON_OUT]: { flag: 'RIBBON_OUT', instruction: 'replace the printer ribbon' },
  [Status.INK_OUT]: { flag: 'INK_OUT', instruction: 'replace the ink' },
  [Status.HOPPER_EMPTY]: {
    flag: 'HOPPER_EMPTY',
    instruction: 'load blank booklets into the input hopper',
  },
  [Status.REJECT_TRAY_FULL]: { flag: 'REJECT_TRAY_FULL', instruction: 'empty the reject tray' },
} as const;
type FaultFlag = (typeof OPERATOR_FAULTS)[keyof typeof OPERATOR_FAULTS]['flag'];

/** What the job asks of a person, and why. */
export interface OperatorPause {
  jobId: number;
  step: PersoStepName;
  /** The device status that stopped it (`JAM`, `RIBBON_OUT`, ...). */
  status: FaultFlag;
  instruction: string;
}

/** Resolves once the person has cleared the fault; rejects to give up (the job then ends). */
export type WaitForOperator = (pause: OperatorPause) => Promise<void>;

/** The application a job personalizes: one taken from the queue, or the test jobs' specimen. */
export type JobApplication = Omit<TakenApplication, 'id'> & { id: number | undefined };

export interface PersonalizeOptions {
  db: Db;
  actor: Actor;
  printer: PrinterClient;
  encoder: EncoderClient;
  /** The data page's way to the printer (default: pagePrinterOf(printer)). */
  pagePrinter?: PagePrinter;
  custody: TransportKeyCustody;
  /** The application data key: unseals the application, seals the MRZ kept for recovery. */
  dataKey: ApplicationDataKey;
  /** The production Document Signer (a TEST one for test jobs). */
  signer: StationSigner;
  /** The application to personalize (default: the next in the queue). */
  applicationId?: number;
  waitForOperator?: WaitForOperator;
  /** Called as each step is journaled (progress display). */
  onStep?: (step: PersoStepName, jobId: number) => void;
  /** Called with the data page once it is laid out, before anything is written (preview). */
  onPage?: (svg: string, jobId: number) => void;
  /** Booklets intake may refuse in a row before the job gives the application back (default 5). */
  maxRefusals?: number;
  now?: () => Date;
}

/** Internal: a test job (station/personalization/test-jobs.ts) runs the same code. */
export interface JobVariant {
  jobKind: JobKind;
  application: JobApplication;
  /** CSCAs that must NOT verify the chip (the production CSCA for a TEST booklet). */
  mustNotVerify?: string[];
}

export interface CheckResult {
  id: string;
  ok: boolean;
  detail?: string;
}

export type PersoOutcome =
  | {
      outcome: 'issued' | 'test_passed';
      jobId: number;
      applicationId: number | undefined;
      serial: string;
      documentNumber: string;
      chipUid: string;
      issuanceId?: number;
      checks: CheckResult[];
      refusals: { serial?: string; reason: RefusalReason }[];
      /** The booklet's file system as read back (for dumps and tests). */
      chipFiles: Map<string, Buffer>;
      /** The MRZ read back from the printed page. */
      printedMrz: string;
    }
  | {
      outcome: 'spoiled';
      jobId: number;
      applicationId: number | undefined;
      serial: string;
      step: PersoStepName;
      answer: string;
      refusals: { serial?: string; reason: RefusalReason }[];
      ejectError?: string;
    }
  | {
      outcome: 'returned';
      jobId: number;
      applicationId: number | undefined;
      serial?: string;
      step: PersoStepName;
      answer: string;
      refusals: { serial?: string; reason: RefusalReason }[];
      ejectError?: string;
    }
  | { outcome: 'no-application' };

/** A step of the job failed; `answer` is what the device (or the check) said. */
class JobFailure extends Error {
  constructor(
    readonly step: PersoStepName,
    readonly answer: string,
  ) {
    super(`${step}: ${answer}`);
  }
}

/** The operator gave up on a pause (the hook rejected). */
class PauseAbandoned extends Error {}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The device's answer in a few words (never personal data). */
export function deviceAnswer(e: unknown): string {
  if (e instanceof JobFailure) return e.answer;
  if (e instanceof DeviceError) return `${e.command} answered ${e.statusName}`;
  if (e instanceof LinkError) return `link ${e.kind}: ${e.message}`;
  if (e instanceof PersoWriteError)
    return e.sw === undefined ? e.message : `${e.message} (SW ${e.sw.toString(16).toUpperCase()})`;
  if (e instanceof IntakeDeviceError) return deviceAnswer(e.cause);
  return e instanceof Error ? e.message : String(e);
}

function faultOf(e: unknown): (typeof OPERATOR_FAULTS)[keyof typeof OPERATOR_FAULTS] | undefined {
  const cause = e instanceof IntakeDeviceError ? e.cause : e;
  if (cause instanceof DeviceError)
    return OPERATOR_FAULTS[cause.status as keyof typeof OPERATOR_FAULTS];
  return undefined;
}

/** The additional data binding a job's sealed MRZ to its row. */
export const mrzAad = (jobId: number): Buffer => Buffer.from(`perso-job/${jobId}/mrz`);

/** Waits until the printer no longer reports `flag` (the default when no hook is given). */
export function waitForStatusClear(
  printer: PrinterClient,
  opts: { pollMs?: number; timeoutMs?: number } = {},
): WaitForOperator {
  return async (p) => {
    const until = Date.now() + (opts.timeoutMs ?? 10 * 60_000);
    for (;;) {
      const s = await printer.status().catch(() => undefined);
      if (s && !s.flags[p.status as keyof typeof s.flags]) return;
      if (Date.now() > until) throw new PauseAbandoned(`${p.status} was not cleared in time`);
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
    }
  };
}

/** The print order of the booklet's chip profile (docs/personalization.md). */
export function persoOrderOf(
  db: Db,
  agency: string,
  profileId: string,
): 'encode-first' | 'print-first' {
  const o = db
    .prepare('SELECT perso_order FROM chip_profiles WHERE agency_code = ? AND profile_id = ?')
    .pluck()
    .get(agency, profileId) as 'encode-first' | 'print-first' | undefined;
  return o ?? 'encode-first';
}

/** Sets a chip profile's print/encode order (admin; audited). */
export function setPersoOrder(
  db: Db,
  actor: Actor,
  agency: string,
  profileId: string,
  order: 'encode-first' | 'print-first',
): void {
  requireRole(actor, ['admin'], 'set the personalization order of a chip profile');
  db.transaction(() => {
    const r = db
      .prepare('UPDATE chip_profiles SET perso_order = ? WHERE agency_code = ? AND profile_id = ?')
      .run(order, agency, profileId);
    if (r.changes !== 1)
      throw new StationError(`no chip profile ${profileId} of ${agency}`, 'unknown_profile');
    writeAudit(db, {
      actor,
      action: 'chip_profile.perso_order',
      details: { agency, profileId, order },
    });
  })();
}

/** Personalizes one application (the next in the queue, or `applicationId`). */
export async function personalize(opts: PersonalizeOptions): Promise<PersoOutcome> {
  requireRole(opts.actor, ['operator', 'supervisor'], 'personalize passports');
  if (opts.signer.kind !== 'production')
    throw new StationError(
      'a passport is signed by the production Document Signer only',
      'signer_kind',
    );
  // Offline issuance stays within the allowance the central office signed (station/sync):
  // past it nothing is taken, fed or written, and the operator is told which limit and why.
  const allowed = checkIssuanceAllowed(opts.db, (opts.now ?? (() => new Date()))());
  if (!allowed.ok)
    throw new StationError(`${allowed.message}; ${allowed.action}`, `offline_${allowed.limit}`);
  return runJob(opts);
}

/** The job, for production and (through test-jobs.ts) for the test dry run. */
export async function runJob(
  opts: PersonalizeOptions,
  variant?: JobVariant,
): Promise<PersoOutcome> {
  const { db, actor, printer, encoder, signer } = opts;
  const now = opts.now ?? (() => new Date());
  const jobKind: JobKind = variant?.jobKind ?? 'production';
  const pagePrinter = opts.pagePrinter ?? pagePrinterOf(printer);
  const waitForOperator = opts.waitForOperator ?? waitForStatusClear(printer);
  const identity = getStationIdentity(db);

  // The job row and the application, together: no application is taken without its job.
  let jobId = 0;
  let app: JobApplication;
  if (variant) {
    jobId = startPersoJob(db, {
      kind: jobKind,
      stationId: identity.stationId,
      actorId: actor.id,
      at: now(),
    });
    app = variant.application;
    journalPerso(db, jobId, 'take-application', now(), { specimen: true });
  } else {
    let taken: TakenApplication | undefined;
    try {
      db.transaction(() => {
        jobId = startPersoJob(db, {
          kind: jobKind,
          stationId: identity.stationId,
          actorId: actor.id,
          at: now(),
        });
        taken =
          opts.applicationId === undefined
            ? takeNext(db, opts.dataKey, actor, now())
            : take(db, opts.dataKey, actor, opts.applicationId, now());
        if (!taken) throw new NoApplication();
        recordPersoFacts(db, jobId, { applicationId: taken.id });
        journalPerso(db, jobId, 'take-application', now(), { applicationId: taken.id });
      })();
    } catch (e) {
      if (e instanceof NoApplication) return { outcome: 'no-application' };
      // The transaction rolled back the hold that take() records: record it on its own.
      if (e instanceof ApplicationIntegrityError && opts.applicationId !== undefined)
        take(db, opts.dataKey, actor, opts.applicationId, now());
      throw e;
    }
    app = taken!;
  }
  let step: PersoStepName = 'take-application';
  const at = (s: PersoStepName, detail: Record<string, unknown> = {}, forced?: boolean): void => {
    step = s;
    journalPerso(db, jobId, s, now(), detail, forced);
    opts.onStep?.(s, jobId);
  };
  const pause = async (e: unknown, during: PersoStepName): Promise<void> => {
    const f = faultOf(e)!;
    at('pause', { during, status: f.flag });
    try {
      await waitForOperator({ jobId, step: during, status: f.flag, instruction: f.instruction });
    } catch (err) {
      throw new JobFailure(
        during,
        `stopped while paused for ${f.flag}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    at('resume', { during });
    step = during;
  };
  /** Runs a device action, pausing on faults a person clears, then trying again. */
  const withPauses = async <T>(during: PersoStepName, f: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await f();
      } catch (e) {
        if (!faultOf(e)) throw e;
        await pause(e, during);
      }
    }
  };

  /** Ejects the booklet; after a pause for a fault the job's permit has ended: one more. */
  const ejectWithPauses = async (
    during: PersoStepName,
    tray: 'output' | 'reject',
    first: DevicePermit,
    serial: string,
  ): Promise<'ejected' | 'removed'> => {
    let p = first;
    for (let attempt = 0; ; attempt++) {
      try {
        await printer.eject(tray, p);
        return 'ejected';
      } catch (e) {
        // Taken out of the transport by the person who cleared a jam: in their hands.
        if (attempt > 0 && e instanceof DeviceError && e.status === Status.NO_BOOKLET)
          return 'removed';
        if (!faultOf(e)) throw e;
        await pause(e, during);
        p = permitEjectAgain(db, actor, printer, { jobId, serial, tray });
      }
    }
  };

  // Intake: the next booklet that passes; refused ones go to the reject tray (intake does it).
  const refusals: { serial?: string; reason: RefusalReason }[] = [];
  let accepted: IntakeAccepted | undefined;
  try {
    while (!accepted) {
      at('intake', { attempt: refusals.length + 1 });
      let o;
      try {
        o = await intakeNextBooklet({
          db,
          actor,
          printer,
          encoder,
          custody: opts.custody,
          jobKind,
          now,
        });
      } catch (e) {
        if (faultOf(e)) {
          await pause(e, 'intake');
          continue;
        }
        throw new JobFailure('intake', deviceAnswer(e));
      }
      if (o.decision === 'accepted') accepted = o;
      else {
        refusals.push({
          ...(o.facts.printedSerial ? { serial: o.facts.printedSerial } : {}),
          reason: o.reason,
        });
        if (o.ejectError)
          throw new JobFailure('intake', `refused booklet not ejected: ${o.ejectError}`);
        if (refusals.length >= (opts.maxRefusals ?? 5))
          throw new JobFailure('intake', `${refusals.length} booklets refused in a row`);
      }
    }
  } catch (e) {
    return giveBack(undefined, e, undefined);
  }

  const clearance: IntakeClearance = accepted.clearance;
  const serial = clearance.serial;
  const documentNumber = serial;
  const bookletFacts = {
    intakeJobId: clearance.jobId,
    bookletSerial: serial,
    chipUid: clearance.chipUid,
    documentNumber,
  };
  let permit: DevicePermit;
  try {
    // The booklet's facts and the job's permit (audited) in one forced commit.
    permit = db.transaction(() => {
      recordPersoFacts(db, jobId, bookletFacts);
      return permitForClearance(
        db,
        actor,
        clearance,
        ['MOVE_TO_ENCODER', 'PRINT_DATA_PAGE', 'CHIP_AUTH', 'CHIP_WRITE', 'EJECT'],
        jobKind === 'test' ? 'test personalization' : 'personalization',
      );
    })();
  } catch (e) {
    // No permit: the facts alone, as the job row keeps them for a returned job too.
    recordPersoFacts(db, jobId, bookletFacts);
    return giveBack(clearance, e, undefined);
  }

  let marked = false;
  const mark = (s: PersoStepName, detail: Record<string, unknown>, forced?: boolean): void => {
    if (marked) return at(s, detail, forced);
    db.transaction(() => {
      at(s, detail);
      recordPersoFacts(db, jobId, { firstWriteAt: now().toISOString() });
    })();
    marked = true;
  };

  try {
    // Prepare: the LDS and its SOD; the document number is the booklet's printed serial.
    at('prepare', { documentNumber });
    let application: Application;
    try {
      application = app.toApplication(documentNumber);
    } catch (e) {
      throw new JobFailure(
        'prepare',
        `the application does not make a valid document: ${(e as Error).message}`,
      );
    }
    const m = mrzOf(application);
    const mrz = m.line1 + m.line2;
    const aa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const lds = buildLds(
      application,
      { face: app.face, ...(app.signature ? { signature: app.signature } : {}) },
      { activeAuthenticationPublicKey: aa.publicKey.export({ type: 'spki', format: 'der' }) },
    );
    const sod = await signLds(lds, { signer: signer.signer, dsCertificate: signer.certificateDer });
    const sodSha256 = sha256(sod);
    const dgHashes = Object.fromEntries([...lds.dataGroups].map(([n, b]) => [`DG${n}`, sha256(b)]));
    const steps = personalizationSteps({
      files: lds.files,
      activeAuthenticationKey: aa.privateKey,
    });
    // The data page is laid out (and checked) here, before anything is written: a page that
    // cannot be made must not cost a booklet. Its date of issue is today's, its authority the
    // application's or our agency's.
    const pageLayers = dataPageLayers({
      application,
      documentNumber,
      mrz: { line1: m.line1, line2: m.line2 },
      face: app.face,
      signature: app.signature,
      dateOfIssue:
        application.additionalDocumentDetails?.dateOfIssue ?? dayOf(now(), identity.timeZone),
      authority:
        application.additionalDocumentDetails?.issuingAuthority ??
        agencyName(db, identity.agencyCode),
    });
    opts.onPage?.(pageLayers.svg, jobId);
    const page: DataPageToPrint = {
      mrz: [m.line1, m.line2],
      fields: {
        documentNumber,
        surname: application.surname,
        givenNames: application.givenNames ?? '',
        nationality: application.nationality,
        dateOfBirth: application.dateOfBirth,
        sex: application.sex,
        dateOfExpiry: application.dateOfExpiry,
      },
      layers: pageLayers,
    };
    db.transaction(() => {
      recordPersoFacts(db, jobId, {
        sealedMrz: opts.dataKey.wrap(Buffer.from(mrz, 'ascii'), mrzAad(jobId)),
        sodSha256,
        signerCertificate: signer.certificatePem,
      });
      journalPerso(db, jobId, 'prepare', now(), {
        sodSha256,
        files: [...lds.files.keys()],
        dataGroupHashes: dgHashes,
      });
    })();

    const transceive = (raw: Buffer): Promise<Buffer> => encoder.transmit(raw, permit);
    const checks: CheckResult[] = [
      { id: 'intake', ok: true, detail: `intake job ${clearance.jobId}` },
    ];
    let report: BorderReport | undefined;

    let chipWrites = 0;
    const encode = async (): Promise<void> => {
      await runPersonalization(steps, {
        transceive,
        channel: clearance.channel,
        extendedLength: encoder.chipInfo?.extendedLength ?? false,
        beforeStep: (s, i) => {
          const detail = { index: i, kind: s.kind, what: s.what };
          // Selecting writes nothing; the first write is forced to disk, the ones after it
          // are not (UNFORCED_PERSO_STEPS).
          if (s.kind === 'select-application') at('chip-step', detail, false);
          else mark('chip-step', detail, chipWrites++ === 0);
        },
      });
      at('chip-written', {});
      // Read back as a border reader: a fresh field, BAC with the MRZ, PA against our CSCA.
      encoder.setWrapper(undefined);
      await encoder.field(false);
      await encoder.field(true);
      const info = await encoder.detectChip();
      if (info.uid.toString('hex').toUpperCase() !== clearance.chipUid)
        throw new JobFailure('border-read', 'another chip answered in the encoder');
      at('border-read', {});
      report = await readAsBorder({
        transceive,
        mrz,
        cscas: [signer.cscaPem],
        extendedLength: info.extendedLength,
      });
      const readSod = report.files.get('EF.SOD');
      const sodOk = readSod !== undefined && sha256(readSod) === sodSha256;
      checks.push(...report.checks.map((c) => ({ id: `border.${c.id}`, ok: c.ok })));
      checks.push({ id: 'sod.digest', ok: sodOk });
      for (const csca of variant?.mustNotVerify ?? []) {
        await encoder.field(false);
        await encoder.field(true);
        await encoder.detectChip();
        const other = await readAsBorder({
          transceive,
          mrz,
          cscas: [csca],
          extendedLength: info.extendedLength,
        });
        const refused = other.failed.some((id) => id.startsWith('pa.'));
        checks.push({ id: 'production-csca.refuses', ok: refused });
        if (!refused)
          throw new JobFailure('border-read', 'the production CSCA verifies this TEST chip');
      }
      const ok = report.ok && sodOk;
      at('border-result', {
        ok,
        failed: report.failed,
        sodSha256: readSod ? sha256(readSod) : null,
        chipUid: clearance.chipUid,
      });
      if (!ok)
        throw new JobFailure(
          'border-read',
          `border read-back failed: ${[...report.failed, ...(sodOk ? [] : ['sod.digest'])].join(', ')}`,
        );
    };

    let printedMrz = '';
    const print = async (): Promise<void> => {
      // Faults already showing are cleared before anything is printed: nothing is lost to them.
      for (;;) {
        const s = await printer.status();
        const f = Object.values(OPERATOR_FAULTS).find(
          (x) => x.flag !== 'HOPPER_EMPTY' && x.flag !== 'REJECT_TRAY_FULL' && s.flags[x.flag],
        );
        if (!f) break;
        const code = Number(Object.entries(OPERATOR_FAULTS).find(([, v]) => v === f)![0]);
        await pause(new DeviceError('GET_STATUS', code), 'print');
      }
      mark('print', {});
      for (;;) {
        try {
          await pagePrinter.printPage(page, permit);
          break;
        } catch (e) {
          // The printer refuses RIBBON_OUT / INK_OUT before it prints anything: wait and retry.
          if (
            e instanceof DeviceError &&
            (e.status === Status.RIBBON_OUT || e.status === Status.INK_OUT)
          ) {
            await pause(e, 'print');
            continue;
          }
          throw new JobFailure('print', deviceAnswer(e));
        }
      }
      at('printed', {});
      at('read-mrz', {});
      let lines: string[];
      try {
        lines = await pagePrinter.readMrz();
      } catch (e) {
        throw new JobFailure('read-mrz', deviceAnswer(e));
      }
      printedMrz = lines.join('');
      const ok = printedMrz === mrz;
      checks.push({ id: 'mrz.printed', ok });
      at('mrz-result', { ok });
      if (!ok) throw new JobFailure('read-mrz', 'the printed MRZ read back differs from DG1');
    };

    const order = persoOrderOf(db, identity.agencyCode, lookupBooklet(db, serial)!.profileId);
    if (order === 'print-first') {
      await print();
      await withPauses('print', () => printer.moveToEncoder(permit));
      await encode();
    } else {
      await encode();
      await print();
    }

    at('eject-output', {});
    const removedByOperator =
      (await ejectWithPauses('eject-output', 'output', permit, serial)) === 'removed';
    const issuedAt = now();
    const steps_ = persoJournalSteps(db, jobId);
    let issuanceId: number | undefined;
    db.transaction(() => {
      at('issue', removedByOperator ? { removedByOperator } : {});
      if (jobKind === 'production') {
        transition(db, {
          serial,
          to: 'issued',
          actor,
          reason: `personalization ${jobId}: issued`,
          at: issuedAt,
        });
        markPersonalized(db, actor, app.id!, documentNumber, issuedAt);
        const record = {
          jobId,
          applicationId: app.id!,
          documentNumber,
          bookletSerial: serial,
          chipUid: clearance.chipUid,
          dataGroupHashes: dgHashes,
          sodSha256,
          signerCertificate: signer.certificatePem,
          operator: actor.username,
          stationId: identity.stationId,
          steps: steps_,
          checks,
          issuedAt: issuedAt.toISOString(),
        };
        issuanceId = insertIssuance(db, record, identity.timeZone, false);
        enqueueOutbox(db, 'issuance', record, {
          idempotencyKey: `${identity.stationId}/issuance/${jobId}`,
          at: issuedAt,
        });
        writeAudit(db, {
          actor,
          action: 'personalization.issued',
          details: { jobId, applicationId: app.id, serial, documentNumber },
          at: issuedAt,
        });
        finishPersoJob(db, jobId, 'issued', issuedAt);
      } else {
        transition(db, {
          serial,
          to: 'test_consumed',
          actor,
          reason: `test job ${jobId}: dry run passed`,
          at: issuedAt,
        });
        db.prepare(
          `INSERT INTO test_job_results (kind, station_id, actor_id, at, passed, booklet_serial, perso_job_id, detail)
           VALUES ('dry-run', ?, ?, ?, 1, ?, ?, ?)`,
        ).run(
          identity.stationId,
          actor.id,
          issuedAt.toISOString(),
          serial,
          jobId,
          JSON.stringify({ checks, sodSha256 }),
        );
        writeAudit(db, {
          actor,
          action: 'test_job.dry_run',
          details: { jobId, serial, passed: true },
          at: issuedAt,
        });
        finishPersoJob(db, jobId, 'test_passed', issuedAt);
      }
      finishJob(db, clearance.jobId, 'released', issuedAt, { reason: `personalization ${jobId}` });
    })();
    revokePermit(permit, 'job done');
    return {
      outcome: jobKind === 'production' ? 'issued' : 'test_passed',
      jobId,
      applicationId: app.id,
      serial,
      documentNumber,
      chipUid: clearance.chipUid,
      ...(issuanceId !== undefined ? { issuanceId } : {}),
      checks,
      refusals,
      chipFiles: report!.files,
      printedMrz,
    };
  } catch (e) {
    return marked ? spoil(e) : giveBack(clearance, e, permit);
  }

  /** Nothing written or printed: the booklet back to stock, the application back to the queue. */
  async function giveBack(
    c: IntakeClearance | undefined,
    e: unknown,
    p: DevicePermit | undefined,
  ): Promise<PersoOutcome> {
    const failedStep = e instanceof JobFailure ? e.step : step;
    const answer = deviceAnswer(e);
    const when = now();
    db.transaction(() => {
      at('return', { step: failedStep, answer });
      if (c && lookupBooklet(db, c.serial)?.state === 'in_process')
        transition(db, {
          serial: c.serial,
          to: 'allocated',
          actor,
          reason: `personalization ${jobId} stopped at ${failedStep} before writing: back to stock`,
          at: when,
        });
      if (c)
        finishJob(db, c.jobId, 'released', when, { reason: `personalization ${jobId} returned` });
      if (app.id !== undefined) returnToQueue(db, actor, app.id, when);
      writeAudit(db, {
        actor,
        action: 'personalization.returned',
        details: { jobId, applicationId: app.id, serial: c?.serial, step: failedStep, answer },
        at: when,
      });
      finishPersoJob(db, jobId, 'returned', when, { failedStep, reason: answer });
    })();
    let ejectError: string | undefined;
    if (c && p) {
      try {
        encoder.setWrapper(undefined);
        await reconnectIfDown(printer);
        at('eject-blank', {});
        await ejectWithPauses('eject-blank', 'output', p, c.serial);
      } catch (err) {
        ejectError = deviceAnswer(err);
      } finally {
        revokePermit(p, 'job returned');
      }
    }
    return {
      outcome: 'returned',
      jobId,
      applicationId: app.id,
      ...(c ? { serial: c.serial } : {}),
      step: failedStep,
      answer,
      refusals,
      ...(ejectError ? { ejectError } : {}),
    };
  }

  /** Written or printed: the booklet is spoiled, the application goes back to the queue. */
  async function spoil(e: unknown): Promise<PersoOutcome> {
    const failedStep = e instanceof JobFailure ? e.step : step;
    const answer = deviceAnswer(e);
    const when = now();
    db.transaction(() => {
      at('spoil', { step: failedStep, answer });
      transition(db, {
        serial,
        to: 'spoiled',
        actor,
        reason: `personalization ${jobId} failed at ${failedStep}: ${answer}`,
        at: when,
      });
      finishJob(db, clearance.jobId, 'released', when, {
        reason: `personalization ${jobId} spoiled`,
      });
      if (app.id !== undefined) returnToQueue(db, actor, app.id, when);
      const record = {
        jobId,
        stationId: identity.stationId,
        bookletSerial: serial,
        step: failedStep,
        answer,
        at: when.toISOString(),
        operator: actor.username,
      };
      enqueueOutbox(db, 'spoilage', record, {
        idempotencyKey: `${identity.stationId}/spoilage/${jobId}`,
        at: when,
      });
      writeAudit(db, {
        actor,
        action: jobKind === 'test' ? 'test_job.dry_run_spoiled' : 'personalization.spoiled',
        details: { jobId, applicationId: app.id, serial, step: failedStep, answer },
        at: when,
      });
      if (jobKind === 'test')
        db.prepare(
          `INSERT INTO test_job_results (kind, station_id, actor_id, at, passed, booklet_serial, perso_job_id, detail)
           VALUES ('dry-run', ?, ?, ?, 0, ?, ?, ?)`,
        ).run(
          identity.stationId,
          actor.id,
          when.toISOString(),
          serial,
          jobId,
          JSON.stringify({ step: failedStep, answer }),
        );
      finishPersoJob(db, jobId, 'spoiled', when, { failedStep, reason: answer });
    })();
    let ejectError: string | undefined;
    try {
      encoder.setWrapper(undefined);
      await reconnectIfDown(printer);
      at('eject-reject', {});
      await ejectWithPauses('eject-reject', 'reject', permit, serial);
    } catch (err) {
      ejectError = deviceAnswer(err);
    } finally {
      revokePermit(permit, 'job spoiled');
    }
    return {
      outcome: 'spoiled',
      jobId,
      applicationId: app.id,
      serial,
      step: failedStep,
      answer,
      refusals,
      ...(ejectError ? { ejectError } : {}),
    };
  }
}

class NoApplication extends Error {}

/** After a dropped connection: the link back before the booklet is ejected (a few tries). */
async function reconnectIfDown(printer: PrinterClient): Promise<void> {
  for (let i = 0; i < 20 && !printer.link.isOpen; i++) {
    try {
      await printer.link.reconnect();
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export interface IssuanceRecord {
  jobId: number;
  applicationId: number;
  documentNumber: string;
  bookletSerial: string;
  chipUid: string;
  dataGroupHashes: Record<string, string>;
  sodSha256: string;
  signerCertificate: string;
  operator: string;
  stationId: string;
  steps: { step: string; at: string }[];
  checks: CheckResult[];
  issuedAt: string;
}

/** Inserts an issuance record (inside the caller's issuance transaction). */
export function insertIssuance(
  db: Db,
  r: IssuanceRecord,
  timeZone: string,
  recovered: boolean,
): number {
  return Number(
    preparedOnce(
      db,
      `INSERT INTO issuances (job_id, application_id, document_number, booklet_serial, chip_uid,
           dg_hashes, sod_sha256, signer_certificate, operator, station_id, steps, checks,
           recovered, issued_at, day)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      r.jobId,
      r.applicationId,
      r.documentNumber,
      r.bookletSerial,
      r.chipUid,
      JSON.stringify(r.dataGroupHashes),
      r.sodSha256,
      r.signerCertificate,
      r.operator,
      r.stationId,
      JSON.stringify(r.steps),
      JSON.stringify(r.checks),
      recovered ? 1 : 0,
      r.issuedAt,
      dayOf(new Date(r.issuedAt), timeZone),
    ).lastInsertRowid,
  );
}
