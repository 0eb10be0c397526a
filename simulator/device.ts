import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { LinkResponse } from '../drivers/link.ts';
import { decodePage, parsePageCommand, type PageHeader } from '../drivers/page-transfer.ts';
import {
  ChipTag,
  Command,
  CounterTag,
  encodeTlv,
  Event,
  IdentityFeature,
  IdentityTag,
  Position,
  Status,
  StatusFlag,
  TestPattern,
  u32,
} from '../drivers/protocol.ts';
import { MAX_PAYLOAD } from '../drivers/frame.ts';
import { PRINTER_DPI, pagePixels } from '../mrtd/data-page-raster.ts';
import { readMrz } from './camera.ts';
import { SimChip, type SimChipOptions } from './chip.ts';
import type { Booklet } from './hopper.ts';
import { printedRaster, type PagePrintFaults, type PrintedPage } from './printed-page.ts';
import type { TimingProfile } from './profiles.ts';

/** A booklet inside the simulated printer. */
export interface SimBooklet {
  booklet: Booklet;
  chip: SimChip | undefined;
  /** The page printed on it: the raster received and the print faults. */
  printed?: PrintedPage;
  /** Print faults injected (DEBUG) while it is in the transport, for its next print. */
  printFaults?: PagePrintFaults;
}

/** A page being received: its BEGIN, and the bytes so far (in order, no gaps). */
interface PageTransfer {
  id: number;
  header: PageHeader;
  received: Buffer[];
  length: number;
}

/** Strengths of the hopper's print faults (docs/hopper-format.md), in mm and pixels at 300 dpi. */
export function bookletPrintFaults(booklet: Booklet, dpi: number): PagePrintFaults {
  const f: PagePrintFaults = {};
  const px = (mm: number): number => Math.round((mm * dpi) / 25.4);
  const has = (name: Booklet['faults'][number]): boolean => booklet.faults.includes(name);
  if (has('misprint')) f.misprint = true;
  if (has('shift-print')) f.shift = { dx: px(1), dy: -px(8) };
  if (has('smear-print')) f.smear = px(0.7);
  else if (has('smear-print-light')) f.smear = px(0.17);
  if (has('fade-print')) {
    f.fade = 0.7;
    f.seed = createHash('sha256').update(booklet.printedSerial).digest().readUInt32BE(0);
  }
  return f;
}

/** Faults that act on the link, consumed by the simulator's link wiring. */
export interface LinkFaults {
  corruptCrc: number;
  dropBytes: number;
  lateMs: number;
  noAnswer: number;
  /** Drop the connection during the next command; reconnect after this many ms. */
  disconnect: number | undefined;
}

export const FAULT_HELP = [
  'corrupt-crc [n]      corrupt the CRC of the next n frames sent',
  'drop-bytes [n]       drop bytes from the next n frames sent',
  'late <ms>            answer the next command ms late',
  'no-answer            acknowledge but never answer the next command',
  'disconnect [ms]      drop the connection during the next command, back after ms (default 500)',
  'disconnect-now [ms]  drop the connection at once, back after ms (default 500)',
  'jam | clear-jam      booklet jam in the transport',
  'cover-open | cover-close',
  'ribbon-low | ribbon-out | ribbon-replace',
  'ink-low | ink-out | ink-replace',
  'hopper-empty         remove every booklet from the input hopper',
  'reject-tray-full | reject-tray-empty',
  'kill-chip            the chip of the booklet in the transport stops answering',
  'smear-print <px>     the next page printed on the booklet in the transport is smeared',
  'fade-print <0..1>    ... printed that much fainter, that share of its dots missing',
  'shift-print <dx> <dy>  ... printed that many pixels off its place (right/down positive)',
  'misprint             ... printed with MRZ line 1 again where line 2 belongs',
];

function res(status: number, payload: Buffer = Buffer.alloc(0)): LinkResponse {
  return { status, payload };
}

/**
 * The simulated passport printer with its chip encoder: answers protocol commands, keeps the
 * mechanical state, raises events. Emits `event` (code, payload) and `disconnect-request` (ms).
 */
export class SimDevice extends EventEmitter {
  readonly hopper: Booklet[];
  readonly outputTray: SimBooklet[] = [];
  readonly rejectTray: SimBooklet[] = [];
  rejectTrayCapacity = 50;
  current: SimBooklet | undefined;
  position: number = Position.NONE;
  coverOpen = false;
  jam = false;
  ribbon = 1000;
  ink = 1000;
  fieldOn = false;
  busy = false;
  readonly counters = {
    fed: 0,
    printed: 0,
    ejectedOutput: 0,
    ejectedReject: 0,
    cleanings: 0,
    jams: 0,
    apdus: 0,
  };
  readonly linkFaults: LinkFaults = {
    corruptCrc: 0,
    dropBytes: 0,
    lateMs: 0,
    noAnswer: 0,
    disconnect: undefined,
  };
  /** Every print job printed, in order (for tests and the technician's view). */
  readonly printLog: { kind: 'data-page' | 'test-pattern'; detail: string }[] = [];
  /** The printer's resolution and printable page (IDENTIFY; a page must be this size). */
  readonly dpi = PRINTER_DPI;
  readonly page = pagePixels(PRINTER_DPI);
  /** The page being received, if any (PRINT_DATA_PAGE BEGIN ... COMMIT). */
  private transfer: PageTransfer | undefined;
  private nextPageId = 1;
  /**
   * Whether the encoder answers TRANSCEIVE_COLLECT (and says so in IDENTIFY's FEATURES): on by
   * default; off, it is an encoder that only relays APDUs (UNKNOWN_COMMAND), as older firmware.
   */
  collectsResponses = true;
  /** Called with every booklet that leaves the transport (the simulator's dump). */
  onEjected: ((b: SimBooklet, tray: 'output' | 'reject') => void) | undefined;

  constructor(
    booklets: Booklet[],
    readonly profile: TimingProfile,
    readonly serialNumber = 'SIM-0001',
    readonly chipOptions: SimChipOptions = {},
  ) {
    super();
    this.hopper = [...booklets];
  }

  get statusFlags(): number {
    let f = 0;
    if (this.coverOpen) f |= StatusFlag.COVER_OPEN;
    if (this.jam) f |= StatusFlag.JAM;
    if (this.ribbon > 0 && this.ribbon < 50) f |= StatusFlag.RIBBON_LOW;
    if (this.ribbon <= 0) f |= StatusFlag.RIBBON_OUT;
    if (this.ink > 0 && this.ink < 50) f |= StatusFlag.INK_LOW;
    if (this.ink <= 0) f |= StatusFlag.INK_OUT;
    if (!this.hopper.length) f |= StatusFlag.HOPPER_EMPTY;
    if (this.rejectTray.length >= this.rejectTrayCapacity) f |= StatusFlag.REJECT_TRAY_FULL;
    if (this.current) f |= StatusFlag.BOOKLET_PRESENT;
    if (this.fieldOn) f |= StatusFlag.FIELD_ON;
    if (this.fieldOn && this.current?.chip && this.position === Position.ENCODER)
      f |= StatusFlag.CHIP_PRESENT;
    if (this.busy) f |= StatusFlag.BUSY;
    return f;
  }

  private event(code: number, payload: Buffer = Buffer.alloc(0)): void {
    this.emit('event', code, payload);
  }

  /** Applies a fault or state change by name (DEBUG command and the simulator's stdin). */
  inject(command: string): string {
    const [name, arg, arg2] = command.trim().split(/\s+/);
    const n = arg === undefined ? 1 : Number(arg);
    if (name !== 'shift-print' && arg !== undefined && (!Number.isFinite(n) || n < 0))
      throw new Error(`fault "${name}": bad number "${arg}"`);
    switch (name) {
      case 'corrupt-crc':
        this.linkFaults.corruptCrc += n;
        break;
      case 'drop-bytes':
        this.linkFaults.dropBytes += n;
        break;
      case 'late':
        if (arg === undefined) throw new Error('fault "late" needs a delay in ms');
        this.linkFaults.lateMs = n;
        break;
      case 'no-answer':
        this.linkFaults.noAnswer += n;
        break;
      case 'disconnect':
        this.linkFaults.disconnect = arg === undefined ? 500 : n;
        break;
      case 'disconnect-now':
        this.emit('disconnect-request', arg === undefined ? 500 : n);
        break;
      case 'jam':
        if (!this.jam) {
          this.jam = true;
          this.counters.jams++;
          this.event(Event.JAM);
        }
        break;
      case 'clear-jam':
        if (this.jam) {
          this.jam = false;
          this.event(Event.JAM_CLEARED);
        }
        break;
      case 'cover-open':
        if (!this.coverOpen) {
          this.coverOpen = true;
          this.event(Event.COVER_OPENED);
        }
        break;
      case 'cover-close':
        if (this.coverOpen) {
          this.coverOpen = false;
          this.event(Event.COVER_CLOSED);
        }
        break;
      case 'ribbon-low':
        this.ribbon = 20;
        this.event(Event.RIBBON_LOW);
        break;
      case 'ribbon-out':
        this.ribbon = 0;
        this.event(Event.RIBBON_OUT);
        break;
      case 'ribbon-replace':
        this.ribbon = 1000;
        this.event(Event.RIBBON_REPLACED);
        break;
      case 'ink-low':
        this.ink = 20;
        this.event(Event.INK_LOW);
        break;
      case 'ink-out':
        this.ink = 0;
        this.event(Event.INK_OUT);
        break;
      case 'ink-replace':
        this.ink = 1000;
        break;
      case 'hopper-empty':
        this.hopper.length = 0;
        this.event(Event.HOPPER_EMPTY);
        break;
      case 'reject-tray-full':
        this.rejectTrayCapacity = this.rejectTray.length;
        this.event(Event.REJECT_TRAY_FULL);
        break;
      case 'reject-tray-empty':
        this.rejectTray.length = 0;
        this.rejectTrayCapacity = 50;
        break;
      case 'kill-chip':
        if (!this.current?.chip)
          throw new Error('kill-chip: no booklet with a chip in the transport');
        this.current.chip.dead = true;
        break;
      case 'smear-print':
        this.printFault(name).smear = arg === undefined ? 8 : n;
        break;
      case 'fade-print':
        if (n > 1) throw new Error('fault "fade-print": strength is 0..1');
        this.printFault(name).fade = arg === undefined ? 0.7 : n;
        break;
      case 'shift-print': {
        const dx = Number(arg ?? 0);
        const dy = Number(arg2 ?? 0);
        if (!Number.isInteger(dx) || !Number.isInteger(dy))
          throw new Error('fault "shift-print": give dx and dy in whole pixels');
        this.printFault(name).shift = { dx, dy };
        break;
      }
      case 'misprint':
        this.printFault(name).misprint = true;
        break;
      default:
        throw new Error(`unknown fault "${name}"; known:\n${FAULT_HELP.join('\n')}`);
    }
    return `ok ${command.trim()}`;
  }

  /** The print faults of the booklet in the transport, before its page is printed. */
  private printFault(name: string): PagePrintFaults {
    const b = this.current;
    if (!b) throw new Error(`${name}: no booklet in the transport`);
    if (b.printed) throw new Error(`${name}: the booklet in the transport is already printed`);
    return (b.printFaults ??= {});
  }

  /** Answers one command; null means "do not answer" (a fault). */
  async handle(code: number, payload: Buffer): Promise<LinkResponse | null> {
    if (code === Command.DEBUG) {
      try {
        return res(Status.OK, Buffer.from(this.inject(payload.toString('utf8'))));
      } catch (e) {
        return res(Status.BAD_PAYLOAD, Buffer.from(e instanceof Error ? e.message : String(e)));
      }
    }
    const lf = this.linkFaults;
    if (lf.disconnect !== undefined) {
      const ms = lf.disconnect;
      lf.disconnect = undefined;
      this.emit('disconnect-request', ms);
      return null;
    }
    if (lf.noAnswer > 0) {
      lf.noAnswer--;
      return null;
    }
    if (lf.lateMs > 0) {
      const ms = lf.lateMs;
      lf.lateMs = 0;
      await sleep(ms);
    }
    try {
      return await this.dispatch(code, payload);
    } finally {
      this.busy = false;
    }
  }

  private async work(ms: number): Promise<number | undefined> {
    this.busy = true;
    if (ms > 0) await sleep(ms);
    this.busy = false;
    if (this.coverOpen) return Status.COVER_OPEN;
    if (this.jam) return Status.JAM;
    return undefined;
  }

  /**
   * TRANSCEIVE_COLLECT: while the chip answers 61xx, GET RESPONSE on the command's logical
   * channel (CLA bits 0-1) for the length it announced, each an APDU of its own (its time, the
   * APDU counter); the parts joined, with the last answer's status word. After 256 rounds the
   * answer goes as it stands (61xx: the station collects the rest or gives up).
   */
  private async collectAnswer(chip: SimChip, cla: number, first: Buffer): Promise<LinkResponse> {
    let answer = first;
    const parts: Buffer[] = [];
    for (let rounds = 0; rounds < 256 && answer.at(-2) === 0x61; rounds++) {
      parts.push(answer.subarray(0, -2));
      if (this.profile.apduMs) await sleep(this.profile.apduMs);
      if (chip.dead) return res(Status.CHIP_MUTE);
      this.counters.apdus++;
      answer = chip.process(Buffer.from([cla & 0x03, 0xc0, 0x00, 0x00, answer.at(-1)!]));
    }
    return res(Status.OK, parts.length ? Buffer.concat([...parts, answer]) : answer);
  }

  private mechanicalReady(): number | undefined {
    if (this.coverOpen) return Status.COVER_OPEN;
    if (this.jam) return Status.JAM;
    return undefined;
  }

  private async dispatch(code: number, p: Buffer): Promise<LinkResponse> {
    switch (code) {
      case Command.IDENTIFY:
        return res(
          Status.OK,
          encodeTlv([
            { tag: IdentityTag.MODEL, value: Buffer.from('PersoSim P-1 passport printer') },
            { tag: IdentityTag.FIRMWARE, value: Buffer.from('1.4.2-sim') },
            { tag: IdentityTag.SERIAL, value: Buffer.from(this.serialNumber) },
            { tag: IdentityTag.KIND, value: Buffer.from('printer+encoder') },
            { tag: IdentityTag.MAX_PAYLOAD, value: u32(MAX_PAYLOAD) },
            { tag: IdentityTag.PRINT_DPI, value: u16(this.dpi) },
            {
              tag: IdentityTag.PAGE_PIXELS,
              value: Buffer.concat([u16(this.page.width), u16(this.page.height)]),
            },
            {
              tag: IdentityTag.FEATURES,
              value: Buffer.from([this.collectsResponses ? IdentityFeature.TRANSCEIVE_COLLECT : 0]),
            },
          ]),
        );
      case Command.GET_STATUS: {
        const b = Buffer.alloc(5);
        b.writeUInt32BE(this.statusFlags >>> 0, 0);
        b[4] = this.current ? this.position : Position.NONE;
        return res(Status.OK, b);
      }
      case Command.GET_COUNTERS: {
        const c = this.counters;
        return res(
          Status.OK,
          encodeTlv([
            { tag: CounterTag.FED, value: u32(c.fed) },
            { tag: CounterTag.PRINTED, value: u32(c.printed) },
            { tag: CounterTag.EJECTED_OUTPUT, value: u32(c.ejectedOutput) },
            { tag: CounterTag.EJECTED_REJECT, value: u32(c.ejectedReject) },
            { tag: CounterTag.CLEANINGS, value: u32(c.cleanings) },
            { tag: CounterTag.JAMS, value: u32(c.jams) },
            { tag: CounterTag.APDUS, value: u32(c.apdus) },
          ]),
        );
      }
      case Command.FEED: {
        const nr = this.mechanicalReady();
        if (nr) return res(nr);
        if (this.current)
          return res(Status.WRONG_POSITION, Buffer.from('a booklet is already in the transport'));
        const booklet = this.hopper.shift();
        if (!booklet) {
          this.event(Event.HOPPER_EMPTY);
          return res(Status.HOPPER_EMPTY);
        }
        this.current = {
          booklet,
          chip: booklet.faults.includes('no-chip')
            ? undefined
            : new SimChip(booklet, this.chipOptions),
        };
        this.position = Position.READER;
        this.counters.fed++;
        const err = await this.work(this.profile.feedMs);
        if (!this.hopper.length) this.event(Event.HOPPER_EMPTY);
        return err ? res(err) : res(Status.OK);
      }
      case Command.READ_SERIAL: {
        if (!this.current) return res(Status.NO_BOOKLET);
        if (this.position !== Position.READER && this.position !== Position.ENCODER)
          return res(Status.WRONG_POSITION);
        const err = await this.work(this.profile.readSerialMs);
        if (err) return res(err);
        if (this.current.booklet.faults.includes('unreadable-serial'))
          return res(Status.SERIAL_UNREADABLE);
        return res(Status.OK, Buffer.from(this.current.booklet.printedSerial, 'ascii'));
      }
      case Command.MOVE_TO_ENCODER: {
        const nr = this.mechanicalReady();
        if (nr) return res(nr);
        if (!this.current) return res(Status.NO_BOOKLET);
        // From the serial reader, or back from the print head once the page is printed (the
        // transport reverses: the `print-first` order).
        const back = this.position === Position.PRINTER && this.current.printed !== undefined;
        if (this.position !== Position.READER && this.position !== Position.ENCODER && !back)
          return res(Status.WRONG_POSITION);
        const err = await this.work(this.profile.moveMs);
        if (err) return res(err);
        this.position = Position.ENCODER;
        return res(Status.OK);
      }
      case Command.PRINT_DATA_PAGE:
        return this.printPage(p);
      case Command.READ_MRZ: {
        if (!this.current) return res(Status.NO_BOOKLET);
        if (this.position !== Position.PRINTER || !this.current.printed)
          return res(Status.WRONG_POSITION);
        const err = await this.work(this.profile.readMrzMs);
        if (err) return res(err);
        // The camera reads the printed page, never the text the page was made from.
        const reading = readMrz(printedRaster(this.current.printed));
        if (!reading.readable)
          return res(Status.MRZ_UNREADABLE, Buffer.from(unreadableWhy(reading)));
        return res(Status.OK, Buffer.from(reading.lines.join('\n'), 'ascii'));
      }
      case Command.EJECT: {
        if (p.length !== 1 || p[0]! > 1)
          return res(Status.BAD_PAYLOAD, Buffer.from('tray must be 0 or 1'));
        const nr = this.mechanicalReady();
        if (nr) return res(nr);
        if (!this.current) return res(Status.NO_BOOKLET);
        const reject = p[0] === 1;
        if (reject && this.rejectTray.length >= this.rejectTrayCapacity) {
          this.event(Event.REJECT_TRAY_FULL);
          return res(Status.REJECT_TRAY_FULL);
        }
        const err = await this.work(this.profile.ejectMs);
        if (err) return res(err);
        this.fieldOn = false;
        if (reject) {
          this.rejectTray.push(this.current);
          this.counters.ejectedReject++;
          if (this.rejectTray.length >= this.rejectTrayCapacity) this.event(Event.REJECT_TRAY_FULL);
        } else {
          this.outputTray.push(this.current);
          this.counters.ejectedOutput++;
        }
        const left = this.current;
        this.current = undefined;
        this.position = Position.NONE;
        this.transfer = undefined;
        this.onEjected?.(left, reject ? 'reject' : 'output');
        return res(Status.OK);
      }
      case Command.TEST_PATTERN: {
        const kind = Object.entries(TestPattern).find(([, v]) => v === p[0])?.[0];
        if (p.length !== 1 || !kind)
          return res(Status.BAD_PAYLOAD, Buffer.from('unknown test pattern'));
        const nr = this.mechanicalReady();
        if (nr) return res(nr);
        if (this.ribbon <= 0) return res(Status.RIBBON_OUT);
        if (this.ink <= 0) return res(Status.INK_OUT);
        this.event(Event.JOB_PROGRESS, Buffer.concat([Buffer.from([0]), Buffer.from(kind)]));
        const err = await this.work(this.profile.testPatternMs);
        if (err) return res(err);
        this.consume();
        this.event(Event.JOB_PROGRESS, Buffer.concat([Buffer.from([100]), Buffer.from('done')]));
        this.printLog.push({ kind: 'test-pattern', detail: kind });
        return res(Status.OK);
      }
      case Command.CLEAN: {
        const nr = this.mechanicalReady();
        if (nr) return res(nr);
        const err = await this.work(this.profile.cleanMs);
        if (err) return res(err);
        this.counters.cleanings++;
        return res(Status.OK);
      }
      case Command.FIELD: {
        if (p.length !== 1 || p[0]! > 1)
          return res(Status.BAD_PAYLOAD, Buffer.from('field must be 0 or 1'));
        this.fieldOn = p[0] === 1;
        this.current?.chip?.reset();
        return res(Status.OK);
      }
      case Command.DETECT_CHIP: {
        if (!this.fieldOn) return res(Status.FIELD_OFF);
        if (!this.current || this.position !== Position.ENCODER)
          return res(Status.NO_CHIP, Buffer.from('no booklet at the encoder'));
        const chip = this.current.chip;
        if (!chip) return res(Status.NO_CHIP);
        if (chip.dead) return res(Status.CHIP_MUTE);
        chip.reset();
        return res(
          Status.OK,
          encodeTlv([
            { tag: ChipTag.UID, value: chip.uid },
            { tag: ChipTag.ATS, value: chip.ats },
          ]),
        );
      }
      case Command.TRANSCEIVE:
      case Command.TRANSCEIVE_COLLECT: {
        if (code === Command.TRANSCEIVE_COLLECT && !this.collectsResponses)
          return res(Status.UNKNOWN_COMMAND);
        if (!this.fieldOn) return res(Status.FIELD_OFF);
        const chip =
          this.current && this.position === Position.ENCODER ? this.current.chip : undefined;
        if (!chip) return res(Status.NO_CHIP);
        if (chip.dead) return res(Status.CHIP_MUTE);
        if (!p.length) return res(Status.BAD_PAYLOAD, Buffer.from('empty APDU'));
        if (this.profile.apduMs) await sleep(this.profile.apduMs);
        this.counters.apdus++;
        const answer = chip.process(p);
        if (code !== Command.TRANSCEIVE_COLLECT) return res(Status.OK, answer);
        return this.collectAnswer(chip, p[0]!, answer);
      }
      default:
        return res(Status.UNKNOWN_COMMAND);
    }
  }

  /**
   * PRINT_DATA_PAGE: BEGIN opens a page (any page still open is dropped), DATA appends bytes at
   * exactly the offset received so far, COMMIT checks length and SHA-256, decodes the page and
   * only then prints it. Any refusal drops the open page: the station starts again with BEGIN.
   */
  private async printPage(p: Buffer): Promise<LinkResponse> {
    let cmd;
    try {
      cmd = parsePageCommand(p);
    } catch (e) {
      this.transfer = undefined;
      return res(Status.BAD_PAYLOAD, Buffer.from(e instanceof Error ? e.message : 'bad page'));
    }
    if (cmd.op === 'begin') {
      this.transfer = undefined;
      const h = cmd.header;
      if (h.dpi !== this.dpi || h.width !== this.page.width || h.height !== this.page.height)
        return res(
          Status.BAD_PAYLOAD,
          Buffer.from(
            `page is ${h.width} x ${h.height} at ${h.dpi} dpi; this printer prints ${this.page.width} x ${this.page.height} at ${this.dpi} dpi`,
          ),
        );
      const refused = this.printReady();
      if (refused) return refused;
      const id = this.nextPageId;
      this.nextPageId = (this.nextPageId % 0xffff) + 1;
      this.transfer = { id, header: h, received: [], length: 0 };
      return res(Status.OK, u16(id));
    }
    const t = this.transfer;
    if (!t || cmd.pageId !== t.id) {
      this.transfer = undefined;
      return res(
        Status.PAGE_SEQUENCE,
        Buffer.from(t ? `page ${cmd.pageId} is not the open page ${t.id}` : 'no page is open'),
      );
    }
    if (cmd.op === 'data') {
      if (cmd.offset !== t.length || t.length + cmd.bytes.length > t.header.length) {
        this.transfer = undefined;
        return res(
          Status.PAGE_SEQUENCE,
          Buffer.from(
            cmd.offset !== t.length
              ? `data at offset ${cmd.offset}, expected ${t.length}`
              : `data beyond the page's ${t.header.length} bytes`,
          ),
        );
      }
      t.received.push(Buffer.from(cmd.bytes));
      t.length += cmd.bytes.length;
      return res(Status.OK);
    }
    // COMMIT
    this.transfer = undefined;
    if (t.length !== t.header.length)
      return res(
        Status.PAGE_INCOMPLETE,
        Buffer.from(`received ${t.length} of ${t.header.length} bytes`),
      );
    const data = Buffer.concat(t.received);
    if (!createHash('sha256').update(data).digest().equals(t.header.sha256))
      return res(Status.PAGE_DIGEST);
    try {
      decodePage(t.header, data);
    } catch (e) {
      return res(Status.BAD_PAYLOAD, Buffer.from(e instanceof Error ? e.message : 'bad page'));
    }
    const refused = this.printReady();
    if (refused) return refused;
    const booklet = this.current!;
    this.position = Position.PRINTER;
    const stages = ['zones I-VI', 'zone VII (MRZ)', 'laminate'];
    for (let i = 0; i < stages.length; i++) {
      this.event(
        Event.JOB_PROGRESS,
        Buffer.concat([
          Buffer.from([Math.round((i * 100) / stages.length)]),
          Buffer.from(stages[i]!),
        ]),
      );
      const err = await this.work(this.profile.printMs / stages.length);
      if (err) return res(err);
    }
    this.event(Event.JOB_PROGRESS, Buffer.concat([Buffer.from([100]), Buffer.from('done')]));
    booklet.printed = {
      header: t.header,
      data,
      faults: { ...bookletPrintFaults(booklet.booklet, t.header.dpi), ...booklet.printFaults },
    };
    this.consume();
    this.counters.printed++;
    this.printLog.push({
      kind: 'data-page',
      detail: `${t.header.width}x${t.header.height} ${t.header.length} bytes sha256 ${t.header.sha256.toString('hex')}`,
    });
    return res(Status.OK);
  }

  /** Whether a page can be printed on the booklet in the transport now (undefined: yes). */
  private printReady(): LinkResponse | undefined {
    const nr = this.mechanicalReady();
    if (nr) return res(nr);
    if (!this.current) return res(Status.NO_BOOKLET);
    if (this.position === Position.NONE) return res(Status.WRONG_POSITION);
    if (this.current.printed)
      return res(
        Status.WRONG_POSITION,
        Buffer.from('the booklet in the transport is already printed'),
      );
    if (this.ribbon <= 0) return res(Status.RIBBON_OUT);
    if (this.ink <= 0) return res(Status.INK_OUT);
    return undefined;
  }

  private consume(): void {
    const wasRibbonLow = this.ribbon < 50;
    const wasInkLow = this.ink < 50;
    this.ribbon = Math.max(0, this.ribbon - 1);
    this.ink = Math.max(0, this.ink - 1);
    if (this.ribbon === 0) this.event(Event.RIBBON_OUT);
    else if (this.ribbon < 50 && !wasRibbonLow) this.event(Event.RIBBON_LOW);
    if (this.ink === 0) this.event(Event.INK_OUT);
    else if (this.ink < 50 && !wasInkLow) this.event(Event.INK_LOW);
  }
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** Why the camera could not read: where, never what (the MRZ is personal data). */
function unreadableWhy(r: ReturnType<typeof readMrz>): string {
  if (r.reason) return r.reason;
  const at = r.unreadable.slice(0, 8).map((u) => `${u.line}:${u.column}`);
  return `${r.unreadable.length} uncertain character(s) at line:column ${at.join(' ')}${r.unreadable.length > 8 ? ' ...' : ''}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
