/**
 * The drivers against the simulator through the real serial stack: socat ptys, serialport on
 * both ends. Every printer and encoder command, every injected fault.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ApduError, EncoderClient } from '../drivers/encoder.ts';
import type { DeviceEvent } from '../drivers/device-client.ts';
import { FrameType, LinkError, type Link, type TraceEntry } from '../drivers/link.ts';
import { openSerialLink } from '../drivers/open.ts';
import {
  claimPermitAuthority,
  GUARDED_OPERATIONS,
  guardedOperation,
  PermitError,
  type DevicePermit,
} from '../drivers/permit.ts';
import { PrinterClient } from '../drivers/printer.ts';
import { Command, DeviceError, Status } from '../drivers/protocol.ts';
import { SerialTransport } from '../drivers/serial.ts';
import {
  EMRTD_AID,
  makeBooklet,
  PREPERSO_FID,
  PutDataTag,
  startSimulator,
  chipSerialFor,
  type Booklet,
  type RunningSimulator,
} from '../simulator/index.ts';
import { ChipIo } from '../mrtd/chip-io.ts';
import { decodeTlvList } from '../mrtd/tlv.ts';
import { mrzOnlySvg } from '../mrtd/data-page.ts';
import { rasterizeDataPage } from '../mrtd/data-page-raster.ts';
import { closeAllSocatPairs, createSocatPair } from './helpers/socat.ts';

interface Rig {
  sim: RunningSimulator;
  link: Link;
  printer: PrinterClient;
  encoder: EncoderClient;
  events: DeviceEvent[];
  /** Everything guarded, on this link: the drivers are tested here, not the gate. */
  permit: DevicePermit;
}

// No station runs in this file (no device gate is loaded): the test holds the permit authority
// itself. test/intake-gate.test.ts shows that a station process cannot do this.
const permits = claimPermitAuthority();
const permitFor = (link: Link): DevicePermit =>
  permits.mint({ purpose: 'driver test', operations: GUARDED_OPERATIONS, links: [link] });

const rigs: Rig[] = [];

async function rig(booklets?: Booklet[], timeouts: Record<string, number> = {}): Promise<Rig> {
  // Link-level tests write to chips directly: the chips' transport lock (SCP03) is tested with
  // intake (station/intake), so it is off here.
  const sim = await startSimulator(
    booklets
      ? { hopper: { version: 1, booklets }, transportLock: false }
      : { scenario: 'all-good', transportLock: false },
  );
  const link = await openSerialLink(sim.stationPath, { ackTimeoutMs: 150 });
  const printer = new PrinterClient(link, { timeouts });
  const encoder = new EncoderClient(link, { timeouts });
  const events: DeviceEvent[] = [];
  printer.on('event', (e: DeviceEvent) => events.push(e));
  const r = { sim, link, printer, encoder, events, permit: permitFor(link) };
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.link.close().catch(() => undefined);
    await r.sim.close();
  }
  await closeAllSocatPairs();
});

const waitFor = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const MRZ: [string, string] = [
  'P<PERQUISPE<HUAMAN<<ROSA<MARIA<<<<<<<<<<<<<<',
  'PA10000012PER8504123F3104128<<<<<<<<<<<<<<06',
];

const PAGE = rasterizeDataPage(mrzOnlySvg(MRZ));

async function toEncoder(r: Rig): Promise<void> {
  await r.printer.feed(r.permit);
  await r.printer.moveToEncoder(r.permit);
  await r.encoder.field(true);
  await r.encoder.detectChip();
}

function createFileApdu(fid: number, size: number) {
  const fcp = Buffer.from([
    0x62,
    0x08,
    0x80,
    0x02,
    size >> 8,
    size & 0xff,
    0x83,
    0x02,
    fid >> 8,
    fid & 0xff,
  ]);
  return { cla: 0, ins: 0xe0, p1: 0, p2: 0, data: fcp };
}

describe('serial link over socat', () => {
  it('socat pairs carry bytes between two serialport ends', async () => {
    const pair = await createSocatPair();
    // A pty has no modem lines: asserting DTR/RTS fails, which is a warning, never fatal.
    const a = new SerialTransport(pair.stationPath);
    const warnings: string[] = [];
    a.on('warning', (w: string) => warnings.push(w));
    await a.reopen();
    expect(a.isOpen).toBe(true);
    expect(warnings.join('\n')).toMatch(/has no modem lines \(DTR\/RTS\)/);
    const b = await SerialTransport.open(pair.devicePath);
    const got = new Promise<Buffer>((res) => b.once('data', res));
    await a.write(Buffer.from('ping'));
    expect((await got).toString()).toBe('ping');
    await a.close();
    await b.close();
    await expect(a.write(Buffer.from('x'))).rejects.toThrow(/port is closed/);
  });

  it('runs every printer command', async () => {
    const r = await rig();
    const id = await r.printer.identify();
    expect(id).toMatchObject({
      kind: 'printer+encoder',
      serialNumber: 'SIM-0001',
      maxPayload: 8192,
    });
    expect(id.model).toMatch(/PersoSim/);
    let st = await r.printer.status();
    expect(st.position).toBe('none');
    expect(st.flags.BOOKLET_PRESENT).toBe(false);

    await r.printer.feed(r.permit);
    st = await r.printer.status();
    expect(st).toMatchObject({ position: 'reader', flags: { BOOKLET_PRESENT: true } });
    expect(await r.printer.readSerial()).toBe('PA2000001');
    await r.printer.moveToEncoder(r.permit);
    expect((await r.printer.status()).position).toBe('encoder');

    // An MRZ-only page (docs/data-page.md): the camera reads it back from the printed raster.
    await r.printer.printPage(rasterizeDataPage(mrzOnlySvg(MRZ)), r.permit);
    await waitFor(() => r.events.some((e) => e.progress?.stage === 'done'));
    const progress = r.events
      .filter((e) => e.name === 'JOB_PROGRESS')
      .map((e) => e.progress!.percent);
    expect(progress).toEqual([0, 33, 67, 100]);
    expect(await r.printer.readMrz()).toEqual(MRZ);
    await r.printer.eject('output', r.permit);
    expect(r.sim.outputTray).toHaveLength(1);
    expect(r.sim.outputTray[0]!.printed?.header).toMatchObject({ width: 1476, height: 1039 });

    await r.printer.feed(r.permit);
    await r.printer.eject('reject', r.permit);
    expect(r.sim.rejectTray.map((b) => b.booklet.printedSerial)).toEqual(['PA2000002']);

    for (const kind of ['nozzle', 'alignment', 'colour-bars'] as const)
      await r.printer.testPattern(kind, r.permit);
    expect(
      r.sim.device.printLog.filter((p) => p.kind === 'test-pattern').map((p) => p.detail),
    ).toEqual(['nozzle', 'alignment', 'colour-bars']);
    await r.printer.clean(r.permit);
    expect(await r.printer.counters()).toEqual({
      fed: 2,
      printed: 1,
      ejectedOutput: 1,
      ejectedReject: 1,
      cleanings: 1,
      jams: 0,
    });
    await expect(r.printer.readMrz()).rejects.toThrow(/READ_MRZ failed: no booklet/);
    await expect(
      r.printer.printPage({ width: 2, height: 2, dpi: 300, rgba: new Uint8Array(15) }, r.permit),
    ).rejects.toThrow(/page raster holds 15 bytes, 2 x 2 RGBA needs 16/);
  });

  it('runs every encoder command on an extended-length chip', async () => {
    const r = await rig([
      makeBooklet({ serial: 'PA5000001', chipProfile: 'emrtd-ext-96k', batch: 'B7' }),
    ]);
    await r.printer.feed(r.permit);
    await r.printer.moveToEncoder(r.permit);
    await expect(r.encoder.detectChip()).rejects.toThrow(/RF field is off/);
    await r.encoder.field(true);
    const chip = await r.encoder.detectChip();
    expect(chip.uid.toString('hex').toUpperCase()).toBe(r.sim.device.current!.booklet.chipUid);
    expect(chip.extendedLength).toBe(true);

    // The pre-personalization record is readable before any authentication.
    await r.encoder.selectFile(PREPERSO_FID);
    const rec = await r.encoder.readBinary(0, 200);
    const [tpl] = decodeTlvList(rec);
    expect(tpl!.tag).toBe(0x70);
    const fields = Object.fromEntries(decodeTlvList(tpl!.value).map((t) => [t.tag, t.value]));
    expect(fields[0xc1]!.toString()).toBe('PA5000001');
    expect(fields[0xc2]!.toString()).toBe(chipSerialFor('PA5000001'));
    expect(fields[0xc3]!.toString()).toBe('B7');
    expect(fields[0xc4]!.toString()).toBe('PER-MIGRACIONES');
    expect(fields[0xc5]!.toString()).toBe('emrtd-ext-96k');
    expect([...fields[0xc6]!]).toEqual([1]);

    await r.encoder.selectApplication(EMRTD_AID);
    await r.encoder.transceiveOk(createFileApdu(0x0102, 20000), 'CREATE FILE', r.permit);
    const dg2 = Buffer.alloc(20000);
    for (let i = 0; i < dg2.length; i++) dg2[i] = (i * 7) & 0xff;
    await r.encoder.updateBinary(0, dg2, r.permit);
    await r.encoder.selectFile(0x0102);
    expect((await r.encoder.readBinary(0, 20000)).equals(dg2)).toBe(true);
    const sim = r.sim.device.current!.chip!;
    expect(sim.readFile(0x0102)!.equals(dg2)).toBe(true);
    // A file id twice is refused.
    await expect(
      r.encoder.transceiveOk(createFileApdu(0x0102, 10), 'CREATE FILE', r.permit),
    ).rejects.toThrow(/6A89/);

    const seed = Buffer.from('L898902C<369080619406236', 'ascii');
    await r.encoder.transceiveOk(
      { cla: 0, ins: 0xda, p1: 0, p2: 0x62, data: seed },
      'PUT DATA',
      r.permit,
    );
    expect(sim.putData.get(PutDataTag.BAC_KEY_SEED)!.equals(seed)).toBe(true);
    await r.encoder.transceiveOk(
      { cla: 0, ins: 0xda, p1: 0, p2: 0xde, data: Buffer.from([1]) },
      'LOCK',
      r.permit,
    );
    const err = await r.encoder
      .updateBinary(0, Buffer.from([1, 2, 3]), r.permit)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApduError);
    expect((err as ApduError).sw).toBe(0x6985);
    await r.encoder.field(false);
    await expect(r.encoder.transmit(Buffer.from('00a4040c', 'hex'))).rejects.toThrow(
      /RF field is off/,
    );
  });

  it('uses command chaining and GET RESPONSE on a short-length chip', async () => {
    const r = await rig([makeBooklet({ serial: 'PA5000002', chipProfile: 'emrtd-short-64k' })]);
    await toEncoder(r);
    expect(r.encoder.chipInfo!.extendedLength).toBe(false);
    await r.encoder.selectApplication(EMRTD_AID);
    await r.encoder.transceiveOk(createFileApdu(0x0101, 1500), 'CREATE FILE', r.permit);
    const data = Buffer.alloc(1500, 0x61);
    data.write('P<PER', 0);
    await r.encoder.updateBinary(0, data, r.permit);
    // A 700-byte PUT DATA travels as a chain of three short APDUs.
    const key = Buffer.alloc(700, 0x33);
    const before = r.sim.device.counters.apdus;
    await r.encoder.transceiveOk(
      { cla: 0, ins: 0xda, p1: 0, p2: 0x63, data: key },
      'PUT DATA',
      r.permit,
    );
    expect(r.sim.device.counters.apdus - before).toBe(3);
    expect(r.sim.device.current!.chip!.putData.get(PutDataTag.AA_PRIVATE_KEY)!.equals(key)).toBe(
      true,
    );
    // Long answers come through 61xx + GET RESPONSE.
    await r.encoder.selectFile(0x0101);
    const back = await r.encoder.transceive({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 256 });
    expect(back.sw).toBe(0x9000);
    expect(back.data.equals(data.subarray(0, 256))).toBe(true);
    expect((await r.encoder.readBinary(0, 1500)).equals(data)).toBe(true);
  });

  /** Counts the command frames the station sends, by code. */
  function commandsSent(link: Link): Map<number, number> {
    const sent = new Map<number, number>();
    link.on('frame', (e: TraceEntry) => {
      if (e.dir === 'tx' && e.frame?.type === FrameType.COMMAND && !e.retransmission)
        sent.set(e.frame.code, (sent.get(e.frame.code) ?? 0) + 1);
    });
    return sent;
  }

  // A READ BINARY of the first 32 bytes of the pre-personalization record: data with 9000,
  // which the 61xx chip announces instead of sending.
  const READ_RECORD = Buffer.from('00b0000020', 'hex');

  it('lets an encoder that says it can collect a 61xx answer itself: one round trip a command, pipelined', async () => {
    const r = await rig([makeBooklet({ serial: 'PA5000012', chipProfile: 'emrtd-short-64k' })]);
    expect((await r.encoder.identify()).features).toBe('transceive-collect');
    await toEncoder(r);
    await r.encoder.selectFile(PREPERSO_FID);
    const sent = commandsSent(r.link);
    const apdus = r.sim.device.counters.apdus;
    const answer = await r.encoder.transmit(READ_RECORD);
    // The chip answered 61xx and the encoder sent GET RESPONSE: two APDUs, one command frame.
    expect(r.sim.device.counters.apdus - apdus).toBe(2);
    expect(sent.get(Command.TRANSCEIVE_COLLECT)).toBe(1);
    expect(sent.get(Command.TRANSCEIVE)).toBeUndefined();
    expect(answer.subarray(-2).toString('hex')).toBe('9000');
    expect(answer[0]).toBe(0x70);
    expect(answer.length).toBe(34);
    // Several such commands in flight each come back whole.
    const io = new ChipIo((a) => r.encoder.transmit(a));
    const answers = await io.pipeline([READ_RECORD, READ_RECORD, READ_RECORD]);
    expect(answers.every((a) => a.equals(answer))).toBe(true);
    expect(io.answersVia61).toBe(false);
  });

  it('collects a 61xx answer with GET RESPONSE where the encoder only relays, and asks again in a new session', async () => {
    const r = await rig([makeBooklet({ serial: 'PA5000013', chipProfile: 'emrtd-short-64k' })]);
    r.sim.device.collectsResponses = false;
    expect((await r.encoder.identify()).features).toBe('');
    await toEncoder(r);
    await r.encoder.selectFile(PREPERSO_FID);
    const sent = commandsSent(r.link);
    const io = new ChipIo((a) => r.encoder.transmit(a));
    const answer = await io.exchange(READ_RECORD);
    expect(sent.get(Command.TRANSCEIVE)).toBe(2); // the READ BINARY, then GET RESPONSE
    expect(sent.get(Command.TRANSCEIVE_COLLECT)).toBeUndefined();
    expect(answer[0]).toBe(0x70);
    expect(io.answersVia61).toBe(true);
    // Pipelined, the announced answer would be lost: refused, not misread.
    await expect(io.pipeline([READ_RECORD, READ_RECORD])).rejects.toThrow(/answered 61xx/);
    // The firmware is updated and the link reconnects: the next chip detection asks again.
    r.sim.device.collectsResponses = true;
    await r.link.reconnect();
    await r.encoder.field(true);
    await r.encoder.detectChip();
    await r.encoder.selectFile(PREPERSO_FID);
    sent.clear();
    expect((await r.encoder.transmit(READ_RECORD)).equals(answer)).toBe(true);
    expect(sent.get(Command.TRANSCEIVE_COLLECT)).toBe(1);
    expect(sent.get(Command.TRANSCEIVE)).toBeUndefined();
  });

  it('guards TRANSCEIVE_COLLECT as TRANSCEIVE: a read is free, a write or an authentication needs a permit', async () => {
    const write = Buffer.from('00d6000001ff', 'hex');
    const auth = Buffer.from('8082000010' + '00'.repeat(16), 'hex');
    for (const code of [Command.TRANSCEIVE, Command.TRANSCEIVE_COLLECT]) {
      expect(guardedOperation(code, READ_RECORD)).toBeUndefined();
      expect(guardedOperation(code, write)).toBe('CHIP_WRITE');
      expect(guardedOperation(code, auth)).toBe('CHIP_AUTH');
      expect(guardedOperation(code, Buffer.from('00d6', 'hex'))).toBe('CHIP_WRITE');
    }
    const r = await rig([makeBooklet({ serial: 'PA5000014', chipProfile: 'emrtd-short-64k' })]);
    await toEncoder(r);
    const sent = commandsSent(r.link);
    await expect(r.link.request(Command.TRANSCEIVE_COLLECT, write)).rejects.toThrow(PermitError);
    expect(sent.size).toBe(0);
  });

  it('resends with the Le a strict chip asks for (6Cxx)', async () => {
    const r = await rig([makeBooklet({ serial: 'PA5000003', chipProfile: 'emrtd-strict-64k' })]);
    await toEncoder(r);
    await r.encoder.selectFile(PREPERSO_FID);
    const rec = await r.encoder.transceive({ cla: 0, ins: 0xb0, p1: 0, p2: 0, le: 256 });
    expect(rec.sw).toBe(0x9000);
    expect(rec.data[0]).toBe(0x70);
    expect(rec.data.length).toBe(rec.data[1]! + 2);
  });

  it('falls back to short APDUs when a chip claims extended length but refuses it', async () => {
    const r = await rig([makeBooklet({ serial: 'PA5000004', chipProfile: 'emrtd-quirky-64k' })]);
    await toEncoder(r);
    expect(r.encoder.chipInfo!.extendedLength).toBe(true);
    await r.encoder.selectApplication(EMRTD_AID);
    await r.encoder.transceiveOk(createFileApdu(0x0103, 3000), 'CREATE FILE', r.permit);
    const data = Buffer.alloc(3000, 0x5a);
    await r.encoder.updateBinary(0, data, r.permit);
    expect(r.encoder.chipInfo!.extendedLength).toBe(false);
    expect(r.sim.device.current!.chip!.readFile(0x0103)!.equals(data)).toBe(true);
    const key = Buffer.alloc(400, 1);
    await r.encoder.transceiveOk(
      { cla: 0, ins: 0xda, p1: 0, p2: 0x63, data: key },
      'PUT DATA',
      r.permit,
    );
  });

  it('carries a pipelined chip write intact over the throttled 115200-baud line', async () => {
    const sim = await startSimulator({
      scenario: 'all-good',
      profile: 'throttled',
      transportLock: false,
    });
    const link = await openSerialLink(sim.stationPath);
    const r: Rig = {
      sim,
      link,
      printer: new PrinterClient(link),
      encoder: new EncoderClient(link),
      events: [],
      permit: permitFor(link),
    };
    rigs.push(r);
    await toEncoder(r);
    await r.encoder.selectApplication(EMRTD_AID);
    await r.encoder.transceiveOk(createFileApdu(0x0102, 9000), 'CREATE FILE', r.permit);
    const data = Buffer.alloc(9000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
    await r.encoder.updateBinary(0, data, r.permit);
    expect(sim.device.current!.chip!.readFile(0x0102)!.equals(data)).toBe(true);
    await r.encoder.selectFile(0x0102);
    expect((await r.encoder.readBinary(0, 9000)).equals(data)).toBe(true);
  });

  it('reports each faulty booklet clearly', async () => {
    const r = await rig([
      makeBooklet({ serial: 'PA6000001', faults: ['dead-chip'] }),
      makeBooklet({ serial: 'PA6000002', faults: ['no-chip'] }),
      makeBooklet({ serial: 'PA6000003', faults: ['unreadable-serial'] }),
      makeBooklet({
        serial: 'PA6000004',
        faults: ['misprinted-serial'],
        printedSerial: 'PA6000904',
      }),
      makeBooklet({ serial: 'PA6000005', faults: ['locked'] }),
    ]);
    await r.printer.feed(r.permit);
    await r.printer.moveToEncoder(r.permit);
    await r.encoder.field(true);
    await expect(r.encoder.detectChip()).rejects.toThrow(/chip stopped answering/);
    await r.printer.eject('reject', r.permit);
    await r.printer.feed(r.permit);
    await r.printer.moveToEncoder(r.permit);
    await r.encoder.field(true); // ejecting switches the field off
    await expect(r.encoder.detectChip()).rejects.toMatchObject({ status: Status.NO_CHIP });
    await r.printer.eject('reject', r.permit);
    await r.printer.feed(r.permit);
    await expect(r.printer.readSerial()).rejects.toThrow(/printed serial could not be read/);
    await r.printer.eject('reject', r.permit);
    await r.printer.feed(r.permit);
    expect(await r.printer.readSerial()).toBe('PA6000904');
    await r.printer.moveToEncoder(r.permit);
    await r.encoder.field(true);
    await r.encoder.detectChip();
    await r.encoder.selectFile(PREPERSO_FID);
    const rec = await r.encoder.readBinary(0, 200);
    expect(rec.includes(Buffer.from('PA6000004'))).toBe(true);
    await r.printer.eject('reject', r.permit);
    await r.printer.feed(r.permit);
    await r.printer.moveToEncoder(r.permit);
    await r.encoder.field(true);
    await r.encoder.detectChip();
    await r.encoder.selectApplication(EMRTD_AID);
    await expect(
      r.encoder.transceiveOk(createFileApdu(0x0101, 10), 'CREATE FILE', r.permit),
    ).rejects.toThrow(/6985/);
  });
});

describe('fault injection and recovery', () => {
  it('recovers from corrupted CRCs and dropped bytes by retransmission', async () => {
    const r = await rig();
    expect(await r.printer.debug('corrupt-crc 2')).toBe('ok corrupt-crc 2');
    expect((await r.printer.identify()).serialNumber).toBe('SIM-0001');
    expect(
      r.link.recentHistory().some((h) => h.dir === 'bad' && h.corrupt?.reason === 'bad-crc'),
    ).toBe(true);
    await r.printer.debug('drop-bytes');
    expect((await r.printer.status()).position).toBe('none');
    await r.printer.debug('corrupt-crc 1');
    await r.printer.debug('drop-bytes 1');
    await r.printer.feed(r.permit);
    expect(await r.printer.readSerial()).toBe('PA2000001');
  });

  it('names a late answer as a timeout and ignores it when it comes', async () => {
    const r = await rig(undefined, { GET_STATUS: 200 });
    await r.printer.debug('late 500');
    await expect(r.printer.status()).rejects.toThrow(/did not answer GET_STATUS within 200 ms/);
    await new Promise((res) => setTimeout(res, 450));
    expect((await r.printer.status()).position).toBe('none');
    await r.printer.debug('late 100');
    expect((await r.printer.status()).position).toBe('none');
  });

  it('names a missing answer as a timeout, then carries on', async () => {
    const r = await rig(undefined, { FEED: 300 });
    await r.printer.debug('no-answer');
    const e = await r.printer.feed(r.permit).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LinkError);
    expect((e as LinkError).kind).toBe('timeout');
    expect((e as Error).message).toMatch(/FEED within 300 ms/);
    expect((await r.printer.identify()).kind).toBe('printer+encoder');
  });

  it('fails a command the link cannot deliver with no-ack, never success', async () => {
    const r = await rig(undefined, { IDENTIFY: 1500 });
    // Every answer frame corrupted more times than the simulator may resend.
    await r.printer.debug('corrupt-crc 50');
    const e = await r.printer.identify().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LinkError);
    expect((e as Error).message).toMatch(/did not answer IDENTIFY/);
    r.sim.device.linkFaults.corruptCrc = 0;
    expect((await r.printer.identify()).kind).toBe('printer+encoder');
  });

  it('surfaces a disconnect mid-command as an error, and reconnects on request', async () => {
    const r = await rig();
    let closed = false;
    r.link.on('close', () => {
      closed = true;
    });
    await r.printer.debug('disconnect 300');
    const e = await r.printer.feed(r.permit).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LinkError);
    expect((e as LinkError).kind).toBe('disconnected');
    expect((e as Error).message).toMatch(/device disconnected during FEED: outcome unknown/);
    expect(closed).toBe(true);
    await expect(r.printer.status()).rejects.toThrow(/GET_STATUS not sent: device disconnected/);
    await r.sim.whenConnected();
    await r.link.reconnect();
    expect((await r.printer.identify()).kind).toBe('printer+encoder');
  });

  it('notices a connection dropped between commands, and reconnects on request', async () => {
    const r = await rig();
    const closed = new Promise<unknown>((res) => r.link.once('close', res));
    // Dropped from the simulator's own console, while the station is idle.
    expect(r.sim.inject('disconnect-now 300')).toMatch(/^ok/);
    expect(await closed).toMatchObject({ disconnected: true });
    await expect(r.printer.identify()).rejects.toMatchObject({ kind: 'disconnected' });
    await r.sim.whenConnected();
    await r.link.reconnect();
    expect((await r.printer.status()).position).toBe('none');
  });

  it('reports jam, cover, ribbon, ink, hopper and reject-tray faults with events', async () => {
    const r = await rig();
    const names = (): string[] => r.events.map((e) => String(e.name));

    await r.printer.debug('cover-open');
    await waitFor(() => names().includes('COVER_OPENED'));
    expect((await r.printer.status()).flags.COVER_OPEN).toBe(true);
    await expect(r.printer.feed(r.permit)).rejects.toMatchObject({ status: Status.COVER_OPEN });
    await r.printer.debug('cover-close');
    await waitFor(() => names().includes('COVER_CLOSED'));

    await r.printer.debug('jam');
    await waitFor(() => names().includes('JAM'));
    const jam = await r.printer.feed(r.permit).catch((x: unknown) => x);
    expect(jam).toBeInstanceOf(DeviceError);
    expect((jam as Error).message).toBe('FEED failed: booklet jam');
    await r.printer.debug('clear-jam');
    await r.printer.feed(r.permit);

    await r.printer.debug('ribbon-low');
    await waitFor(() => names().includes('RIBBON_LOW'));
    expect((await r.printer.status()).flags.RIBBON_LOW).toBe(true);
    await r.printer.debug('ribbon-out');
    await waitFor(() => names().includes('RIBBON_OUT'));
    await expect(r.printer.printPage(PAGE, r.permit)).rejects.toThrow(/ribbon is out/);
    await r.printer.debug('ribbon-replace');
    await r.printer.debug('ink-low');
    await waitFor(() => names().includes('INK_LOW'));
    expect((await r.printer.status()).flags.INK_LOW).toBe(true);
    await r.printer.debug('ink-out');
    await waitFor(() => names().includes('INK_OUT'));
    await expect(r.printer.testPattern('nozzle', r.permit)).rejects.toThrow(/ink is out/);
    await r.printer.debug('ink-replace');
    await r.printer.printPage(PAGE, r.permit);

    await r.printer.debug('reject-tray-full');
    await waitFor(() => names().includes('REJECT_TRAY_FULL'));
    await expect(r.printer.eject('reject', r.permit)).rejects.toThrow(/reject tray is full/);
    await r.printer.eject('output', r.permit);

    await r.printer.debug('hopper-empty');
    await waitFor(() => names().includes('HOPPER_EMPTY'));
    await expect(r.printer.feed(r.permit)).rejects.toThrow(/input hopper is empty/);
    expect((await r.printer.status()).flags.HOPPER_EMPTY).toBe(true);
    await expect(r.printer.debug('no-such-fault')).rejects.toThrow(/unknown fault/);
  });

  it('reports a chip killed mid-personalization', async () => {
    const r = await rig();
    await toEncoder(r);
    await r.encoder.selectApplication(EMRTD_AID);
    await r.printer.debug('kill-chip');
    await expect(r.encoder.selectApplication(EMRTD_AID)).rejects.toMatchObject({
      status: Status.CHIP_MUTE,
    });
  });

  it('never queues a command into a closed link', async () => {
    const r = await rig();
    await r.link.close();
    await expect(r.printer.identify()).rejects.toThrow(/IDENTIFY not sent: link is closed/);
  });
});
