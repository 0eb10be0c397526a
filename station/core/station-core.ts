/**
 * The station core (docs/desktop.md): one running station — its data directory lock, database,
 * key custody, device, job runner, sync status, the signed-in user and its events. The console
 * (`station start`), the Electron main process and the browser-mode bridge drive this one
 * object; none of them holds station logic. Every method that acts needs a signed-in user, and
 * the use cases it calls check that user's role (requireRole), as they do for the CLI.
 */
import { EventEmitter } from 'node:events';
import type { IpcEvent, IpcEventName } from '../../contracts/ipc.ts';
import type { DeviceEvent, DeviceIdentity, DeviceStatus } from '../../drivers/device-client.ts';
import type { EncoderClient } from '../../drivers/encoder.ts';
import type { Link } from '../../drivers/link.ts';
import type { PrinterClient } from '../../drivers/printer.ts';
import type { Db } from '../../db/open.ts';
import { agencyName } from '../agencies.ts';
import { stockOnHand } from '../booklets.ts';
import { StationError } from '../errors.ts';
import { getStationIdentity, type StationIdentity } from '../identity.ts';
import type { IntakeOutcome } from '../intake/intake.ts';
import { jobJournal, listJobs } from '../intake/journal.ts';
import type { StationLanguage } from '../intake/messages.ts';
import { recoverIntakeJobs, type RecoveryResult } from '../intake/recovery.ts';
import { runIntake, type IntakeRunResult } from '../intake/run.ts';
import type { TransportKeyCustody } from '../keys/custody.ts';
import { pendingOutbox } from '../outbox.ts';
import type { StationLock } from '../station-lock.ts';
import { authenticateWithRole, requireRole, type Actor, type Role } from '../users.ts';
import { dayOf } from '../time.ts';
import { issuedPerDay } from './day-charts.ts';
import { describeEvent, pauseInstruction, pauseOf } from './device-words.ts';
import type { Closers, SimulatedDevice } from './open.ts';

/** Who may work at the station window or console (admins use the `station` command). */
export const WORKING_ROLES: readonly Role[] = ['operator', 'supervisor', 'technician'];
/** Signed-in sessions lock after this long without activity (STATION_LOCK_AFTER_MS). */
export const DEFAULT_LOCK_AFTER_MS = 5 * 60_000;
/** Fewer days of stock than this at the recent issuance rate is shown as a warning. */
export const LOW_STOCK_DAYS = 5;

/** No one is signed in (or the session locked after inactivity). */
export class NotSignedInError extends StationError {
  constructor() {
    super('sign in first: no one is signed in at this station', 'not_signed_in');
    this.name = 'NotSignedInError';
  }
}

/** What this station does not have yet (personalization or sync not built in, no simulator). */
export class NotAvailableError extends StationError {
  constructor(msg: string) {
    super(msg, 'not_available');
    this.name = 'NotAvailableError';
  }
}

export interface SyncState {
  state: 'online' | 'offline' | 'not-configured';
  waiting: number;
  offlineAllowanceLeft: number | null;
}

/** The personalization job (station/personalization fills this seam). */
export type PersonalizeSeam = (job: {
  db: Db;
  actor: Actor;
  printer: PrinterClient;
  encoder: EncoderClient;
  custody: TransportKeyCustody;
  applicationId?: number;
  onStep: (jobId: number, step: string, progress: number) => void;
}) => Promise<{ jobId: number; applicationId: number; serial: string; status: string }>;

/** What other parts of the station plug in (personalization, sync) and settings. */
export interface CoreSeams {
  personalize?: PersonalizeSeam;
  /** The sync client's state (station/sync fills this seam); absent: not configured. */
  syncStatus?: () => SyncState;
  lang?: StationLanguage;
  lockAfterMs?: number;
}

/** What openStation (open.ts) hands the core. */
export interface OpenedStation {
  dataDir: string;
  lock: StationLock;
  db: Db;
  custody: TransportKeyCustody;
  link: Link;
  printer: PrinterClient;
  encoder: EncoderClient;
  deviceSource: string;
  deviceIdentity: DeviceIdentity;
  development: boolean;
  simulator?: SimulatedDevice;
  closers: Closers;
}

export interface Session {
  username: string;
  role: Role;
  lockAfterMs: number;
}

export interface IntakeRun extends IntakeRunResult {
  outcomes: IntakeOutcome[];
}

export class StationCore {
  readonly #s: OpenedStation;
  readonly #seams: CoreSeams;
  readonly #events = new EventEmitter();
  readonly identity: StationIdentity;
  #actor: Actor | undefined;
  #lockTimer: ReturnType<typeof setTimeout> | undefined;
  #recovered = false;
  #busy = false;
  #closed = false;
  lang: StationLanguage;

  constructor(opened: OpenedStation, seams: CoreSeams = {}) {
    this.#s = opened;
    this.#seams = seams;
    this.lang = seams.lang ?? 'es';
    this.identity = getStationIdentity(opened.db);
    const onEvent = (ev: DeviceEvent): void => this.#onDeviceEvent(ev);
    opened.printer.on('event', onEvent);
    opened.closers.add('the event listener', () => opened.printer.off('event', onEvent));
  }

  get dataDir(): string {
    return this.#s.dataDir;
  }
  get development(): boolean {
    return this.#s.development;
  }
  get deviceSource(): string {
    return this.#s.deviceSource;
  }
  get deviceIdentity(): DeviceIdentity {
    return this.#s.deviceIdentity;
  }
  get link(): Link {
    return this.#s.link;
  }
  /** For use cases a driver calls directly (reports): the database, read through use cases only. */
  get db(): Db {
    return this.#s.db;
  }
  /** Development only: the simulator's fault injection (tests and the demo). */
  get simulator(): SimulatedDevice | undefined {
    return this.#s.simulator;
  }

  // --- events --------------------------------------------------------------------------------
  on<E extends IpcEventName>(event: E, fn: (payload: IpcEvent<E>) => void): () => void {
    this.#events.on(event, fn);
    return () => this.#events.off(event, fn);
  }
  #emit<E extends IpcEventName>(event: E, payload: IpcEvent<E>): void {
    this.#events.emit(event, payload);
  }
  #onDeviceEvent(ev: DeviceEvent): void {
    if (ev.progress) {
      const running = listJobs(this.#s.db, { status: ['running'] }).at(-1);
      if (running)
        this.#emit('job.step', {
          jobId: running.id,
          kind: 'intake',
          step: ev.progress.stage,
          progress: ev.progress.percent / 100,
        });
      return;
    }
    this.#emit('device.event', {
      name: ev.name,
      text: describeEvent(ev, this.lang),
      pause: pauseInstruction(ev.name, this.lang) !== undefined,
    });
  }

  // --- session -------------------------------------------------------------------------------
  /**
   * Signs a user in (the PIN is checked by station/users.ts, the role too). The first sign-in
   * of this process settles the intake jobs a dead process left (recoverIntakeJobs).
   */
  signIn(username: string, pin: string): { session: Session; recovered?: RecoveryResult } {
    this.#assertOpen();
    const actor = authenticateWithRole(
      this.#s.db,
      username,
      pin,
      WORKING_ROLES,
      'work at the station',
    );
    this.#actor = actor;
    let recovered: RecoveryResult | undefined;
    if (!this.#recovered) {
      recovered = recoverIntakeJobs(this.#s.db, this.#s.lock, actor);
      this.#recovered = true;
    }
    this.touch();
    const session = this.whoami()!;
    this.#emit('session.changed', session);
    return recovered ? { session, recovered } : { session };
  }

  signOut(): boolean {
    const was = this.#actor !== undefined;
    this.#actor = undefined;
    if (this.#lockTimer) clearTimeout(this.#lockTimer);
    this.#lockTimer = undefined;
    if (was) this.#emit('session.changed', null);
    return was;
  }

  whoami(): Session | null {
    const a = this.#actor;
    return a ? { username: a.username, role: a.role, lockAfterMs: this.#lockAfterMs() } : null;
  }

  /** Activity from the user: the inactivity lock starts over. Returns ms until it locks. */
  touch(): number {
    this.actor();
    const ms = this.#lockAfterMs();
    if (this.#lockTimer) clearTimeout(this.#lockTimer);
    if (Number.isFinite(ms)) {
      this.#lockTimer = setTimeout(() => {
        // Never mid-job: the lock waits for the job to finish.
        if (this.#busy) this.touch();
        else this.signOut();
      }, ms);
      this.#lockTimer.unref();
    }
    return ms;
  }

  #lockAfterMs(): number {
    return this.#seams.lockAfterMs ?? DEFAULT_LOCK_AFTER_MS;
  }

  /** The signed-in user; NotSignedInError otherwise. With roles, checks them (requireRole). */
  actor(roles?: readonly Role[], action = 'do this'): Actor {
    this.#assertOpen();
    if (!this.#actor) throw new NotSignedInError();
    if (roles) requireRole(this.#actor, roles, action);
    return this.#actor;
  }

  // --- work ----------------------------------------------------------------------------------
  get jobKind(): 'production' | 'test' {
    return this.actor().role === 'technician' ? 'test' : 'production';
  }

  /** Takes up to `count` booklets through intake (the intake use case checks the role). */
  async intake(
    count: number,
    opts: { onOutcome?: (o: IntakeOutcome) => void; shouldStop?: () => boolean } = {},
  ): Promise<IntakeRun> {
    const actor = this.actor();
    const { db, printer, encoder, custody } = this.#s;
    const outcomes: IntakeOutcome[] = [];
    return this.#exclusive(async () => {
      const run = await runIntake({
        db,
        actor,
        printer,
        encoder,
        custody,
        jobKind: this.jobKind,
        count,
        onOutcome: (o) => {
          outcomes.push(o);
          this.#emitOutcome(o);
          opts.onOutcome?.(o);
        },
        ...(opts.shouldStop ? { shouldStop: opts.shouldStop } : {}),
      });
      return { ...run, outcomes };
    });
  }

  #emitOutcome(o: IntakeOutcome): void {
    const steps = jobJournal(this.#s.db, o.jobId);
    steps.forEach((s, i) =>
      this.#emit('job.step', {
        jobId: o.jobId,
        kind: 'intake',
        step: s.step,
        progress: (i + 1) / steps.length,
      }),
    );
    this.#emit('job.outcome', outcomeView(o, this.lang));
  }

  /** The personalization job: the seam station/personalization fills. */
  async personalize(applicationId?: number) {
    const actor = this.actor(['operator', 'supervisor'], 'personalize booklets');
    const seam = this.#seams.personalize;
    if (!seam) throw new NotAvailableError('personalization is not part of this station yet');
    const { db, printer, encoder, custody } = this.#s;
    return this.#exclusive(() =>
      seam({
        db,
        actor,
        printer,
        encoder,
        custody,
        ...(applicationId !== undefined ? { applicationId } : {}),
        onStep: (jobId, step, progress) =>
          this.#emit('job.step', { jobId, kind: 'personalize', step, progress }),
      }),
    );
  }

  /** One job at a time on one device: a second caller is refused, not queued. */
  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#busy)
      throw new StationError('the station is busy with another job: wait for it', 'busy');
    this.#busy = true;
    try {
      return await fn();
    } finally {
      this.#busy = false;
      if (this.#actor) this.touch();
    }
  }

  /** The device's status now (asks the device). */
  async printerStatus(): Promise<DeviceStatus> {
    this.actor();
    return this.#s.printer.status();
  }

  /** Device events as they come (not job progress): returns what unsubscribes. */
  onDeviceEvent(fn: (ev: DeviceEvent) => void): () => void {
    const f = (ev: DeviceEvent): void => {
      if (!ev.progress) fn(ev);
    };
    this.#s.printer.on('event', f);
    return () => this.#s.printer.off('event', f);
  }

  /** The device as the window shows it: connection, flags, and what holds work (if anything). */
  async deviceView() {
    this.actor();
    const id = this.#s.deviceIdentity;
    const base = {
      source: this.#s.deviceSource,
      model: id.model,
      serialNumber: id.serialNumber,
    };
    try {
      const s = await this.#s.printer.status();
      return {
        ...base,
        connected: true,
        flags: { ...s.flags },
        position: s.position,
        pause: pauseOf(s, this.lang),
      };
    } catch {
      return { ...base, connected: false, flags: {}, position: 'unknown', pause: null };
    }
  }

  /** Days of stock left at the issuance rate of the last `days` days; low under LOW_STOCK_DAYS. */
  daysOfStockLeft(days: number) {
    this.actor();
    const id = this.identity;
    const today = dayOf(new Date(), id.timeZone);
    const from = dayOf(new Date(Date.now() - (days - 1) * 86_400_000), id.timeZone);
    const perDay = issuedPerDay(this.#s.db, id.stationId, from, today) / days;
    const onHand = this.stock().onHand;
    const daysLeft = perDay > 0 ? onHand / perDay : null;
    return {
      onHand,
      perDay,
      daysLeft,
      low: daysLeft !== null ? daysLeft < LOW_STOCK_DAYS : onHand === 0,
    };
  }

  /** The device clients, for use cases that drive the device (the technician's terminal). */
  get devices(): { printer: PrinterClient; encoder: EncoderClient } {
    return { printer: this.#s.printer, encoder: this.#s.encoder };
  }
  /** The station's open custody, lent (the core closes it). */
  readonly openCustody = async (): Promise<TransportKeyCustody> => {
    const c = this.#s.custody;
    return {
      kind: c.kind,
      chipKeys: (agency, keyVersion, chip) => c.chipKeys(agency, keyVersion, chip),
      has: (agency, keyVersion) => c.has(agency, keyVersion),
      list: () => c.list(),
      close: async () => undefined,
    };
  };

  /** Runs `fn` when the core closes (before the device and database). */
  onClose(fn: () => unknown): void {
    this.#s.closers.add('a session of the core', fn);
  }

  syncStatus(): SyncState {
    this.actor();
    return (
      this.#seams.syncStatus?.() ?? {
        state: 'not-configured',
        waiting: pendingOutbox(this.#s.db, 10_000).length,
        offlineAllowanceLeft: null,
      }
    );
  }

  stationSummary() {
    this.actor();
    const id = this.identity;
    return {
      stationId: id.stationId,
      agencyCode: id.agencyCode,
      agencyName: agencyName(this.#s.db, id.agencyCode),
      development: this.#s.development,
      dataDir: this.#s.dataDir,
    };
  }

  stock(): { onHand: number; byState: Record<string, number> } {
    this.actor();
    const stock = stockOnHand(this.#s.db, this.identity.stationId);
    return {
      onHand: stock.reduce((n, s) => n + s.count, 0),
      byState: Object.fromEntries(stock.map((s) => [s.state, s.count])),
    };
  }

  #assertOpen(): void {
    if (this.#closed) throw new StationError('the station is closed', 'closed');
  }

  /** Signs out and closes the device, keys, simulator and database (reverse order). */
  async close(err: (line: string) => void = () => undefined): Promise<void> {
    if (this.#closed) return;
    this.signOut();
    this.#closed = true;
    this.#events.removeAllListeners();
    await this.#s.closers.closeAll(err);
  }
}

/** An intake outcome as the window shows it (no in-memory clearance). */
export function outcomeView(o: IntakeOutcome, lang: StationLanguage) {
  return {
    jobId: o.jobId,
    serial: o.facts.printedSerial ?? null,
    decision: o.decision,
    ...(o.decision === 'refused'
      ? {
          reason: o.reason,
          message: o.messages[lang].reason,
          instruction: o.messages[lang].instruction,
        }
      : {}),
  };
}
