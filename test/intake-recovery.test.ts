/**
 * Device faults and restarts during intake. A fault (jam, cover open, dropped connection) is
 * not a verdict on the booklet: intake stops with IntakeDeviceError naming the step, the job is
 * `failed`, the booklet's ledger state is unchanged and nothing is left in process. After a
 * crash, recoverIntakeJobs turns a `running` job into `interrupted` and gives the booklet of an
 * `accepted` one back to the station's stock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeviceError, Status } from '../drivers/protocol.ts';
import { lookupBooklet } from '../station/booklets.ts';
import { verifyAudit } from '../station/audit.ts';
import {
  IntakeDeviceError,
  intakeNextBooklet,
  requireClearance,
  ClearanceError,
  type IntakeOptions,
} from '../station/intake/intake.ts';
import {
  getJob,
  jobJournal,
  journalStep,
  startJob,
  StationNotLockedError,
} from '../station/intake/journal.ts';
import {
  recoverAsSupervisor,
  recoverIntakeJobs,
  RecoveryLockError,
} from '../station/intake/recovery.ts';
import { acquireStationLock } from '../station/station-lock.ts';
import type { TransportKeyCustody } from '../station/keys/custody.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import { pendingOutbox } from '../station/outbox.ts';
import {
  loadScenario,
  startSimulator,
  type Booklet,
  type RunningSimulator,
} from '../simulator/index.ts';
import {
  connectStation,
  DEV_ENV,
  seedScenarioStation,
  type SeededStation,
  type StationLink,
} from './intake-support.ts';

let station: SeededStation;
let custody: TransportKeyCustody;
let hopper: Booklet[];
let sim: RunningSimulator | undefined;
let dev: StationLink | undefined;

beforeAll(async () => {
  Object.assign(process.env, DEV_ENV);
  station = await seedScenarioStation('foreign-loan');
  custody = await openStationCustody(station.dataDir);
  hopper = (await loadScenario('foreign-loan')).hopper().booklets;
});

afterEach(async () => {
  await dev?.close();
  await sim?.close();
  dev = undefined;
  sim = undefined;
});

afterAll(async () => {
  await custody?.close();
  station?.cleanup();
});

async function start(...serials: string[]): Promise<IntakeOptions> {
  sim = await startSimulator({
    hopper: {
      version: 1,
      booklets: serials.map((s) => hopper.find((b) => b.printedSerial === s)!),
    },
  });
  dev = await connectStation(sim.stationPath);
  return {
    db: station.db,
    actor: station.actor('operator'),
    custody,
    printer: dev.printer,
    encoder: dev.encoder,
  };
}

const inProcess = (): number =>
  station.db
    .prepare(`SELECT count(*) FROM booklets WHERE state = 'in_process'`)
    .pluck()
    .get() as number;
const refusals = (): number =>
  station.db.prepare('SELECT count(*) FROM refusals').pluck().get() as number;

/** Runs intake expecting a device fault; returns the error. */
async function expectDeviceFault(opts: IntakeOptions): Promise<IntakeDeviceError> {
  const e = await intakeNextBooklet(opts).then(
    (o) => new Error(`intake did not fail: ${o.decision}`),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(IntakeDeviceError);
  return e as IntakeDeviceError;
}

describe('a device fault mid-intake', () => {
  it('a jam after the serial was read stops intake at move-to-encoder', async () => {
    const opts = await start('PA0100001');
    const before = refusals();
    // The jam happens while the booklet travels to the encoder.
    const move = opts.printer.moveToEncoder.bind(opts.printer);
    opts.printer.moveToEncoder = async (permit) => {
      sim!.inject('jam');
      return move(permit);
    };
    const e = await expectDeviceFault(opts);
    expect(e.step).toBe('move-to-encoder');
    expect(e.message).toMatch(/^intake stopped at step move-to-encoder: /);
    expect(e.cause).toBeInstanceOf(DeviceError);
    expect((e.cause as DeviceError).status).toBe(Status.JAM);

    const job = getJob(station.db, e.jobId)!;
    expect(job).toMatchObject({ status: 'failed', printedSerial: 'PA0100001' });
    expect(job.error).toMatch(/^move-to-encoder: /);
    expect(jobJournal(station.db, e.jobId).map((j) => j.step)).toEqual([
      'feed',
      'read-printed-serial',
      'move-to-encoder',
      'fail',
    ]);
    expect(lookupBooklet(station.db, 'PA0100001')!.state).toBe('allocated');
    expect(inProcess()).toBe(0);
    // A fault is not a refusal: nothing recorded or queued as one.
    expect(refusals()).toBe(before);
    expect(sim!.rejectTray).toEqual([]);
  });

  it('a connection dropped before the transport authentication stops intake there', async () => {
    const opts = await start('PA0100002');
    // The connection drops right after the application was selected.
    const select = opts.encoder.selectApplication.bind(opts.encoder);
    opts.encoder.selectApplication = async (aid: Buffer) => {
      await select(aid);
      sim!.inject('disconnect-now 200');
    };
    const e = await expectDeviceFault(opts);
    expect(e.message).toMatch(/^intake stopped at step transport-authentication: .*disconnected/);
    expect(e.step).toBe('transport-authentication');
    const job = getJob(station.db, e.jobId)!;
    expect(job.status).toBe('failed');
    expect(job.chipUid).not.toBeNull();
    expect(lookupBooklet(station.db, 'PA0100002')!.state).toBe('allocated');
    expect(inProcess()).toBe(0);
  });

  it('a cover open at feed stops intake before anything is known of the booklet', async () => {
    const opts = await start('PA0100008');
    sim!.inject('cover-open');
    const e = await expectDeviceFault(opts);
    expect(e.step).toBe('feed');
    expect((e.cause as DeviceError).status).toBe(Status.COVER_OPEN);
    expect(getJob(station.db, e.jobId)).toMatchObject({ status: 'failed', printedSerial: null });
    // Once the cover is closed the same booklet goes through.
    sim!.inject('cover-close');
    const o = await intakeNextBooklet(opts);
    expect(o).toMatchObject({ decision: 'accepted', serial: 'PA0100008' });
    expect(lookupBooklet(station.db, 'PA0100008')!.state).toBe('in_process');
    // Left accepted, as a crash would leave it: recovered by the next test.
  });
});

describe('recovery after a restart', () => {
  it('interrupts running jobs and gives accepted booklets back to stock', async () => {
    const { db } = station;
    const supervisor = station.actor('supervisor');
    // A job the process died in the middle of.
    const at = new Date();
    const running = startJob(db, {
      kind: 'production',
      stationId: 'LIM-AIR-01',
      actorId: station.actor('operator').id,
      at,
    });
    journalStep(db, running, 'feed', at);
    const accepted = db
      .prepare(`SELECT id, printed_serial FROM intake_jobs WHERE status = 'accepted'`)
      .all() as { id: number; printed_serial: string }[];
    expect(accepted).toEqual([{ id: expect.any(Number), printed_serial: 'PA0100008' }]);
    const auditBefore = db.prepare('SELECT count(*) FROM audit_log').pluck().get() as number;

    // This process's own jobs are never recovered: only a new session (a restart) settles them.
    expect(recoverIntakeJobs(db, station.lock, supervisor)).toMatchObject({
      interrupted: 0,
      released: 0,
    });
    expect(recoverIntakeJobs(db, station.restart(), supervisor)).toMatchObject({
      interrupted: 1,
      released: 1,
    });

    expect(getJob(db, running)).toMatchObject({
      status: 'interrupted',
      error: 'interrupted by a restart',
    });
    expect(jobJournal(db, running).map((j) => j.step)).toEqual(['feed', 'fail']);
    expect(getJob(db, accepted[0]!.id)!.status).toBe('released');
    expect(lookupBooklet(db, 'PA0100008')!.state).toBe('allocated');
    expect(inProcess()).toBe(0);
    const audit = db
      .prepare(`SELECT action, details FROM audit_log ORDER BY seq DESC LIMIT 1`)
      .get() as { action: string; details: string };
    expect(audit.action).toBe('intake.recovered');
    expect(JSON.parse(audit.details)).toEqual({
      interrupted: 1,
      released: 1,
      jobs: [
        { jobId: accepted[0]!.id, was: 'accepted', now: 'released' },
        { jobId: running, was: 'running', now: 'interrupted' },
      ],
    });
    const auditAfter = db.prepare('SELECT count(*) FROM audit_log').pluck().get() as number;
    expect(auditAfter).toBeGreaterThan(auditBefore);
    // A second recovery finds nothing to do and writes nothing.
    expect(recoverIntakeJobs(db, station.restart(), supervisor)).toEqual({
      interrupted: 0,
      released: 0,
      jobs: [],
    });
    expect(db.prepare('SELECT count(*) FROM audit_log').pluck().get()).toBe(auditAfter);
    expect(pendingOutbox(db, 1000).filter((o) => o.kind === 'intake.refusal')).toEqual([]);
    expect(verifyAudit(db).ok).toBe(true);
  });

  it('a clearance from before the restart no longer opens the gate', async () => {
    const opts = await start('PA0100009');
    const o = await intakeNextBooklet(opts);
    if (o.decision !== 'accepted') throw new Error(`expected acceptance, got ${o.reason}`);
    expect(requireClearance(station.db, o.clearance)).toBe(o.clearance);
    recoverIntakeJobs(station.db, station.restart(), station.actor('supervisor'));
    expect(() => requireClearance(station.db, o.clearance)).toThrow(ClearanceError);
    expect(lookupBooklet(station.db, 'PA0100009')!.state).toBe('allocated');
  });
});

describe('recovery and intake need the data directory lock', () => {
  it('recovery refuses a released lock or the lock of another directory', async () => {
    const { db } = station;
    const supervisor = station.actor('supervisor');
    const old = station.lock;
    station.restart();
    expect(() => recoverIntakeJobs(db, old, supervisor)).toThrow(RecoveryLockError);
    const elsewhere = mkdtempSync(join(tmpdir(), 'other-station-'));
    const other = acquireStationLock(elsewhere, { command: 'test' });
    try {
      expect(() => recoverIntakeJobs(db, other, supervisor)).toThrow(
        /needs the lock of its own data directory/,
      );
    } finally {
      other.release();
      rmSync(elsewhere, { recursive: true, force: true });
    }
    // Operators recover at the start of their intake; `station recover` is for supervisors.
    expect(() => recoverAsSupervisor(db, station.lock, station.actor('operator'))).toThrow(
      /may not run recovery/,
    );
  });

  it('intake does not start a job without the lock', async () => {
    const opts = await start('PA0100010');
    station.lock.release();
    try {
      await expect(intakeNextBooklet(opts)).rejects.toThrow(StationNotLockedError);
      expect(sim!.hopper).toHaveLength(1);
    } finally {
      station.restart();
    }
  });
});

describe('a refusal whose eject fails', () => {
  it('stands, recorded and queued, and says the eject failed', async () => {
    const opts = await start('PR0500001');
    const before = refusals();
    sim!.inject('reject-tray-full');
    const o = await intakeNextBooklet(opts);
    expect(o).toMatchObject({ decision: 'refused', reason: 'FOREIGN_AGENCY' });
    if (o.decision !== 'refused') throw new Error('unreachable');
    expect(o.ejectError).toMatch(/reject/i);
    expect(refusals()).toBe(before + 1);
    expect(getJob(station.db, o.jobId)!.status).toBe('refused');
    expect(
      jobJournal(station.db, o.jobId)
        .map((j) => j.step)
        .slice(-2),
    ).toEqual(['refuse', 'eject-reject']);
    expect(sim!.rejectTray).toEqual([]);
    expect(inProcess()).toBe(0);
  });
});
