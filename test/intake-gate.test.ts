/**
 * No code path reaches personalization without a passed intake.
 *
 * - requireClearance accepts only a clearance issued by a passed intake whose job is still
 *   accepted, whose booklet is still in process and whose chip is still in the encoder;
 * - an IntakeClearance cannot be made outside station/intake;
 * - the simulated chip refuses every write before SCP03 transport authentication and accepts
 *   writes only through the channel a passed intake opened; a plain command after
 *   authentication is refused;
 * - no role, option or environment variable skips a check (test/intake-no-override.test.ts);
 * - nothing that moves, prints on or writes to a booklet reaches the wire without a permit from
 *   the device gate (station/device-gate.ts), whatever path built the command, and a permit
 *   cannot be forged, reused or minted by anyone else (tried, not scanned for).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeResponse, encodeApdu, type Apdu } from '../iso7816/apdu.ts';
import { FrameType, type Link } from '../drivers/link.ts';
import {
  claimPermitAuthority,
  DevicePermit,
  PermitError,
  permitIsLive,
} from '../drivers/permit.ts';
import { Command } from '../drivers/protocol.ts';
import { EMRTD_AID } from '../mrtd/chip.ts';
import { Scp03Error, Scp03Host, SecurityLevel } from '../mrtd/scp03.ts';
import { lookupBooklet } from '../station/booklets.ts';
import {
  permitClearTransport,
  permitForClearance,
  permitMaintenance,
} from '../station/device-gate.ts';
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
  /** Ends an accepted job the way a restart would; a supervisor clears the transport. */
  const abandon = async (): Promise<void> => {
    const supervisor = station.actor('supervisor');
    recoverIntakeJobs(station.db, station.restart(), supervisor);
    dev.encoder.setWrapper(undefined);
    await dev.encoder.field(false);
    await dev.printer.eject(
      'output',
      permitClearTransport(station.db, supervisor, dev.printer, 'test: abandoned job'),
    );
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
      jobKind: 'production' as const,
      serial: 'PA0100001',
      chipUid: '04A1B2C3D4E5F6',
      printer: dev.printer,
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

    // Without the gate's permit nothing is written, clearance or not.
    await expect(c.encoder.transceive(CREATE_DG1)).rejects.toThrow(PermitError);
    // The operator personalizing gets one against the clearance: writes through the encoder's
    // installed SCP03 wrapper are accepted by the chip.
    const permit = permitForClearance(
      station.db,
      station.actor('operator'),
      a.clearance,
      ['CHIP_WRITE', 'PRINT_DATA_PAGE', 'EJECT'],
      'personalization',
    );
    expect((await c.encoder.transceive(CREATE_DG1, permit)).sw).toBe(0x9000);
    expect((await c.encoder.transceive(UPDATE_DG1, permit)).sw).toBe(0x9000);
    expect((await c.encoder.transceive(PUT_BAC_SEED, permit)).sw).toBe(0x9000);
    expect(chip.listFiles()).toEqual([{ fid: 0x0101, size: 32 }]);
    expect(chip.readFile(0x0101)!.subarray(0, 16)).toEqual(DG1_BYTES.subarray(0, 16));
    expect(chip.putData.get(0x0062)).toEqual(Buffer.alloc(16, 7));
    expect(chip.lifeCycle).toBe(LifeCycle.PERSONALIZING);

    // A plain (unprotected) command after authentication is refused and closes the channel.
    c.encoder.setWrapper(undefined);
    const plain = { ...UPDATE_DG1, data: Buffer.alloc(16, 0xee) };
    expect((await c.encoder.transceive(plain, permit)).sw).toBe(0x6982);
    expect(chip.authenticated).toBe(false);
    expect((await c.encoder.transceive(plain, permit)).sw).toBe(0x6982);
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
    const operator = station.actor('operator');
    // The checked booklet leaves (ejecting ends the permit) while its job is still accepted.
    const out = permitForClearance(station.db, operator, a.clearance, ['EJECT'], 'test');
    dev.encoder.setWrapper(undefined);
    await dev.encoder.field(false);
    expect(() => requireClearance(station.db, a.clearance)).toThrow(
      'the chip in the encoder is not the one checked',
    );
    await dev.printer.eject('output', out);
    expect(permitIsLive(out)).toBe(false);
    // Another booklet passes intake: its chip is in the encoder now.
    const b = await accept();
    expect(b.serial).toBe('PA0100010');
    expect(b.clearance.chipUid).not.toBe(a.clearance.chipUid);
    expect(() => requireClearance(station.db, a.clearance)).toThrow(
      'the chip in the encoder is not the one checked',
    );
    // The first booklet's clearance gets no permit for the chip of the second.
    expect(() =>
      permitForClearance(station.db, operator, a.clearance, ['CHIP_WRITE'], 'test'),
    ).toThrow('the chip in the encoder is not the one checked');
    await abandon();
    expect(lookupBooklet(station.db, a.serial)!.state).toBe('allocated');
    expect(lookupBooklet(station.db, b.serial)!.state).toBe('allocated');
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

describe('the device permit: nothing that moves, prints or writes leaves without one', () => {
  let sim: RunningSimulator;
  let dev: StationLink;
  /** Command codes the station put on the wire since the test began. */
  let onWire: number[];
  const watch = (link: Link): void => {
    link.on('frame', (e: { dir: string; frame?: { type: number; code: number } }) => {
      if (e.dir === 'tx' && e.frame?.type === FrameType.COMMAND) onWire.push(e.frame.code);
    });
  };
  // Blank paper at the printer's page size: what is printed does not matter, it must not leave.
  const BLANK_PAGE = {
    width: 1476,
    height: 1039,
    dpi: 300,
    rgba: new Uint8Array(1476 * 1039 * 4).fill(255),
  };

  beforeAll(async () => {
    sim = await startSimulator({ hopper: { version: 1, booklets: pick('PA0100001') } });
    dev = await connectStation(sim.stationPath);
    watch(dev.link);
  });

  afterAll(async () => {
    await dev?.close();
    await sim?.close();
  });

  it('refuses every guarded command without a permit before a byte is sent, whatever builds it', async () => {
    const { printer, encoder, link } = dev;
    const none = undefined as unknown as DevicePermit;
    const counters = { ...sim.device.counters };
    onWire = [];
    const attempts: [string, () => Promise<unknown>][] = [
      ['printer.feed', () => printer.feed(none)],
      ['printer.moveToEncoder', () => printer.moveToEncoder(none)],
      ['printer.printPage', () => printer.printPage(BLANK_PAGE, none)],
      ['printer.eject output', () => printer.eject('output', none)],
      ['printer.eject reject', () => printer.eject('reject', none)],
      ['printer.testPattern', () => printer.testPattern('nozzle', none)],
      ['printer.clean', () => printer.clean(none)],
      ['printer.call FEED', () => printer.call('FEED')],
      ['encoder CREATE FILE', () => encoder.transmit(encodeApdu(CREATE_DG1))],
      ['encoder UPDATE BINARY', () => encoder.transmit(encodeApdu(UPDATE_DG1))],
      ['encoder PUT DATA', () => encoder.transmit(encodeApdu(PUT_BAC_SEED))],
      [
        'INITIALIZE UPDATE',
        () => encoder.transmit(Buffer.from('8050010008' + '00'.repeat(8), 'hex')),
      ],
      ['EXTERNAL AUTHENTICATE', () => encoder.transmit(Buffer.from('8482330010', 'hex'))],
      // Secure messaging and chaining keep INS in clear: still a write.
      [
        'UPDATE BINARY under SM',
        () => link.request(Command.TRANSCEIVE, Buffer.from('0cd6000002aabb', 'hex')),
      ],
      ['chained CREATE FILE', () => link.request(0x42, Buffer.from('10e0000001ff', 'hex'))],
      ['a truncated APDU', () => link.request(0x42, Buffer.from([0x00, 0xd6]))],
      ['raw 0x10 FEED', () => link.request(0x10)],
      ['raw 0x12 MOVE_TO_ENCODER', () => link.request(0x12)],
      [
        'raw 0x13 PRINT_DATA_PAGE data',
        () => link.request(0x13, Buffer.from('02000100000000aa', 'hex')),
      ],
      ['raw 0x13 PRINT_DATA_PAGE commit', () => link.request(0x13, Buffer.from('030001', 'hex'))],
      ['raw 0x15 EJECT', () => link.request(0x15, Buffer.from([0]))],
      ['raw 0x16 TEST_PATTERN', () => link.request(0x16, Buffer.from([1]))],
      ['raw 0x17 CLEAN', () => link.request(0x17)],
      ['a code outside the protocol', () => link.request(0x77)],
    ];
    const outcomes = await Promise.all(
      attempts.map(async ([what, f]) => {
        const e = await f().then(
          () => 'sent',
          (x: unknown) => x,
        );
        return [what, e instanceof PermitError ? 'refused' : String(e)];
      }),
    );
    expect(outcomes).toEqual(attempts.map(([what]) => [what, 'refused']));
    expect(onWire).toEqual([]);
    expect(sim.device.counters).toEqual(counters);
    expect(sim.device.printLog).toEqual([]);
    // Reads and status stay free.
    expect((await printer.status()).position).toBe('none');
    expect(onWire).toEqual([Command.GET_STATUS]);
  });

  it('cannot be forged: a lookalike, an object of its class, a new one or a changed one', async () => {
    const lookalike = { purpose: 'intake job 1', operations: ['FEED'] } as unknown as DevicePermit;
    await expect(dev.printer.feed(lookalike)).rejects.toThrow(
      'FEED refused: the permit is not one the device gate issued',
    );
    const forged = Object.assign(Object.create(DevicePermit.prototype) as object, lookalike);
    expect(forged).toBeInstanceOf(DevicePermit);
    await expect(dev.printer.feed(forged as DevicePermit)).rejects.toThrow(
      'the permit is not one the device gate issued',
    );
    const scope = { purpose: 'x', operations: ['FEED' as const], links: [dev.link] };
    expect(() => new DevicePermit(Symbol('device permit'), scope)).toThrow(
      'a device permit comes only from the gate',
    );
    expect(() => new DevicePermit(Symbol.for('device permit'), scope)).toThrow(PermitError);
    const real = permitMaintenance(station.db, station.actor('technician'), dev.link, 'CLEAN');
    expect(Object.isFrozen(real)).toBe(true);
    expect(() => {
      (real as unknown as { operations: string[] }).operations = ['FEED'];
    }).toThrow(TypeError);
    await expect(dev.printer.feed(real)).rejects.toThrow('the CLEAN permit does not allow FEED');
  });

  it('is spent by use and valid on its own device only', async () => {
    const technician = station.actor('technician');
    const once = permitMaintenance(station.db, technician, dev.link, 'TEST_PATTERN');
    await dev.printer.testPattern('nozzle', once);
    await expect(dev.printer.testPattern('nozzle', once)).rejects.toThrow(
      'TEST_PATTERN refused: the TEST_PATTERN permit has ended (used)',
    );
    const sim2 = await startSimulator({ hopper: { version: 1, booklets: pick('PA0100002') } });
    const dev2 = await connectStation(sim2.stationPath);
    try {
      const clear = permitClearTransport(station.db, technician, dev.printer, 'test');
      await expect(dev2.printer.eject('output', clear)).rejects.toThrow(
        'EJECT refused: the clear the transport permit is for another device',
      );
      expect(sim2.device.counters.ejectedOutput).toBe(0);
    } finally {
      await dev2.close();
      await sim2.close();
    }
  });

  it('has one minter: the gate claimed the authority, a second claim throws', () => {
    expect(() => claimPermitAuthority()).toThrow(
      'the device permit authority was already claimed in this process',
    );
  });

  it('is given only to the roles that may have it, and every grant is audited', () => {
    const { db } = station;
    const lastAction = (): string =>
      db.prepare('SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1').pluck().get() as string;
    const operator = station.actor('operator');
    expect(() => permitMaintenance(db, operator, dev.link, 'CLEAN')).toThrow(PermissionError);
    expect(() => permitClearTransport(db, operator, dev.printer, 'x')).toThrow(PermissionError);
    permitMaintenance(db, station.actor('admin'), dev.link, 'CLEAN');
    expect(lastAction()).toBe('device.maintenance');
    permitClearTransport(db, station.actor('supervisor'), dev.printer, 'after a jam');
    expect(lastAction()).toBe('device.permit');
    // A clearance is the only way to a print or write permit; a lookalike is refused.
    expect(() =>
      permitForClearance(db, operator, { jobId: 1, serial: 'PA0100001' }, ['CHIP_WRITE'], 'x'),
    ).toThrow(ClearanceError);
  });
});
