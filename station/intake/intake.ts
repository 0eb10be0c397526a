/**
 * Booklet intake: identify every booklet and check it before a single byte is printed or
 * written. Feed, read the printed serial, detect the chip, read its manufacturer record, check
 * it against our ledger, and prove with an SCP03 mutual authentication under our agency's
 * diversified transport key that the chip was coded for us. A booklet that fails any check is
 * refused: recorded durably, queued for the central office, and sent to the reject tray.
 *
 * There is no override: no option, role or setting skips a check. The only way to obtain an
 * IntakeClearance (what personalization requires) is a passed intake in this module.
 */
import { decodeResponse, encodeApdu, encodeResponse, decodeApdu } from '../../iso7816/apdu.ts';
import type { Apdu, ApduResponse } from '../../iso7816/apdu.ts';
import { ApduError, type ApduWrapper, type EncoderClient } from '../../drivers/encoder.ts';
import type { DevicePermit } from '../../drivers/permit.ts';
import type { PrinterClient } from '../../drivers/printer.ts';
import { DeviceError, Status } from '../../drivers/protocol.ts';
import { preparedOnce, type Db } from '../../db/open.ts';
import {
  PREPERSO_RECORD_FID,
  PrePersoRecordError,
  decodePrePersoRecord,
  type PrePersoRecord,
} from '../../mrtd/preperso-record.ts';
import { ChipLifeCycle, EMRTD_AID, LIFE_CYCLE_TAG } from '../../mrtd/chip.ts';
import { Scp03Error, Scp03Host, SecurityLevel } from '../../mrtd/scp03.ts';
import { getChipProfile } from '../agencies.ts';
import { writeAudit } from '../audit.ts';
import { lookupBooklet, type BookletInfo } from '../booklets.ts';
import { permitForClearance, permitIntake, revokePermit } from '../device-gate.ts';
import { getStationIdentity } from '../identity.ts';
import { isReportedLostOrStolen } from '../sync/offline.ts';
import type { TransportKeyCustody } from '../keys/custody.ts';
import { KeyCustodyError } from '../keys/errors.ts';
import { transition } from '../lifecycle.ts';
import { enqueueOutbox } from '../outbox.ts';
import { dayOf } from '../time.ts';
import { requireRole, type Actor } from '../users.ts';
import {
  finishJob,
  getJob,
  journalStep,
  recordFacts,
  startJob,
  type IntakeStep,
  type JobFacts,
  type JobKind,
} from './journal.ts';
import { STATION_LANGUAGES, refusalMessage, type StationLanguage } from './messages.ts';
import type { RefusalReason } from './reasons.ts';

export interface IntakeDevices {
  printer: PrinterClient;
  encoder: EncoderClient;
}

export interface IntakeOptions extends IntakeDevices {
  db: Db;
  /** The authenticated user operating the station. */
  actor: Actor;
  custody: TransportKeyCustody;
  /** A production job takes production stock only; a test job (technicians) test stock only. */
  jobKind?: JobKind;
  now?: () => Date;
}

/** What was read from a booklet (for the record, the operator and the central office). */
export type IntakeFacts = JobFacts;

export interface IntakeAccepted {
  decision: 'accepted';
  jobId: number;
  serial: string;
  facts: IntakeFacts;
  clearance: IntakeClearance;
}

export interface IntakeRefused {
  decision: 'refused';
  jobId: number;
  reason: RefusalReason;
  facts: IntakeFacts;
  /** The booklet's ledger state after the refusal (undefined when it is not our booklet). */
  bookletState?: string;
  /** The operator's message in every station language. */
  messages: Record<StationLanguage, { reason: string; instruction: string }>;
  /** Set when the reject-tray eject itself failed after the refusal was recorded. */
  ejectError?: string;
}

export type IntakeOutcome = IntakeAccepted | IntakeRefused;

/** A device fault that stopped intake (jam, cover open, link down): not a verdict on the booklet. */
export class IntakeDeviceError extends Error {
  constructor(
    readonly jobId: number,
    readonly step: IntakeStep,
    override readonly cause: unknown,
  ) {
    super(
      `intake stopped at step ${step}: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'IntakeDeviceError';
  }
}

const clearances = new WeakSet<IntakeClearance>();
const issueToken = Symbol('intake');

/**
 * Proof that a booklet passed intake at this station, with the secure channel to its chip open.
 * Only this module can create one; personalization calls `requireClearance` before anything.
 */
export class IntakeClearance {
  readonly jobId: number;
  readonly jobKind: JobKind;
  readonly serial: string;
  readonly chipUid: string;
  /** The devices intake used: permits for this booklet are valid on these only. */
  readonly printer: PrinterClient;
  readonly encoder: EncoderClient;
  readonly channel: Scp03Host;
  constructor(
    token: symbol,
    v: {
      jobId: number;
      jobKind: JobKind;
      serial: string;
      chipUid: string;
      printer: PrinterClient;
      encoder: EncoderClient;
      channel: Scp03Host;
    },
  ) {
    if (token !== issueToken)
      throw new Error('an intake clearance comes only from a passed intake');
    this.jobId = v.jobId;
    this.jobKind = v.jobKind;
    this.serial = v.serial;
    this.chipUid = v.chipUid;
    this.printer = v.printer;
    this.encoder = v.encoder;
    this.channel = v.channel;
    clearances.add(this);
    Object.freeze(this);
  }
}

/** Thrown when something tries to go past intake without a valid clearance. */
export class ClearanceError extends Error {
  constructor(message: string) {
    super(`personalization refused: ${message}`);
    this.name = 'ClearanceError';
  }
}

/**
 * The gate in front of personalization: the clearance must come from this module, its job must
 * still be accepted, the booklet still in process, and the same chip still in the encoder.
 */
export function requireClearance(db: Db, c: unknown): IntakeClearance {
  if (!(c instanceof IntakeClearance) || !clearances.has(c))
    throw new ClearanceError('no passed intake for this booklet');
  const job = getJob(db, c.jobId);
  if (!job || job.status !== 'accepted')
    throw new ClearanceError(`intake job ${c.jobId} is ${job?.status ?? 'unknown'}, not accepted`);
  const b = lookupBooklet(db, c.serial);
  if (!b || b.state !== 'in_process')
    throw new ClearanceError(`booklet ${c.serial} is ${b?.state ?? 'unknown'}, not in process`);
  const uid = c.encoder.chipInfo?.uid.toString('hex').toUpperCase();
  if (uid !== c.chipUid) throw new ClearanceError('the chip in the encoder is not the one checked');
  return c;
}

class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(reason);
  }
}

/** An SCP03 channel as the encoder's APDU wrapper. */
function scp03Wrapper(host: Scp03Host): ApduWrapper {
  return {
    overhead: 8 + 16,
    wrap: (apdu: Apdu): Apdu => {
      const d = decodeApdu(host.wrap(encodeApdu(apdu)));
      return { cla: d.cla, ins: d.ins, p1: d.p1, p2: d.p2, data: d.data, le: d.le };
    },
    unwrap: (res: ApduResponse): ApduResponse =>
      decodeResponse(host.unwrapResponse(encodeResponse(res))),
  };
}

const hex = (b: Buffer): string => b.toString('hex').toUpperCase();

/**
 * Takes the next booklet from the hopper through intake. Resolves with the decision; rejects
 * with IntakeDeviceError when a device fault stops it (the booklet's ledger state is then
 * unchanged and the job is marked failed).
 */
export async function intakeNextBooklet(opts: IntakeOptions): Promise<IntakeOutcome> {
  const { db, actor, printer, encoder, custody } = opts;
  const now = opts.now ?? (() => new Date());
  const jobKind = opts.jobKind ?? 'production';
  if (jobKind === 'production')
    requireRole(actor, ['operator', 'supervisor'], 'run intake for production');
  else requireRole(actor, ['technician', 'supervisor'], 'run intake for test jobs');
  const identity = getStationIdentity(db);
  // The job row, the device permit of this job (feed, move, authenticate, eject: device-gate.ts,
  // audited) and its `feed` entry, committed together: one forced commit before FEED.
  let minted: DevicePermit | undefined;
  let started: { jobId: number; permit: DevicePermit };
  try {
    started = db.transaction(() => {
      const id = startJob(db, {
        kind: jobKind,
        stationId: identity.stationId,
        actorId: actor.id,
        at: now(),
      });
      minted = permitIntake(db, actor, { printer, encoder }, { jobId: id, jobKind });
      journalStep(db, id, 'feed', now());
      return { jobId: id, permit: minted };
    })();
  } catch (e) {
    // Rolled back: no job, no audited permit; the one made in the transaction is ended too.
    if (minted) revokePermit(minted, 'intake not started');
    throw e;
  }
  const { jobId, permit } = started;
  const facts: IntakeFacts = {};
  let step: IntakeStep = 'feed';
  let bookletInPrinter = false;
  const at = (s: IntakeStep, detail: Record<string, unknown> = {}): void => {
    step = s;
    journalStep(db, jobId, s, now(), detail);
  };
  const learn = (f: IntakeFacts): void => {
    Object.assign(facts, f);
    recordFacts(db, jobId, f);
  };

  try {
    await printer.feed(permit);
    bookletInPrinter = true;

    at('read-printed-serial');
    try {
      learn({ printedSerial: await printer.readSerial() });
    } catch (e) {
      if (e instanceof DeviceError && e.status === Status.SERIAL_UNREADABLE)
        throw new Refusal('SERIAL_UNREADABLE');
      throw e;
    }
    const printedSerial = facts.printedSerial!;

    at('move-to-encoder');
    await printer.moveToEncoder(permit);
    at('field-on');
    await encoder.field(true);

    at('detect-chip');
    let uid: string;
    try {
      uid = hex((await encoder.detectChip()).uid);
    } catch (e) {
      if (e instanceof DeviceError && e.status === Status.NO_CHIP) throw new Refusal('NO_CHIP');
      if (e instanceof DeviceError && e.status === Status.CHIP_MUTE)
        throw new Refusal('CHIP_UNRESPONSIVE', { during: 'detection' });
      throw e;
    }
    learn({ chipUid: uid });

    at('read-chip-record');
    const record = await readChipRecord(encoder);
    learn({
      chipSerial: record.chipSerial,
      claimedAgency: record.agencyCode,
      chipProfile: record.chipProfile,
      keyVersion: record.keyVersion,
    });

    at('check');
    const booklet = checkAgainstLedger(db, identity, jobKind, printedSerial, uid, record);

    at('read-chip-life-cycle');
    await checkLifeCycle(encoder);

    at('select-application');
    await chipCommand(() => encoder.selectApplication(EMRTD_AID));

    at('transport-authentication', { agency: identity.agencyCode, keyVersion: record.keyVersion });
    const channel = await authenticate(encoder, custody, identity.agencyCode, record, uid, permit);
    encoder.setWrapper(scp03Wrapper(channel));

    at('accept');
    // From here on the booklet's clearance is what permits anything (device-gate.ts).
    revokePermit(permit, 'intake accepted');
    const acceptedAt = now();
    db.transaction(() => {
      transition(db, {
        serial: booklet.serial,
        to: 'in_process',
        actor,
        reason: `intake ${jobId} passed`,
        at: acceptedAt,
      });
      finishJob(db, jobId, 'accepted', acceptedAt);
      writeAudit(db, {
        actor,
        action: 'intake.accepted',
        details: { jobId, serial: booklet.serial, chipUid: uid, jobKind },
        at: acceptedAt,
      });
    })();
    const clearance = new IntakeClearance(issueToken, {
      jobId,
      jobKind,
      serial: booklet.serial,
      chipUid: uid,
      printer,
      encoder,
      channel,
    });
    return { decision: 'accepted', jobId, serial: booklet.serial, facts: { ...facts }, clearance };
  } catch (e) {
    if (e instanceof Refusal) {
      return refuse(opts, jobId, jobKind, e, facts, now, (s) => at(s), bookletInPrinter, permit);
    }
    // Whatever failed, no secure channel and no permit outlive a job that did not pass.
    revokePermit(permit, 'intake stopped by a device fault');
    encoder.setWrapper(undefined);
    const failedAt = now();
    const message = e instanceof Error ? e.message : String(e);
    try {
      journalStep(db, jobId, 'fail', failedAt, { step, error: message });
      finishJob(db, jobId, 'failed', failedAt, { error: `${step}: ${message}` });
    } catch {
      // The job row is best effort here: the original fault is what the caller must see.
    }
    throw new IntakeDeviceError(jobId, step, e);
  }
}

/** Runs a chip command, turning a mute chip or an error status into CHIP_UNRESPONSIVE. */
async function chipCommand<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof DeviceError && e.status === Status.CHIP_MUTE)
      throw new Refusal('CHIP_UNRESPONSIVE');
    if (e instanceof ApduError)
      throw new Refusal('CHIP_UNRESPONSIVE', { statusWord: e.sw.toString(16) });
    throw e;
  }
}

async function readChipRecord(encoder: EncoderClient): Promise<PrePersoRecord> {
  let bytes: Buffer;
  try {
    await encoder.selectFile(PREPERSO_RECORD_FID);
    const head = await encoder.readBinary(0, 4);
    // Template 70 with a one-byte, 81 or 82 length: the whole record, at most 4 KB.
    const len =
      head.length < 4
        ? -1
        : head[1]! < 0x80
          ? head[1]! + 2
          : head[1] === 0x81
            ? head[2]! + 3
            : head[1] === 0x82
              ? head.readUInt16BE(2) + 4
              : -1;
    if (head[0] !== 0x70 || len < 0 || len > 4096)
      throw new Refusal('CHIP_RECORD_INVALID', { problem: 'no record template of a sane length' });
    bytes = len <= head.length ? head.subarray(0, len) : await encoder.readBinary(0, len);
  } catch (e) {
    if (e instanceof Refusal) throw e;
    if (e instanceof ApduError && (e.sw === 0x6a82 || e.sw === 0x6b00))
      throw new Refusal('CHIP_RECORD_INVALID', { statusWord: e.sw.toString(16) });
    if (e instanceof DeviceError && e.status === Status.CHIP_MUTE)
      throw new Refusal('CHIP_UNRESPONSIVE');
    if (e instanceof ApduError)
      throw new Refusal('CHIP_UNRESPONSIVE', { statusWord: e.sw.toString(16) });
    throw e;
  }
  try {
    return decodePrePersoRecord(bytes);
  } catch (e) {
    if (e instanceof PrePersoRecordError)
      throw new Refusal('CHIP_RECORD_INVALID', { problem: e.message });
    throw e;
  }
}

/** The ledger checks, in order, stopping at the first failure. */
function checkAgainstLedger(
  db: Db,
  identity: { stationId: string; agencyCode: string },
  jobKind: JobKind,
  printedSerial: string,
  uid: string,
  record: PrePersoRecord,
): BookletInfo {
  if (record.bookletSerial !== printedSerial || record.chipSerial === '')
    throw new Refusal('PRINTED_AND_CHIP_SERIAL_DIFFER', {
      chipBookletSerial: record.bookletSerial,
    });
  if (record.agencyCode !== identity.agencyCode) throw new Refusal('FOREIGN_AGENCY');
  const b = lookupBooklet(db, printedSerial);
  if (!b) throw new Refusal('UNKNOWN_SERIAL');
  if (b.agencyCode !== identity.agencyCode)
    throw new Refusal('FOREIGN_AGENCY', { manifestAgency: b.agencyCode });
  if (b.chipSerial !== record.chipSerial)
    throw new Refusal('CHIP_UID_MISMATCH', { manifestChipSerial: b.chipSerial });
  if (b.chipUid !== null && b.chipUid.toUpperCase() !== uid)
    throw new Refusal('CHIP_UID_MISMATCH', { manifestChipUid: b.chipUid });
  if (b.state === 'lost_stolen') throw new Refusal('REPORTED_LOST_OR_STOLEN');
  // The central office's lost/stolen list (pulled by sync) counts as much as the ledger.
  const reported = isReportedLostOrStolen(db, printedSerial);
  if (reported)
    throw new Refusal('REPORTED_LOST_OR_STOLEN', {
      source: 'central office list',
      status: reported.status,
      reportedAt: reported.reportedAt,
    });
  const heldHere = b.holderStation === identity.stationId;
  if ((b.state === 'received' || b.state === 'allocated') && !(b.state === 'allocated' && heldHere))
    throw new Refusal('NOT_ALLOCATED_TO_THIS_STATION', { holder: b.holderStation });
  if (b.state !== 'allocated') throw new Refusal('NOT_AVAILABLE', { state: b.state });
  if (b.stockClass !== jobKind)
    throw new Refusal('NOT_AVAILABLE', {
      state: b.stockClass === 'test' ? 'test stock' : 'production stock',
    });
  const profile = getChipProfile(db, identity.agencyCode, record.chipProfile);
  if (!profile || !profile.accepted || record.chipProfile !== b.profileId)
    throw new Refusal('PROFILE_NOT_ACCEPTED', { manifestProfile: b.profileId });
  if (profile.keyVersion !== record.keyVersion)
    throw new Refusal('PROFILE_NOT_ACCEPTED', { profileKeyVersion: profile.keyVersion });
  return b;
}

async function checkLifeCycle(encoder: EncoderClient): Promise<void> {
  const r = await chipCommand(() =>
    encoder.transceive({
      cla: 0,
      ins: 0xca,
      p1: LIFE_CYCLE_TAG >> 8,
      p2: LIFE_CYCLE_TAG & 0xff,
      le: 1,
    }),
  );
  if (r.sw !== 0x9000 || r.data.length !== 1)
    throw new Refusal('CHIP_UNRESPONSIVE', { lifeCycleStatus: r.sw.toString(16) });
  if (r.data[0] !== ChipLifeCycle.PRE_PERSONALIZED)
    throw new Refusal('CHIP_ALREADY_PERSONALIZED', { lifeCycle: r.data[0] });
}

/** SCP03 mutual authentication under the agency's key diversified for this chip. */
async function authenticate(
  encoder: EncoderClient,
  custody: TransportKeyCustody,
  agency: string,
  record: PrePersoRecord,
  uid: string,
  permit: DevicePermit,
): Promise<Scp03Host> {
  let keys;
  try {
    keys = await custody.chipKeys(agency, record.keyVersion, {
      chipSerial: record.chipSerial,
      chipUid: Buffer.from(uid, 'hex'),
    });
  } catch (e) {
    if (
      e instanceof KeyCustodyError &&
      (e.code === 'UNKNOWN_TRANSPORT_KEY' || e.code === 'INVALID_INPUT')
    )
      throw new Refusal('TRANSPORT_KEY_UNAVAILABLE', { custody: e.code });
    throw e;
  }
  const host = new Scp03Host(keys, {
    keyVersion: record.keyVersion,
    securityLevel: SecurityLevel.C_DECRYPTION_C_MAC_R_MAC,
  });
  try {
    // Through transceive (no wrapper yet): 61xx / 6Cxx answers are collected as for any command.
    const exchange = async (raw: Buffer): Promise<Buffer> => {
      const a = decodeApdu(raw);
      const res = await chipCommand(() =>
        encoder.transceive(
          { cla: a.cla, ins: a.ins, p1: a.p1, p2: a.p2, data: a.data, le: a.le },
          permit,
        ),
      );
      return encodeResponse(res);
    };
    const ext = host.externalAuthenticate(await exchange(host.initializeUpdate()));
    host.completeAuthentication(await exchange(ext));
  } catch (e) {
    if (e instanceof Scp03Error) throw new Refusal('TRANSPORT_AUTH_FAILED', { scp03: e.message });
    throw e;
  }
  return host;
}

async function refuse(
  opts: IntakeOptions,
  jobId: number,
  jobKind: JobKind,
  r: Refusal,
  facts: IntakeFacts,
  now: () => Date,
  at: (s: IntakeStep) => void,
  bookletInPrinter: boolean,
  permit: DevicePermit,
): Promise<IntakeRefused> {
  const { db, actor, encoder, printer } = opts;
  const identity = getStationIdentity(db);
  const when = now();
  const ours = facts.printedSerial ? lookupBooklet(db, facts.printedSerial) : undefined;
  // The booklet's state follows the life cycle only when it is stock this station holds for
  // this kind of job; anything else (foreign, another station's, lost, already used) is recorded
  // as a refusal and left as it is.
  const moves =
    ours !== undefined &&
    ours.agencyCode === identity.agencyCode &&
    ours.state === 'allocated' &&
    ours.holderStation === identity.stationId &&
    ours.stockClass === jobKind &&
    r.reason !== 'NOT_ALLOCATED_TO_THIS_STATION' &&
    r.reason !== 'NOT_AVAILABLE' &&
    r.reason !== 'TRANSPORT_KEY_UNAVAILABLE';
  const text = { ...facts, state: (r.detail.state as string | undefined) ?? ours?.state };
  const messages = Object.fromEntries(
    STATION_LANGUAGES.map((l) => [l, refusalMessage(r.reason, l, text)]),
  ) as IntakeRefused['messages'];
  at('refuse');
  let bookletState: string | undefined = ours?.state;
  db.transaction(() => {
    if (moves) {
      const why = `intake ${jobId} refused: ${r.reason}`;
      transition(db, { serial: ours.serial, to: 'in_process', actor, reason: why, at: when });
      transition(db, { serial: ours.serial, to: 'refused', actor, reason: why, at: when });
      bookletState = 'refused';
    }
    preparedOnce(
      db,
      `INSERT INTO refusals (job_id, at, day, station_id, actor_id, reason, printed_serial,
         chip_serial, chip_uid, claimed_agency, chip_profile, booklet_id, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      jobId,
      when.toISOString(),
      dayOf(when, identity.timeZone),
      identity.stationId,
      actor.id,
      r.reason,
      facts.printedSerial ?? null,
      facts.chipSerial ?? null,
      facts.chipUid ?? null,
      facts.claimedAgency ?? null,
      facts.chipProfile ?? null,
      ours?.id ?? null,
      JSON.stringify(r.detail),
    );
    const record = {
      jobId,
      stationId: identity.stationId,
      agency: identity.agencyCode,
      at: when.toISOString(),
      operator: actor.username,
      reason: r.reason,
      ...facts,
      ours: ours !== undefined,
      bookletState: bookletState ?? null,
      detail: r.detail,
    };
    enqueueOutbox(db, 'intake.refusal', record, {
      idempotencyKey: `${identity.stationId}/intake/${jobId}/refusal`,
      at: when,
    });
    writeAudit(db, { actor, action: 'intake.refused', details: record, at: when });
    finishJob(db, jobId, 'refused', when, { reason: r.reason });
  })();
  let ejectError: string | undefined;
  try {
    encoder.setWrapper(undefined);
    await encoder.field(false).catch(() => undefined);
    if (bookletInPrinter) {
      at('eject-reject');
      await printer.eject('reject', permit);
    }
  } catch (e) {
    ejectError = e instanceof Error ? e.message : String(e);
  } finally {
    revokePermit(permit, 'intake refused');
  }
  return {
    decision: 'refused',
    jobId,
    reason: r.reason,
    facts: { ...facts },
    bookletState,
    messages,
    ...(ejectError ? { ejectError } : {}),
  };
}

/**
 * Headless intake only (no personalization follows): closes the secure channel, gives the
 * accepted booklet back to the station's stock (in process → allocated) and ejects it to the
 * output tray, blank.
 */
export async function releaseAccepted(
  opts: IntakeDevices & { db: Db; actor: Actor; now?: () => Date },
  accepted: IntakeAccepted,
): Promise<void> {
  const { db, actor, printer, encoder } = opts;
  const c = requireClearance(db, accepted.clearance);
  const permit = permitForClearance(db, actor, c, ['EJECT'], 'release');
  const when = (opts.now ?? (() => new Date()))();
  journalStep(db, c.jobId, 'release', when);
  db.transaction(() => {
    transition(db, {
      serial: c.serial,
      to: 'allocated',
      actor,
      reason: `intake ${c.jobId} only: released unwritten`,
      at: when,
    });
    finishJob(db, c.jobId, 'released', when);
  })();
  encoder.setWrapper(undefined);
  await encoder.field(false);
  journalStep(db, c.jobId, 'eject-output', when);
  await printer.eject('output', permit);
}
