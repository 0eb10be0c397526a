/**
 * No code path reaches personalization without a passed intake.
 *
 * - requireClearance accepts only a clearance issued by a passed intake whose job is still
 *   accepted, whose booklet is still in process and whose chip is still in the encoder;
 * - an IntakeClearance cannot be made outside station/intake;
 * - the simulated chip refuses every write before SCP03 transport authentication and accepts
 *   writes only through the channel a passed intake opened; a plain command after
 *   authentication is refused;
 * - no role, option or environment variable skips a check;
 * - chip-writing calls appear nowhere in the station or CLI code, so personalization (a later
 *   issue) can write to a chip only through the channel held by a clearance.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeResponse, encodeApdu, type Apdu } from '../drivers/apdu.ts';
import { EMRTD_AID } from '../mrtd/chip.ts';
import { Scp03Error, Scp03Host, SecurityLevel } from '../mrtd/scp03.ts';
import { lookupBooklet } from '../station/booklets.ts';
import { PermissionError } from '../station/errors.ts';
import {
  ClearanceError,
  IntakeClearance,
  intakeNextBooklet,
  releaseAccepted,
  requireClearance,
  type IntakeAccepted,
  type IntakeOptions,
} from '../station/intake/intake.ts';
import { getJob, listJobs } from '../station/intake/journal.ts';
import { recoverIntakeJobs } from '../station/intake/recovery.ts';
import type { TransportKeyCustody } from '../station/keys/custody.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import { transition } from '../station/lifecycle.ts';
import { verifyAudit } from '../station/audit.ts';
import {
  LifeCycle,
  SimChip,
  loadScenario,
  makeBooklet,
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

const ROOT = join(import.meta.dirname, '..');

/** CREATE FILE of DG1 (0101), 32 bytes, with its FCP (docs/chip.md). */
const CREATE_DG1: Apdu = {
  cla: 0,
  ins: 0xe0,
  p1: 0,
  p2: 0,
  data: Buffer.from('6208800200208302' + '0101', 'hex'),
};
const DG1_BYTES = Buffer.from('61' + '1E' + '5F1F1B' + '50'.repeat(27), 'hex');
const UPDATE_DG1: Apdu = { cla: 0, ins: 0xd6, p1: 0, p2: 0, data: DG1_BYTES.subarray(0, 16) };
const PUT_BAC_SEED: Apdu = { cla: 0, ins: 0xda, p1: 0x00, p2: 0x62, data: Buffer.alloc(16, 7) };

let station: SeededStation;
let custody: TransportKeyCustody;
let hopper: Booklet[];

beforeAll(async () => {
  Object.assign(process.env, DEV_ENV);
  station = await seedScenarioStation('foreign-loan');
  custody = await openStationCustody(station.dataDir);
  hopper = (await loadScenario('foreign-loan')).hopper().booklets;
});

afterAll(async () => {
  await custody?.close();
  station?.cleanup();
});

const pick = (...serials: string[]): Booklet[] =>
  serials.map((s) => hopper.find((b) => b.printedSerial === s)!);

function sw(chip: SimChip, apdu: Apdu): number {
  return decodeResponse(chip.process(encodeApdu(apdu))).sw;
}

describe('the clearance gate', () => {
  let sim: RunningSimulator;
  let dev: StationLink;
  let opts: IntakeOptions;

  beforeAll(async () => {
    sim = await startSimulator({
      hopper: {
        version: 1,
        booklets: pick('PA0100001', 'PA0100002', 'PA0100008', 'PA0100009', 'PA0100010'),
      },
    });
    dev = await connectStation(sim.stationPath);
    opts = {
      db: station.db,
      actor: station.actor('operator'),
      custody,
      printer: dev.printer,
      encoder: dev.encoder,
    };
  });

  afterAll(async () => {
    await dev?.close();
    await sim?.close();
  });

  const accept = async (): Promise<IntakeAccepted> => {
    const o = await intakeNextBooklet(opts);
    if (o.decision !== 'accepted') throw new Error(`expected acceptance, got ${o.reason}`);
    return o;
  };
  /** Ends an accepted job the way a restart would, ejecting the booklet. */
  const abandon = async (): Promise<void> => {
    recoverIntakeJobs(station.db, station.restart(), station.actor('supervisor'));
    dev.encoder.setWrapper(undefined);
    await dev.encoder.field(false);
    await dev.printer.eject('output');
  };

  it('refuses anything that merely looks like a clearance', () => {
    const { db } = station;
    const lookalike = {
      jobId: 1,
      serial: 'PA0100001',
      chipUid: '04A1B2C3D4E5F6',
      encoder: dev.encoder,
      channel: undefined,
    };
    expect(() => requireClearance(db, lookalike)).toThrow(ClearanceError);
    expect(() => requireClearance(db, undefined)).toThrow('no passed intake for this booklet');
    // Even an object of the right class, made without the constructor, is not a clearance.
    const forged = Object.assign(Object.create(IntakeClearance.prototype) as object, lookalike);
    expect(forged).toBeInstanceOf(IntakeClearance);
    expect(() => requireClearance(db, forged)).toThrow('no passed intake for this booklet');
  });

  it('cannot be constructed outside station/intake', () => {
    const v = {
      jobId: 1,
      serial: 'PA0100001',
      chipUid: '04A1B2C3D4E5F6',
      encoder: dev.encoder,
      channel: undefined as never,
    };
    expect(() => new IntakeClearance(Symbol('intake'), v)).toThrow(
      'an intake clearance comes only from a passed intake',
    );
    expect(() => new IntakeClearance(Symbol.for('intake'), v)).toThrow();
  });

  it('opens the channel that lets personalization write, and only that channel', async () => {
    const a = await accept();
    expect(a.serial).toBe('PA0100001');
    const c = requireClearance(station.db, a.clearance);
    expect(c.encoder).toBe(dev.encoder);
    const chip = sim.device.current!.chip!;
    expect(chip.lifeCycle).toBe(LifeCycle.PRE_PERSONALIZED);

    // Writes through the encoder's installed SCP03 wrapper are accepted by the chip.
    expect((await c.encoder.transceive(CREATE_DG1)).sw).toBe(0x9000);
    expect((await c.encoder.transceive(UPDATE_DG1)).sw).toBe(0x9000);
    expect((await c.encoder.transceive(PUT_BAC_SEED)).sw).toBe(0x9000);
    expect(chip.listFiles()).toEqual([{ fid: 0x0101, size: 32 }]);
    expect(chip.readFile(0x0101)!.subarray(0, 16)).toEqual(DG1_BYTES.subarray(0, 16));
    expect(chip.putData.get(0x0062)).toEqual(Buffer.alloc(16, 7));
    expect(chip.lifeCycle).toBe(LifeCycle.PERSONALIZING);

    // A plain (unprotected) command after authentication is refused and closes the channel.
    c.encoder.setWrapper(undefined);
    const plain = { ...UPDATE_DG1, data: Buffer.alloc(16, 0xee) };
    expect((await c.encoder.transceive(plain)).sw).toBe(0x6982);
    expect(chip.authenticated).toBe(false);
    expect((await c.encoder.transceive(plain)).sw).toBe(0x6982);
    expect(chip.readFile(0x0101)!.subarray(0, 16)).toEqual(DG1_BYTES.subarray(0, 16));

    // Released (headless intake): the clearance is worth nothing afterwards.
    await releaseAccepted(opts, a);
    expect(() => requireClearance(station.db, a.clearance)).toThrow(
      `intake job ${a.jobId} is released, not accepted`,
    );
  });

  it('refuses a clearance whose booklet is no longer in process', async () => {
    const a = await accept();
    transition(station.db, {
      serial: a.serial,
      to: 'allocated',
      actor: station.actor('supervisor'),
      reason: 'test: booklet taken back',
    });
    expect(() => requireClearance(station.db, a.clearance)).toThrow(
      `booklet ${a.serial} is allocated, not in process`,
    );
    await abandon();
  });

  it('refuses a clearance whose job is no longer accepted', async () => {
    const a = await accept();
    station.db.prepare(`UPDATE intake_jobs SET status = 'refused' WHERE id = ?`).run(a.jobId);
    expect(() => requireClearance(station.db, a.clearance)).toThrow(
      `intake job ${a.jobId} is refused, not accepted`,
    );
    station.db.prepare(`UPDATE intake_jobs SET status = 'accepted' WHERE id = ?`).run(a.jobId);
    expect(requireClearance(station.db, a.clearance)).toBe(a.clearance);
    await abandon();
    expect(getJob(station.db, a.jobId)!.status).toBe('released');
    expect(() => requireClearance(station.db, a.clearance)).toThrow(ClearanceError);
  });

  it('refuses a clearance when another chip is in the encoder, or none', async () => {
    const a = await accept();
    expect(a.serial).toBe('PA0100009');
    // The checked booklet leaves; another one is fed and its chip detected.
    dev.encoder.setWrapper(undefined);
    await dev.encoder.field(false);
    expect(() => requireClearance(station.db, a.clearance)).toThrow(
      'the chip in the encoder is not the one checked',
    );
    await dev.printer.eject('output');
    await dev.printer.feed();
    await dev.printer.moveToEncoder();
    await dev.encoder.field(true);
    const other = await dev.encoder.detectChip();
    expect(other.uid.toString('hex').toUpperCase()).not.toBe(a.clearance.chipUid);
    expect(() => requireClearance(station.db, a.clearance)).toThrow(
      'the chip in the encoder is not the one checked',
    );
    // That chip was never authenticated: it refuses writes.
    expect((await dev.encoder.transceive(CREATE_DG1)).sw).toBe(0x6982);
    expect(sim.device.current!.chip!.listFiles()).toEqual([]);
    await abandon();
    expect(lookupBooklet(station.db, a.serial)!.state).toBe('allocated');
  });
});

describe('no role, option or setting skips a check', () => {
  it('refuses intake to the roles that may not run it, before anything happens', async () => {
    const before = listJobs(station.db).length;
    const base = {
      db: station.db,
      custody,
      // No device is touched: the role check comes first.
      printer: undefined as never,
      encoder: undefined as never,
    };
    const admin = station.actor('admin');
    const technician = station.actor('technician');
    const operator = station.actor('operator');
    await expect(intakeNextBooklet({ ...base, actor: admin })).rejects.toThrow(PermissionError);
    await expect(intakeNextBooklet({ ...base, actor: admin, jobKind: 'test' })).rejects.toThrow(
      PermissionError,
    );
    await expect(intakeNextBooklet({ ...base, actor: technician })).rejects.toThrow(
      'technician (technician) may not run intake for production',
    );
    await expect(intakeNextBooklet({ ...base, actor: operator, jobKind: 'test' })).rejects.toThrow(
      PermissionError,
    );
    expect(listJobs(station.db)).toHaveLength(before);
  });

  it('refuses a foreign booklet whatever options or environment are passed', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      STATION_SKIP_INTAKE: '1',
      STATION_INTAKE_OVERRIDE: '1',
      STATION_MODE: 'development',
    });
    const sim = await startSimulator({ hopper: { version: 1, booklets: pick('PR0500001') } });
    const dev = await connectStation(sim.stationPath);
    try {
      const opts = {
        db: station.db,
        actor: station.actor('supervisor'),
        custody,
        printer: dev.printer,
        encoder: dev.encoder,
        override: true,
        skipChecks: true,
        force: true,
      } as IntakeOptions;
      const o = await intakeNextBooklet(opts);
      expect(o).toMatchObject({ decision: 'refused', reason: 'FOREIGN_AGENCY' });
      expect(sim.rejectTray.map((b) => b.booklet.printedSerial)).toEqual(['PR0500001']);
    } finally {
      process.env = saved;
      await dev.close();
      await sim.close();
    }
    // The intake module reads no environment variable: no setting can change what it checks.
    for (const f of ['intake.ts', 'journal.ts', 'reasons.ts', 'messages.ts']) {
      const src = readFileSync(join(ROOT, 'station/intake', f), 'utf8');
      expect({ f, env: /process\.env/.test(src) }).toEqual({ f, env: false });
    }
    expect(verifyAudit(station.db).ok).toBe(true);
  });
});

describe('the simulated chip without a passed intake', () => {
  const booklet = (): Booklet => makeBooklet({ serial: 'PA0999001', profileId: 'X' });
  const select: Apdu = { cla: 0, ins: 0xa4, p1: 4, p2: 0x0c, data: EMRTD_AID };

  it('refuses CREATE FILE, UPDATE BINARY and PUT DATA before SCP03 (6982)', () => {
    const chip = new SimChip(booklet());
    expect(sw(chip, select)).toBe(0x9000);
    expect(sw(chip, CREATE_DG1)).toBe(0x6982);
    expect(sw(chip, UPDATE_DG1)).toBe(0x6982);
    expect(sw(chip, PUT_BAC_SEED)).toBe(0x6982);
    expect(sw(chip, { cla: 0, ins: 0xda, p1: 0, p2: 0xde, data: Buffer.from([1]) })).toBe(0x6982);
    // A command that claims secure messaging without a channel is refused too.
    expect(sw(chip, { ...CREATE_DG1, cla: 0x04 })).toBe(0x6982);
    expect(chip.listFiles()).toEqual([]);
    expect(chip.locked).toBe(false);
    // What is readable before authentication: the life cycle (GET DATA 00DE).
    const lc = decodeResponse(
      chip.process(encodeApdu({ cla: 0, ins: 0xca, p1: 0, p2: 0xde, le: 1 })),
    );
    expect(lc).toEqual({ data: Buffer.from([LifeCycle.PRE_PERSONALIZED]), sw: 0x9000 });
  });

  it('has the transport lock on by default; only link-level tests turn it off', () => {
    expect(new SimChip(booklet()).writesRequireAuth).toBe(true);
    const unlocked = new SimChip(booklet(), { transportLock: false });
    expect(sw(unlocked, select)).toBe(0x9000);
    expect(sw(unlocked, CREATE_DG1)).toBe(0x9000);
  });
});

describe('the transport lock against replay', () => {
  const booklet = makeBooklet({ serial: 'PA0999002', profileId: 'X' });
  const keys = {
    enc: Buffer.from(booklet.transportKeys.enc, 'hex'),
    mac: Buffer.from(booklet.transportKeys.mac, 'hex'),
    dek: Buffer.from(booklet.transportKeys.dek, 'hex'),
  };
  const select: Apdu = { cla: 0, ins: 0xa4, p1: 4, p2: 0x0c, data: EMRTD_AID };
  /** A fresh session: field reset, application selected, SCP03 opened with the chip's keys. */
  const session = (chip: SimChip): Scp03Host => {
    chip.reset();
    expect(sw(chip, select)).toBe(0x9000);
    const host = new Scp03Host(keys, {
      keyVersion: booklet.keyVersion,
      securityLevel: SecurityLevel.C_DECRYPTION_C_MAC_R_MAC,
    });
    const ext = host.externalAuthenticate(chip.process(host.initializeUpdate()));
    host.completeAuthentication(chip.process(ext));
    expect(chip.authenticated).toBe(true);
    return host;
  };
  const send = (chip: SimChip, raw: Buffer): number => decodeResponse(chip.process(raw)).sw;

  it('refuses a write recorded in one session when replayed, in that session or the next', () => {
    const chip = new SimChip(booklet);
    const h1 = session(chip);
    expect(send(chip, h1.wrap(encodeApdu(CREATE_DG1)))).toBe(0x9000);
    const recorded = h1.wrap(encodeApdu(UPDATE_DG1));
    expect(send(chip, recorded)).toBe(0x9000);
    // The same bytes again: the counter and the MAC chaining have moved on.
    expect(send(chip, recorded)).not.toBe(0x9000);
    expect(chip.authenticated).toBe(false);

    session(chip);
    expect(send(chip, recorded)).not.toBe(0x9000);
    expect(chip.authenticated).toBe(false);
    // The legitimate host of a new session still writes.
    const h3 = session(chip);
    const selectDg1: Apdu = { cla: 0, ins: 0xa4, p1: 2, p2: 0x0c, data: Buffer.from([1, 1]) };
    expect(send(chip, h3.wrap(encodeApdu(selectDg1)))).toBe(0x9000);
    const again = { ...UPDATE_DG1, p2: 16, data: DG1_BYTES.subarray(16) };
    expect(send(chip, h3.wrap(encodeApdu(again)))).toBe(0x9000);
    expect(chip.readFile(0x0101)).toEqual(DG1_BYTES);
  });

  it('refuses EXTERNAL AUTHENTICATE without a fresh INITIALIZE UPDATE, and a wrong key', () => {
    const chip = new SimChip(booklet);
    expect(sw(chip, select)).toBe(0x9000);
    const host = new Scp03Host(keys, { securityLevel: SecurityLevel.C_DECRYPTION_C_MAC_R_MAC });
    const ext = host.externalAuthenticate(chip.process(host.initializeUpdate()));
    // Another INITIALIZE UPDATE comes in between: the old host cryptogram no longer opens.
    chip.process(new Scp03Host(keys).initializeUpdate());
    expect(send(chip, ext)).not.toBe(0x9000);
    expect(chip.authenticated).toBe(false);
    expect(sw(chip, CREATE_DG1)).toBe(0x6982);

    // A host with another agency's key cannot even produce an EXTERNAL AUTHENTICATE.
    const wrong = new Scp03Host(
      { enc: Buffer.alloc(16, 1), mac: Buffer.alloc(16, 2), dek: Buffer.alloc(16, 3) },
      { securityLevel: SecurityLevel.C_DECRYPTION_C_MAC_R_MAC },
    );
    expect(() => wrong.externalAuthenticate(chip.process(wrong.initializeUpdate()))).toThrow(
      Scp03Error,
    );
    expect(chip.listFiles()).toEqual([]);
  });
});

/** Source files of the station side (not drivers/, simulator/, mrtd/ or tests). */
function stationSources(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return; // electron/ is not there yet
    }
    for (const n of names) {
      const p = join(dir, n);
      if (n === 'node_modules') continue;
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|tsx|mts|js|mjs)$/.test(n) && !/\.test\.tsx?$/.test(n)) out.push(p);
    }
  };
  for (const d of ['station', 'cli', 'electron', 'renderer']) walk(join(ROOT, d));
  return out;
}

const CHIP_WRITES = [
  /\bupdateBinary\w*\s*\(/,
  /\bcreateFile\b/,
  /\bputData\b/,
  /\bins\s*:\s*0x(e0|d6|da)\b/i,
  /\bins\s*===?\s*0x(e0|d6|da)\b/i,
];

describe('static scan: no chip-writing call outside drivers/, simulator/, mrtd/ and tests', () => {
  it('finds the patterns where they belong (the scan works)', () => {
    const encoder = readFileSync(join(ROOT, 'drivers/encoder.ts'), 'utf8');
    expect(CHIP_WRITES[0]!.test(encoder)).toBe(true);
    expect(CHIP_WRITES[3]!.test(encoder)).toBe(true);
  });

  it('finds none in station/, cli/ or electron/', () => {
    const files = stationSources();
    expect(files.some((f) => f.endsWith('station/intake/intake.ts'))).toBe(true);
    const hits: string[] = [];
    for (const f of files) {
      const lines = readFileSync(f, 'utf8').split('\n');
      lines.forEach((l, i) => {
        if (CHIP_WRITES.some((re) => re.test(l)))
          hits.push(`${relative(ROOT, f)}:${i + 1}: ${l.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });
});
