import { EventEmitter } from 'node:events';
import type * as NodeHidModule from 'node-hid';
import { TransportClosedError, type CloseInfo, type Transport } from './transport.ts';

/** What the HID transport needs of a device: node-hid v3's HIDAsync has exactly this shape. */
export interface HidDeviceLike extends EventEmitter {
  write(values: number[] | Buffer): Promise<number>;
  close(): Promise<void>;
}

export interface HidOptions {
  /** Report size in bytes, not counting the report-ID byte (e.g. 64). At least 4. */
  reportSize: number;
  /** Report ID of the station reports (0 = unnumbered reports). */
  reportId?: number;
  /** Whether input reports arrive with the report-ID byte first (default: reportId !== 0). */
  inputHasReportId?: boolean;
  /** Reports the device exchanges per second (timing estimate; default 1000, full-speed USB). */
  reportsPerSecond?: number;
  /** A name for messages. */
  description?: string;
}

/** Bytes of each report used by our framing: sequence counter and fill length. */
export const HID_REPORT_HEADER = 2;

/**
 * Splits a byte stream into fixed-size reports: [reportId] counter len data... (zero padded).
 * The counter (mod 256) lets the receiver see a lost report.
 */
export function fragment(
  data: Buffer,
  reportSize: number,
  reportId: number,
  startCounter: number,
): { reports: Buffer[]; nextCounter: number } {
  const room = reportSize - HID_REPORT_HEADER;
  if (room < 1 || room > 255) throw new RangeError(`HID report size ${reportSize} must be 3..257`);
  const reports: Buffer[] = [];
  let counter = startCounter & 0xff;
  for (let p = 0; p < data.length; p += room) {
    const part = data.subarray(p, p + room);
    const r = Buffer.alloc(1 + reportSize);
    r[0] = reportId;
    r[1] = counter;
    r[2] = part.length;
    part.copy(r, 3);
    reports.push(r);
    counter = (counter + 1) & 0xff;
  }
  return { reports, nextCounter: counter };
}

/** Reassembles the byte stream from input reports and notices gaps in the counter. */
export class HidReassembler {
  private expected: number | undefined;

  constructor(
    private readonly reportSize: number,
    private readonly hasReportId: boolean,
  ) {}

  /** Returns the carried bytes, and `lost` = how many reports went missing before this one. */
  accept(report: Buffer): { data: Buffer; lost: number; error?: string } {
    const body = this.hasReportId ? report.subarray(1) : report;
    if (body.length < HID_REPORT_HEADER)
      return {
        data: Buffer.alloc(0),
        lost: 0,
        error: `HID report of ${report.length} bytes too short`,
      };
    const counter = body[0]!;
    const len = body[1]!;
    if (len > Math.min(this.reportSize, body.length) - HID_REPORT_HEADER)
      return {
        data: Buffer.alloc(0),
        lost: 0,
        error: `HID report claims ${len} bytes, more than it holds`,
      };
    const lost = this.expected === undefined ? 0 : (counter - this.expected) & 0xff;
    this.expected = (counter + 1) & 0xff;
    return { data: Buffer.from(body.subarray(HID_REPORT_HEADER, HID_REPORT_HEADER + len)), lost };
  }

  reset(): void {
    this.expected = undefined;
  }
}

/**
 * A USB HID device as a Transport, over node-hid's HIDAsync (or anything shaped like it): frames
 * are cut into fixed-size reports and put back together; a missing report is reported with a
 * `lost` event (the link then drops the partial frame and asks for a resend).
 */
export class HidTransport extends EventEmitter implements Transport {
  private device: HidDeviceLike | undefined;
  private counter = 0;
  private reassembler: HidReassembler;
  private readonly reportId: number;
  readonly bytesPerSecond: number;

  constructor(
    private readonly openDevice: () => Promise<HidDeviceLike>,
    private readonly opts: HidOptions,
  ) {
    super();
    if (opts.reportSize < 4 || opts.reportSize > 257)
      throw new RangeError(`HID report size ${opts.reportSize} must be 4..257`);
    this.reportId = opts.reportId ?? 0;
    this.reassembler = new HidReassembler(
      opts.reportSize,
      opts.inputHasReportId ?? this.reportId !== 0,
    );
    this.bytesPerSecond = (opts.reportSize - HID_REPORT_HEADER) * (opts.reportsPerSecond ?? 1000);
  }

  static async open(
    openDevice: () => Promise<HidDeviceLike>,
    opts: HidOptions,
  ): Promise<HidTransport> {
    const t = new HidTransport(openDevice, opts);
    await t.reopen();
    return t;
  }

  get description(): string {
    return this.opts.description ?? 'HID device';
  }

  get isOpen(): boolean {
    return this.device !== undefined;
  }

  async reopen(): Promise<void> {
    if (this.device) return;
    const dev = await this.openDevice();
    this.device = dev;
    this.counter = 0;
    this.reassembler.reset();
    dev.on('data', (report: Buffer) => {
      if (this.device !== dev) return;
      const r = this.reassembler.accept(Buffer.from(report));
      if (r.error) {
        this.emit('lost', `${this.description}: ${r.error}`);
        return;
      }
      if (r.lost) this.emit('lost', `${this.description}: ${r.lost} HID report(s) lost`);
      if (r.data.length) this.emit('data', r.data);
    });
    dev.on('error', (err: Error) => this.drop({ disconnected: true, error: err }));
  }

  private drop(info: CloseInfo): void {
    const dev = this.device;
    if (!dev) return;
    this.device = undefined;
    dev.removeAllListeners('data');
    dev.close().catch(() => undefined);
    this.emit('close', info);
  }

  async write(data: Buffer): Promise<void> {
    const dev = this.device;
    if (!dev) throw new TransportClosedError(this.description);
    const { reports, nextCounter } = fragment(
      data,
      this.opts.reportSize,
      this.reportId,
      this.counter,
    );
    this.counter = nextCounter;
    for (const r of reports) {
      try {
        await dev.write(r);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        this.drop({ disconnected: true, error: err });
        throw new TransportClosedError(`${this.description}: write failed (${err.message})`, true);
      }
    }
  }

  async close(): Promise<void> {
    const dev = this.device;
    if (!dev) return;
    this.device = undefined;
    dev.removeAllListeners('data');
    await dev.close().catch(() => undefined);
    this.emit('close', { disconnected: false });
  }
}

export interface HidDeviceInfo {
  path: string;
  vendorId: number;
  productId: number;
  product?: string;
  manufacturer?: string;
  serialNumber?: string;
}

type NodeHid = typeof NodeHidModule;

async function loadNodeHid(): Promise<NodeHid> {
  try {
    const mod = (await import('node-hid')) as NodeHid & { default?: NodeHid };
    return mod.default ?? mod;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(
      `USB HID support is unavailable (${msg}); node-hid needs libusb-1.0 (apt-get install libusb-1.0-0).`,
    );
  }
}

/** Lists USB HID devices; throws a clear Error when HID support cannot load. */
export async function listHidDevices(): Promise<HidDeviceInfo[]> {
  const hid = await loadNodeHid();
  const devices = await hid.devicesAsync();
  return devices
    .filter((d) => d.path)
    .map((d) => {
      const info: HidDeviceInfo = { path: d.path!, vendorId: d.vendorId, productId: d.productId };
      if (d.product) info.product = d.product;
      if (d.manufacturer) info.manufacturer = d.manufacturer;
      if (d.serialNumber) info.serialNumber = d.serialNumber;
      return info;
    });
}

/** Opens a HID device by path through node-hid's HIDAsync. */
export async function openHidTransport(
  path: string,
  opts: Omit<HidOptions, 'description'>,
): Promise<HidTransport> {
  const hid = await loadNodeHid();
  return HidTransport.open(
    async () => (await hid.HIDAsync.open(path)) as unknown as HidDeviceLike,
    {
      ...opts,
      description: path,
    },
  );
}
