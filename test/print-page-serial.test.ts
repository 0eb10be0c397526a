/**
 * Printing a data page raster over the real serial stack (socat ptys, serialport on both ends):
 * the multi-frame PRINT_DATA_PAGE transfer, the printer's checks on it, the simulated camera
 * reading the printed page, the print faults and the simulator's dump.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceEvent } from '../drivers/device-client.ts';
import { EncoderClient } from '../drivers/encoder.ts';
import type { Link, TraceEntry } from '../drivers/link.ts';
import { FrameType } from '../drivers/link.ts';
import { openSerialLink } from '../drivers/open.ts';
import { beginPayload, commitPayload, dataPayload, encodePage } from '../drivers/page-transfer.ts';
import {
  claimPermitAuthority,
  guardedOperation,
  PermitError,
  type DevicePermit,
} from '../drivers/permit.ts';
import { PrinterClient } from '../drivers/printer.ts';
import { Command, DeviceError, Status } from '../drivers/protocol.ts';
import { buildLds, mrzOf, signLds } from '../mrtd/application.ts';
import { fileIdentifier } from '../mrtd/lds.ts';
import { passiveAuthentication } from '../mrtd/passive-auth.ts';
import { createTestPki } from '../mrtd/pki.ts';
import { PemKeySigner } from '../mrtd/signer.ts';
import { dataPageSvg } from '../mrtd/data-page.ts';
import { rasterizeDataPage } from '../mrtd/data-page-raster.ts';
import { seededRandom } from '../simulator/camera.ts';
import { randomApplication } from '../simulator/camera-specimens.ts';
import {
  getProfile,
  makeBooklet,
  printedGrey,
  startSimulator,
  type Booklet,
  type BookletFault,
  type RunningSimulator,
  type SimulatorOptions,
} from '../simulator/index.ts';
import { closeAllSocatPairs } from './helpers/socat.ts';

const permits = claimPermitAuthority();

const fixtures = join(import.meta.dirname, 'fixtures/mrtd');
const app = randomApplication(seededRandom(42));
const mrz = mrzOf(app);
const MRZ = [mrz.line1, mrz.line2];
const raster = rasterizeDataPage(
  dataPageSvg({
    application: app,
    documentNumber: app.documentNumber,
    mrz,
    face: readFileSync(join(fixtures, 'face.jpg')),
    signature: readFileSync(join(fixtures, 'signature.jpg')),
  }),
);

interface Rig {
  sim: RunningSimulator;
  link: Link;
  printer: PrinterClient;
  events: DeviceEvent[];
  /** Command frames the station put on the wire (first transmissions and resends). */
  sent: TraceEntry[];
  /** Damaged frames the station received (and had resent). */
  bad: TraceEntry[];
  permit: DevicePermit;
}
const rigs: Rig[] = [];

async function rig(faults: BookletFault[][] = [[]], opts: SimulatorOptions = {}): Promise<Rig> {
  const booklets: Booklet[] = faults.map((f, i) =>
    makeBooklet({ serial: `PA${8000001 + i}`, faults: f }),
  );
  const sim = await startSimulator({
    hopper: { version: 1, booklets },
    transportLock: false,
    ...opts,
  });
  const link = await openSerialLink(sim.stationPath, { ackTimeoutMs: 150 });
  const printer = new PrinterClient(link);
  const events: DeviceEvent[] = [];
  printer.on('event', (e: DeviceEvent) => events.push(e));
  const sent: TraceEntry[] = [];
  const bad: TraceEntry[] = [];
  link.on('frame', (e: TraceEntry) => {
    if (e.dir === 'tx' && e.frame?.type === FrameType.COMMAND) sent.push(e);
    if (e.dir === 'bad') bad.push(e);
  });
  const permit = permits.mint({
    purpose: 'print test',
    operations: ['FEED', 'MOVE_TO_ENCODER', 'PRINT_DATA_PAGE', 'EJECT', 'CHIP_WRITE'],
    links: [link],
  });
  const r = { sim, link, printer, events, sent, bad, permit };
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

async function toEncoder(r: Rig): Promise<void> {
  await r.printer.feed(r.permit);
  await r.printer.moveToEncoder(r.permit);
}

const printFrames = (r: Rig): TraceEntry[] =>
  r.sent.filter((e) => e.frame!.code === Command.PRINT_DATA_PAGE);

describe('printing a page raster over the serial link', () => {
  it('prints the rasterized data page in a few frames; the camera reads the MRZ from the printed image', async () => {
    const r = await rig();
    const id = await r.printer.identify();
    expect(id.maxPayload).toBe(8192);
    await toEncoder(r);
    const report = await r.printer.printPage(raster, r.permit);
    // BEGIN, the compressed page in 8 KB chunks, COMMIT: a few frames, not megabytes.
    expect(report.frames).toBe(2 + Math.ceil(report.pageBytes / (8192 - 7)));
    expect(report.pageBytes).toBeLessThan(40_000);
    expect(printFrames(r).filter((e) => !e.retransmission)).toHaveLength(report.frames);
    const progress = r.events.filter((e) => e.name === 'JOB_PROGRESS').map((e) => e.progress!);
    expect(progress.map((p) => p.percent)).toEqual([0, 33, 67, 100]);
    expect(progress.at(-1)!.stage).toBe('done');
    expect(await r.printer.readMrz()).toEqual(MRZ);
    expect((await r.printer.counters()).printed).toBe(1);
    // The printer kept the raster it was sent: the page's bytes, their digest, no text.
    const page = r.sim.device.current!.printed!;
    expect(page.header.sha256).toEqual(createHash('sha256').update(page.data).digest());
    expect(page.data.length).toBe(report.pageBytes);
    expect(JSON.stringify(page)).not.toContain(app.documentNumber);
    await r.printer.eject('output', r.permit);
    expect(r.sim.outputTray[0]!.printed).toBe(page);
  });

  it('prints 8-bit grey too, and the camera reads it', async () => {
    const r = await rig();
    await toEncoder(r);
    const report = await r.printer.printPage(raster, r.permit, { format: 'grey8' });
    expect(report.pageBytes).toBeGreaterThan(100_000);
    expect(await r.printer.readMrz()).toEqual(MRZ);
  });

  it('reads what was printed, not the job: a misprinted line reads back different', async () => {
    const r = await rig([['misprint']]);
    await toEncoder(r);
    await r.printer.printPage(raster, r.permit);
    const read = await r.printer.readMrz();
    expect(read).not.toEqual(MRZ);
    expect(read).toEqual([MRZ[0], MRZ[0]]);
  });

  it('a smeared, faded or shifted print is MRZ_UNREADABLE; a light smear still reads', async () => {
    const r = await rig([['smear-print'], ['fade-print'], ['shift-print'], ['smear-print-light']]);
    for (const fault of ['smear-print', 'fade-print', 'shift-print']) {
      await toEncoder(r);
      await r.printer.printPage(raster, r.permit);
      const e = await r.printer.readMrz().catch((x: unknown) => x);
      expect(e, fault).toBeInstanceOf(DeviceError);
      expect((e as DeviceError).status, fault).toBe(Status.MRZ_UNREADABLE);
      expect((e as Error).message).toMatch(/READ_MRZ failed: printed MRZ could not be read back/);
      // Where, never what: the answer names positions, not characters.
      expect((e as Error).message).not.toContain(MRZ[1]!.slice(0, 9));
      await r.printer.eject('reject', r.permit);
    }
    await toEncoder(r);
    await r.printer.printPage(raster, r.permit);
    expect(await r.printer.readMrz()).toEqual(MRZ);
  });

  it('print faults injected for the booklet in the transport take a strength', async () => {
    const r = await rig([[], []]);
    await toEncoder(r);
    expect(await r.printer.debug('smear-print 2')).toBe('ok smear-print 2');
    await r.printer.printPage(raster, r.permit);
    expect(await r.printer.readMrz()).toEqual(MRZ);
    await expect(r.printer.debug('smear-print 9')).rejects.toThrow(/already printed/);
    await r.printer.eject('output', r.permit);
    await toEncoder(r);
    await r.printer.debug('shift-print 0 -95');
    await r.printer.printPage(raster, r.permit);
    await expect(r.printer.readMrz()).rejects.toMatchObject({ status: Status.MRZ_UNREADABLE });
  });

  it('survives corrupted and truncated answers during the transfer: printed once, read exactly', async () => {
    const r = await rig();
    await toEncoder(r);
    r.sim.inject('corrupt-crc 2');
    r.sim.inject('drop-bytes 1');
    const report = await r.printer.printPage(raster, r.permit);
    expect(r.bad.length).toBeGreaterThanOrEqual(3);
    expect(printFrames(r).filter((e) => !e.retransmission)).toHaveLength(report.frames);
    expect(await r.printer.readMrz()).toEqual(MRZ);
    expect(r.sim.device.counters.printed).toBe(1);
    expect(r.sim.device.printLog.filter((p) => p.kind === 'data-page')).toHaveLength(1);
  });
});

describe('the printer refuses a page it did not receive whole and intact', () => {
  const page = encodePage(raster);
  const CHUNK = 8192 - 7;

  async function begin(r: Rig, header = page): Promise<number> {
    const res = await r.link.request(Command.PRINT_DATA_PAGE, beginPayload(header), {
      permit: r.permit,
    });
    expect(res.status).toBe(Status.OK);
    return res.payload.readUInt16BE(0);
  }
  const send = (r: Rig, payload: Buffer) =>
    r.link.request(Command.PRINT_DATA_PAGE, payload, { permit: r.permit });
  async function sendAll(r: Rig, id: number, data = page.data): Promise<void> {
    for (let o = 0; o < data.length; o += CHUNK)
      expect((await send(r, dataPayload(id, o, data.subarray(o, o + CHUNK)))).status).toBe(
        Status.OK,
      );
  }
  async function nothingPrinted(r: Rig): Promise<void> {
    expect(await r.printer.counters()).toMatchObject({ printed: 0 });
    expect(r.sim.device.printLog).toEqual([]);
    expect(r.sim.device.current!.printed).toBeUndefined();
    await expect(r.printer.readMrz()).rejects.toMatchObject({ status: Status.WRONG_POSITION });
  }

  it('a chunk corrupted on its way (same length, digest from BEGIN) is refused at COMMIT', async () => {
    const r = await rig();
    await toEncoder(r);
    const id = await begin(r);
    const bad = Buffer.from(page.data);
    bad[100] = bad[100]! ^ 0x01;
    await sendAll(r, id, bad);
    const res = await send(r, commitPayload(id));
    expect(res.status).toBe(Status.PAGE_DIGEST);
    await nothingPrinted(r);
    // The page is gone: a second COMMIT has no page to print.
    expect((await send(r, commitPayload(id))).status).toBe(Status.PAGE_SEQUENCE);
  });

  it('a BEGIN with the wrong digest: COMMIT refused, nothing printed', async () => {
    const r = await rig();
    await toEncoder(r);
    const wrong = { ...page, sha256: createHash('sha256').update('another page').digest() };
    const id = await begin(r, wrong);
    await sendAll(r, id);
    const res = await send(r, commitPayload(id));
    expect(res.status).toBe(Status.PAGE_DIGEST);
    await nothingPrinted(r);
  });

  it('a chunk at the wrong offset is refused and ends the page; a short page is refused at COMMIT', async () => {
    const r = await rig();
    await toEncoder(r);
    let id = await begin(r);
    const skip = await send(r, dataPayload(id, CHUNK, page.data.subarray(CHUNK, 2 * CHUNK)));
    expect(skip.status).toBe(Status.PAGE_SEQUENCE);
    expect(skip.payload.toString()).toBe(`data at offset ${CHUNK}, expected 0`);
    expect((await send(r, dataPayload(id, 0, page.data.subarray(0, CHUNK)))).status).toBe(
      Status.PAGE_SEQUENCE,
    );
    expect((await send(r, commitPayload(id))).status).toBe(Status.PAGE_SEQUENCE);

    id = await begin(r);
    expect((await send(r, dataPayload(id, 0, page.data.subarray(0, CHUNK)))).status).toBe(
      Status.OK,
    );
    const short = await send(r, commitPayload(id));
    expect(short.status).toBe(Status.PAGE_INCOMPLETE);
    expect(short.payload.toString()).toBe(`received ${CHUNK} of ${page.length} bytes`);

    // A chunk of an earlier page does not join a newer one.
    const old = id;
    id = await begin(r);
    expect((await send(r, dataPayload(old, 0, page.data.subarray(0, CHUNK)))).status).toBe(
      Status.PAGE_SEQUENCE,
    );
    await nothingPrinted(r);

    // A page of the wrong size for the printer is refused at BEGIN.
    const small = encodePage({ width: 100, height: 50, dpi: 300, rgba: new Uint8Array(20_000) });
    const res = await send(r, beginPayload(small));
    expect(res.status).toBe(Status.BAD_PAYLOAD);
    expect(res.payload.toString()).toMatch(/this printer prints 1476 x 1039 at 300 dpi/);

    // The whole page, sent properly, prints.
    id = await begin(r);
    await sendAll(r, id);
    expect((await send(r, commitPayload(id))).status).toBe(Status.OK);
    expect(await r.printer.readMrz()).toEqual(MRZ);
  });

  it('every frame of the transfer is a guarded PRINT_DATA_PAGE: without a permit nothing leaves', async () => {
    for (const p of [beginPayload(page), dataPayload(1, 0, page.data), commitPayload(1)])
      expect(guardedOperation(Command.PRINT_DATA_PAGE, p)).toBe('PRINT_DATA_PAGE');
    const r = await rig();
    await toEncoder(r);
    const before = r.sent.length;
    const none = await r.printer
      .printPage(raster, undefined as unknown as DevicePermit)
      .catch((x: unknown) => x);
    expect(none).toBeInstanceOf(PermitError);
    expect((none as Error).message).toMatch(/PRINT_DATA_PAGE refused: .*needs a permit/);
    const noPrint = permits.mint({
      purpose: 'move only',
      operations: ['MOVE_TO_ENCODER', 'EJECT'],
      links: [r.link],
    });
    await expect(r.printer.printPage(raster, noPrint)).rejects.toThrow(
      /the move only permit does not allow PRINT_DATA_PAGE/,
    );
    for (const p of [dataPayload(1, 0, page.data.subarray(0, 10)), commitPayload(1)])
      await expect(r.link.request(Command.PRINT_DATA_PAGE, p)).rejects.toThrow(PermitError);
    expect(r.sent.length).toBe(before);
    // A permit that ends mid-transfer stops the rest: the page is never committed.
    const once = permits.mint({
      purpose: 'one frame',
      operations: ['PRINT_DATA_PAGE'],
      links: [r.link],
      uses: 1,
    });
    await expect(r.printer.printPage(raster, once)).rejects.toThrow(/permit has ended/);
    expect(printFrames(r)).toHaveLength(1); // the BEGIN only
    expect(r.sim.device.counters.printed).toBe(0);
  });

  it('ribbon out refuses at BEGIN, before the page is sent; a jam while printing stops the print', async () => {
    const slow = { ...getProfile('zero-latency'), name: 'slow-print', printMs: 600 };
    const r = await rig([[]], { profile: slow });
    await toEncoder(r);
    r.sim.inject('ribbon-out');
    await expect(r.printer.printPage(raster, r.permit)).rejects.toMatchObject({
      status: Status.RIBBON_OUT,
    });
    expect(printFrames(r)).toHaveLength(1);
    r.sim.inject('ribbon-replace');
    r.printer.once('event', () => r.sim.inject('jam'));
    await expect(r.printer.printPage(raster, r.permit)).rejects.toMatchObject({
      status: Status.JAM,
    });
    expect(r.sim.device.counters.printed).toBe(0);
    expect(r.sim.device.current!.printed).toBeUndefined();
  });
});

describe('the simulator dump', () => {
  it('writes the chip files, the printed page as PNG and the MRZ read from it, per booklet serial', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-dump-'));
    try {
      const r = await rig([[], []], { dump: dir });
      const encoder = new EncoderClient(r.link);
      await toEncoder(r);
      await encoder.field(true);
      await encoder.detectChip();
      await encoder.selectApplication(Buffer.from('A0000002471001', 'hex'));
      // A real LDS, signed by a test Document Signer, written file by file.
      const pki = await createTestPki({ country: 'PE' });
      const lds = buildLds(app, {
        face: readFileSync(join(fixtures, 'face.jpg')),
        signature: readFileSync(join(fixtures, 'signature.jpg')),
      });
      await signLds(lds, {
        signer: new PemKeySigner(pki.ds.privateKeyPem),
        dsCertificate: pki.ds.certificateDer,
      });
      for (const [name, data] of lds.files) {
        const fid = fileIdentifier(name);
        const fcp = Buffer.from([0x62, 8, 0x80, 2, data.length >> 8, data.length & 0xff, 0x83, 2]);
        const create = Buffer.concat([fcp, Buffer.from([fid >> 8, fid & 0xff])]);
        await encoder.transceiveOk(
          { cla: 0, ins: 0xe0, p1: 0, p2: 0, data: create },
          'CREATE FILE',
          r.permit,
        );
        await encoder.updateBinary(0, data, r.permit);
      }
      await r.printer.printPage(raster, r.permit);
      await r.printer.eject('output', r.permit);
      // A booklet neither written nor printed is not dumped.
      await r.printer.feed(r.permit);
      await r.printer.eject('reject', r.permit);

      expect(readdirSync(dir)).toEqual(['PA8000001']);
      const out = join(dir, 'PA8000001');
      const names = [...lds.files.keys()].map((n) => `${n}.bin`);
      expect(readdirSync(out).sort()).toEqual(
        [...names, 'booklet.json', 'mrz.txt', 'page.png'].sort(),
      );
      for (const [name, data] of lds.files)
        expect(readFileSync(join(out, `${name}.bin`)), name).toEqual(data);
      expect(readFileSync(join(out, 'mrz.txt'), 'utf8')).toBe(MRZ.join('\n') + '\n');
      // The dump is a passport another tool can check: passive authentication of the files
      // read back from disk, DG1 against the MRZ read from the printed page.
      const fromDisk = new Map(
        readdirSync(out)
          .filter((n) => n.endsWith('.bin'))
          .map((n) => [n.slice(0, -4), readFileSync(join(out, n))]),
      );
      const pa = await passiveAuthentication({
        files: fromDisk,
        cscas: [pki.csca.certificatePem],
        printedMrz: readFileSync(join(out, 'mrz.txt'), 'latin1'),
      });
      expect(pa.checks.filter((c) => !c.ok)).toEqual([]);
      expect(pa.ok).toBe(true);
      const info = JSON.parse(readFileSync(join(out, 'booklet.json'), 'utf8')) as {
        tray: string;
        page: { mrz: string; width: number };
      };
      expect(info).toMatchObject({ tray: 'output', page: { mrz: 'readable', width: 1476 } });
      // The PNG holds the printed page's pixels: decode it by hand.
      const png = readFileSync(join(out, 'page.png'));
      expect(png.subarray(0, 8)).toEqual(Buffer.from('89504e470d0a1a0a', 'hex'));
      const chunks = new Map<string, Buffer[]>();
      for (let p = 8; p < png.length;) {
        const len = png.readUInt32BE(p);
        const type = png.subarray(p + 4, p + 8).toString('latin1');
        chunks.set(type, [...(chunks.get(type) ?? []), png.subarray(p + 8, p + 8 + len)]);
        p += 12 + len;
      }
      const ihdr = chunks.get('IHDR')![0]!;
      expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]]).toEqual([
        1476, 1039, 8, 0,
      ]);
      const rows = inflateSync(Buffer.concat(chunks.get('IDAT')!));
      const grey = printedGrey(r.sim.outputTray[0]!.printed!).gray;
      const w = 1476;
      for (const y of [0, 500, 1000])
        expect(rows.subarray(y * (w + 1) + 1, (y + 1) * (w + 1))).toEqual(
          Buffer.from(grey.subarray(y * w, (y + 1) * w)),
        );
      expect(readdirSync(dir).some((n) => n.includes('partial'))).toBe(false);
      expect(existsSync(join(dir, 'PA8000002'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
