/**
 * The station core (docs/desktop.md): one running station — its data directory lock, database,
 * key custody, device, job runner, sync status, the signed-in user and its events. The console
 * (`station start`), the Electron main process and the browser-mode bridge drive this one
 * object; none of them holds station logic. Every method that acts needs a signed-in user, and
 * the use cases it calls check that user's role (requireRole), as they do for the CLI.
 */
import { EventEmitter } from 'node:events';
import {
  accessAllows,
  IPC_EVENTS,
  TERMINAL_FRAMES,
  type IpcEvent,
  type IpcEventName,
} from '../../contracts/ipc.ts';
import type { DeviceEvent, DeviceIdentity, DeviceStatus } from '../../drivers/device-client.ts';
import type { EncoderClient } from '../../drivers/encoder.ts';
import type { Link, TraceEntry } from '../../drivers/link.ts';
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
import type { ApplicationDataKey } from '../keys/data-key.ts';
import {
  personalize,
  type OperatorPause,
  type PersoOutcome,
  type WaitForOperator,
} from '../personalization/job.ts';
import { recoverStation, type StationRecovery } from '../personalization/recovery.ts';
import {
  openStationSigner,
  type SignerKind,
  type StationSigner,
} from '../personalization/signers.ts';
import { checkIssuanceAllowed, readSyncStatus, type SyncStatus } from '../sync/index.ts';
import type { OpenedSync } from '../sync/open.ts';
import type { StationLock } from '../station-lock.ts';
import { authenticateWithRole, requireRole, type Actor, type Role } from '../users.ts';
import { dayOf } from '../time.ts';
import { terminalFrameView } from '../device-terminal.ts';
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

/** The sync badge: online or not, records waiting, what is left of the offline allowance. */
export interface SyncState {
  state: 'online' | 'offline' | 'not-configured';
  waiting: number;
  /** Issuances left before the signed offline allowance stops personalization (null: no limit). */
  offlineAllowanceLeft: number | null;
  /** Hours left of the allowance (null: no limit). */
  offlineHoursLeft: number | null;
  /** Why issuance is stopped now (the allowance ran out, none yet), or null. */
  issuanceStopped: string | null;
  lastSuccessAt: string | null;
}

/** What stopped a job until the operator acts (station/personalization's OperatorPause). */
export type { OperatorPause };

/** Settings a driver chooses. */
export interface CoreSeams {
  lang?: StationLanguage;
  lockAfterMs?: number;
}

/** Personalization's keys, when the station has its application data key. */
export interface OpenedPerso {
  dataKey: ApplicationDataKey;
  cscas: { production?: string; test?: string };
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
  /** Absent: this station cannot personalize (no application data key); `why` says so. */
  perso: OpenedPerso | { unavailable: string };
  /** The sync loop of an enrolled station (absent: not enrolled with a central office). */
  sync?: OpenedSync;
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
  #preview: { jobId: number; svg: string } | undefined;
  #persoRecovered: Promise<StationRecovery | undefined> | undefined;
  readonly #signers = new Map<SignerKind, StationSigner>();
  #busy = false;
  #paused: { pause: OperatorPause; resolve: () => void; reject: (e: Error) => void } | undefined;
  #closed = false;
  /** The device conversation of the technician's session (terminal.log), newest last. */
  readonly #frames: IpcEvent<'terminal.frame'>[] = [];
  #frameId = 0;
  lang: StationLanguage;

  constructor(opened: OpenedStation, seams: CoreSeams = {}) {
    this.#s = opened;
    this.#seams = seams;
    this.lang = seams.lang ?? 'es';
    this.identity = getStationIdentity(opened.db);
    const onEvent = (ev: DeviceEvent): void => this.#onDeviceEvent(ev);
    opened.printer.on('event', onEvent);
    opened.closers.add('the event listener', () => opened.printer.off('event', onEvent));
    const onFrame = (e: TraceEntry): void => this.#onFrame(e);
    opened.link.on('frame', onFrame);
    opened.closers.add('the frame listener', () => opened.link.off('frame', onFrame));
    opened.closers.add('the Document Signers', () => {
      for (const signer of this.#signers.values()) signer.close();
      this.#signers.clear();
    });
    const sync = opened.sync;
    if (sync) {
      const onConnection = (): void => this.#emit('sync.state', this.#syncState());
      sync.service.on('connection', onConnection);
      opened.closers.add('the sync listener', () => sync.service.off('connection', onConnection));
    }
  }

  /** Starts the sync loop of an enrolled station (openStation does, once the core is built). */
  startSync(): void {
    this.#s.sync?.service.start();
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
  /**
   * Events go out only while the signed-in user's role may receive them (the contract's
   * IPC_EVENTS access): every driver (the window's IPC, the browser bridge, the console)
   * listens through `on`, so none can pass one to a page that may not see it.
   */
  #emit<E extends IpcEventName>(event: E, payload: IpcEvent<E>): void {
    if (!this.#mayReceive(event)) return;
    this.#events.emit(event, payload);
  }
  #mayReceive(event: IpcEventName): boolean {
    return accessAllows(IPC_EVENTS[event].access, this.#actor?.role);
  }
  /**
   * Each frame of the device conversation, decoded with payloads that may carry personal data
   * or keys shown only by their shape, for the technician's terminal (kept for terminal.log,
   * at most TERMINAL_FRAMES). Nothing is decoded or kept while no one with the role is signed in.
   */
  #onFrame(e: TraceEntry): void {
    if (!this.#mayReceive('terminal.frame')) return;
    const frame = { id: ++this.#frameId, ...terminalFrameView(e) };
    this.#frames.push(frame);
    if (this.#frames.length > TERMINAL_FRAMES)
      this.#frames.splice(0, this.#frames.length - TERMINAL_FRAMES);
    this.#emit('terminal.frame', frame);
  }
  /** The frames of this session so far, oldest first (technicians and admins). */
  terminalLog(): IpcEvent<'terminal.frame'>[] {
    this.actor(['technician', 'admin'], 'read the device conversation');
    return this.#frames.slice();
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
    // The conversation a previous session saw is not the new user's.
    this.#frames.length = 0;
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
    this.#frames.length = 0;
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
      // New records (refusals) go to the central office now, not at the next interval.
      this.#s.sync?.service.poke();
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

  /**
   * Settles the personalization (and intake) jobs a dead process left, by reading the booklet
   * in the printer (station/personalization/recovery.ts). Runs once per process, before the
   * first personalization; the console runs it right after sign-in to say what it decided.
   */
  async recoverJobs(): Promise<StationRecovery | undefined> {
    const actor = this.actor();
    const perso = this.#s.perso;
    if (!('dataKey' in perso)) return undefined;
    this.#persoRecovered ??= this.#exclusive(() =>
      recoverStation({
        db: this.#s.db,
        lock: this.#s.lock,
        actor,
        devices: this.devices,
        dataKey: perso.dataKey,
        cscas: perso.cscas,
      }),
    ).catch((e: unknown) => {
      this.#persoRecovered = undefined;
      throw e;
    });
    return this.#persoRecovered;
  }

  /** Whether this station can personalize, and if not why (no application data key). */
  get personalizationUnavailable(): string | undefined {
    const p = this.#s.perso;
    return 'unavailable' in p ? p.unavailable : undefined;
  }

  #signer(kind: SignerKind): StationSigner {
    let signer = this.#signers.get(kind);
    if (!signer) {
      signer = openStationSigner(this.#s.dataDir, kind);
      this.#signers.set(kind, signer);
    }
    return signer;
  }

  /**
   * Personalizes the next application of the queue (or `applicationId`): the job of
   * station/personalization with this station's keys and Document Signer. Steps go out as
   * `job.step` events, the end as `job.personalized`; a pause (jam, cover open, ribbon out)
   * waits for `resume()` unless the driver waits itself (the console waits for the device).
   */
  async personalize(
    opts: { applicationId?: number; waitForOperator?: WaitForOperator } = {},
  ): Promise<PersoOutcome> {
    const actor = this.actor(['operator', 'supervisor'], 'personalize booklets');
    const perso = this.#s.perso;
    if ('unavailable' in perso)
      throw new NotAvailableError(`personalization is not available: ${perso.unavailable}`);
    await this.recoverJobs();
    const signer = this.#signer('production');
    const { db, printer, encoder, custody } = this.#s;
    const outcome = await this.#exclusive(() =>
      personalize({
        db,
        actor,
        printer,
        encoder,
        custody,
        dataKey: perso.dataKey,
        signer,
        ...(opts.applicationId !== undefined ? { applicationId: opts.applicationId } : {}),
        onStep: (step, jobId) => {
          for (const [screenStep, progress] of PERSO_SCREEN_STEPS[step] ?? [])
            this.#emit('job.step', { jobId, kind: 'personalize', step: screenStep, progress });
        },
        onPage: (svg, jobId) => {
          this.#preview = { jobId, svg };
          this.#emit('job.preview', { jobId, svg });
        },
        waitForOperator: opts.waitForOperator ?? ((pause) => this.#waitForOperator(pause)),
      }),
    );
    this.#emit('job.personalized', persoView(outcome));
    // A new issuance (or spoilage) goes to the central office now, not at the next interval.
    this.#s.sync?.service.poke();
    return outcome;
  }

  /** The data page of the running (or last) job, laid out before it prints. */
  preview(): { jobId: number; svg: string } | null {
    this.actor(['operator', 'supervisor'], 'see the data page');
    return this.#preview ?? null;
  }

  /**
   * Development only (tests and the demo): injects a device fault into the simulator (jam,
   * cover open, ribbon out, ...). Refused outside development mode and on a real device; not
   * part of the IPC contract, so no window can call it.
   */
  injectFault(fault: string): string {
    const sim = this.#s.simulator;
    if (!this.#s.development || !sim)
      throw new NotAvailableError('fault injection exists only on the development simulator');
    return sim.inject(fault);
  }

  #waitForOperator(pause: OperatorPause): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#paused = { pause, resolve, reject };
      this.#emit('job.paused', pause);
    });
  }

  /** The operator cleared what paused the job (or gives the job up): it goes on, or ends. */
  resume(giveUp = false): boolean {
    this.actor(WORKING_ROLES, 'resume jobs');
    const p = this.#paused;
    if (!p) throw new StationError('no job is waiting for the operator', 'nothing_paused');
    this.#paused = undefined;
    this.#emit('job.paused', null);
    if (giveUp) p.reject(new StationError('the operator gave the job up', 'given_up'));
    else p.resolve();
    return !giveUp;
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
    return this.#syncState();
  }

  /** The sync loop's status in full (the console's line), or the database's when not running. */
  syncDetail(): SyncStatus {
    this.actor();
    return this.#s.sync?.service.status() ?? readSyncStatus(this.#s.db);
  }

  /** Sync state changes as they happen (the console prints them): returns what unsubscribes. */
  onSyncChange(fn: (s: SyncStatus) => void): () => void {
    const service = this.#s.sync?.service;
    if (!service) return () => undefined;
    service.on('connection', fn);
    return () => service.off('connection', fn);
  }

  #syncState(): SyncState {
    const s = this.#s.sync?.service.status() ?? readSyncStatus(this.#s.db);
    const allowed = checkIssuanceAllowed(this.#s.db);
    const remaining = allowed.ok ? allowed.remaining : undefined;
    return {
      state: !s.enrolled ? 'not-configured' : s.connection === 'online' ? 'online' : 'offline',
      waiting: s.waiting,
      offlineAllowanceLeft: remaining ? remaining.issuances : allowed.ok ? null : 0,
      offlineHoursLeft: remaining ? Math.max(0, remaining.hours) : allowed.ok ? null : 0,
      issuanceStopped: allowed.ok ? null : `${allowed.message}: ${allowed.action}`,
      lastSuccessAt: s.lastSuccessAt,
    };
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
    this.#paused?.reject(new StationError('the station closed', 'closed'));
    this.#paused = undefined;
    this.#closed = true;
    this.#events.removeAllListeners();
    await this.#s.closers.closeAll(err);
  }
}

/**
 * The job's journal steps as the window's steps (feed, checks, encode, verify, print, mrz, the
 * order the default encode-first job runs them) with each one's progress; steps that move
 * nothing on screen (pause, resume, recovery, the end) map to none.
 */
const PERSO_SCREEN_STEPS: Record<string, [string, number][]> = {
  'take-application': [['feed', 0.1]],
  intake: [
    ['feed', 1],
    ['checks', 1],
  ],
  prepare: [['encode', 0.1]],
  'chip-step': [['encode', 0.5]],
  'chip-written': [['encode', 1]],
  'border-read': [['verify', 0.5]],
  'border-result': [['verify', 1]],
  print: [['print', 0.3]],
  printed: [['print', 1]],
  'read-mrz': [['mrz', 0.5]],
  'mrz-result': [['mrz', 1]],
};

/** A personalization outcome as the window shows it (no personal data, no chip files). */
export function persoView(o: PersoOutcome) {
  if (o.outcome === 'no-application') return { outcome: o.outcome };
  const base = {
    outcome: o.outcome,
    jobId: o.jobId,
    applicationId: o.applicationId ?? null,
    serial: o.serial ?? null,
    refusals: o.refusals.length,
  };
  if (o.outcome === 'issued' || o.outcome === 'test_passed')
    return {
      ...base,
      documentNumber: o.documentNumber,
      checksPassed: o.checks.filter((c) => c.ok).length,
    };
  return o.outcome === 'spoiled' || o.outcome === 'returned'
    ? { ...base, step: o.step, answer: o.answer }
    : base;
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
