import { DeviceClient, type ClientOptions } from './device-client.ts';
import { FRAME_OVERHEAD, MAX_PAYLOAD } from './frame.ts';
import type { Link } from './link.ts';
import {
  beginPayload,
  commitPayload,
  DATA_HEADER,
  dataPayload,
  encodePage,
  type LayeredRaster,
  type PageFormatName,
  type RgbaRaster,
} from './page-transfer.ts';
import type { DevicePermit } from './permit.ts';
import {
  Command,
  CounterTag,
  decodeTlv,
  DeviceError,
  Status,
  TestPattern,
  Tray,
  type TestPatternKind,
} from './protocol.ts';

export interface PrintPageOptions {
  /** Pixel format on the wire (default mono1: ordered dither, 1 bit a pixel). */
  format?: PageFormatName;
  /** Time allowed for each BEGIN and DATA answer (default 5 s; COMMIT takes PRINT_DATA_PAGE's). */
  transferTimeoutMs?: number;
}

/** What a page transfer put on the wire. */
export interface PagePrintReport {
  pageId: number;
  /** Compressed page bytes. */
  pageBytes: number;
  /** PRINT_DATA_PAGE frames sent: BEGIN, the DATA chunks, COMMIT. */
  frames: number;
  /** Bytes of those command frames on the wire (frame overhead included, ACKs and answers not). */
  wireBytes: number;
}

export type PrinterCounters = {
  fed: number;
  printed: number;
  ejectedOutput: number;
  ejectedReject: number;
  cleanings: number;
  jams: number;
};

const frameBytes = (payload: number): number => payload + FRAME_OVERHEAD;

/**
 * The passport printer. Moving, printing and maintenance take a DevicePermit (drivers/permit.ts)
 * from the station's device gate; reads and status do not. Events: `event` (DeviceEvent) for cover, jam, ribbon/ink, hopper,
 * reject tray and job progress.
 */
export class PrinterClient extends DeviceClient {
  constructor(link: Link, opts: ClientOptions = {}) {
    super(link, opts);
  }

  /** Feeds one booklet from the input hopper to the serial reader. */
  async feed(permit: DevicePermit): Promise<void> {
    await this.call('FEED', undefined, permit);
  }

  /** Reads the serial pre-printed in the booklet at the reader. */
  async readSerial(): Promise<string> {
    return (await this.call('READ_SERIAL')).toString('ascii');
  }

  async moveToEncoder(permit: DevicePermit): Promise<void> {
    await this.call('MOVE_TO_ENCODER', undefined, permit);
  }

  /**
   * Prints a page raster (e.g. the data page from mrtd/data-page-raster.ts) on the booklet in
   * the transport: BEGIN with the page's size, format, length and SHA-256, the compressed page
   * in DATA chunks (pipelined, up to the link's window), then COMMIT, on which the printer
   * checks length and digest and only then prints (JOB_PROGRESS events). Every frame is a
   * PRINT_DATA_PAGE under `permit`. Any refusal or link failure throws: the page is then not
   * printed by a COMMIT of this call (a failure during COMMIT itself leaves the outcome to the
   * device's answer or status, as for any command).
   */
  async printPage(
    raster: RgbaRaster | LayeredRaster,
    permit: DevicePermit,
    opts: PrintPageOptions = {},
  ): Promise<PagePrintReport> {
    const page = encodePage(raster, opts.format ?? 'mono1');
    const transferMs = opts.transferTimeoutMs ?? 5_000;
    const begin = await this.#page(beginPayload(page), permit, transferMs);
    if (begin.length !== 2)
      throw new DeviceError('PRINT_DATA_PAGE', Status.BAD_PAYLOAD, 'BEGIN answer is not a page id');
    const pageId = begin.readUInt16BE(0);
    const chunk = MAX_PAYLOAD - DATA_HEADER;
    const sends: Promise<Buffer>[] = [];
    let wireBytes = frameBytes(beginPayload(page).length);
    for (let offset = 0; offset < page.length; offset += chunk) {
      const payload = dataPayload(pageId, offset, page.data.subarray(offset, offset + chunk));
      wireBytes += frameBytes(payload.length);
      sends.push(this.#page(payload, permit, transferMs));
    }
    // Every chunk is awaited (no unhandled rejection); the first failure is the one reported.
    const results = await Promise.allSettled(sends);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const commit = commitPayload(pageId);
    wireBytes += frameBytes(commit.length);
    await this.#page(commit, permit, this.timeouts.PRINT_DATA_PAGE);
    return { pageId, pageBytes: page.length, frames: sends.length + 2, wireBytes };
  }

  async #page(payload: Buffer, permit: DevicePermit, timeoutMs: number): Promise<Buffer> {
    const res = await this.link.request(Command.PRINT_DATA_PAGE, payload, { timeoutMs, permit });
    if (res.status !== Status.OK)
      throw new DeviceError(
        'PRINT_DATA_PAGE',
        res.status,
        res.payload.toString('utf8') || undefined,
      );
    return res.payload;
  }

  /**
   * Reads the printed MRZ back with the camera from the printed page; one string per line. A
   * page the camera cannot read with certainty is a DeviceError with status MRZ_UNREADABLE.
   */
  async readMrz(): Promise<string[]> {
    const s = (await this.call('READ_MRZ')).toString('ascii');
    return s.length ? s.split('\n') : [];
  }

  async eject(tray: 'output' | 'reject', permit: DevicePermit): Promise<void> {
    await this.call('EJECT', Buffer.from([tray === 'output' ? Tray.OUTPUT : Tray.REJECT]), permit);
  }

  async testPattern(kind: TestPatternKind, permit: DevicePermit): Promise<void> {
    const code = TestPattern[kind];
    if (!code) throw new Error(`unknown test pattern "${kind}" (nozzle, alignment, colour-bars)`);
    await this.call('TEST_PATTERN', Buffer.from([code]), permit);
  }

  async clean(permit: DevicePermit): Promise<void> {
    await this.call('CLEAN', undefined, permit);
  }

  async counters(): Promise<PrinterCounters> {
    const tlv = decodeTlv(await this.call('GET_COUNTERS'));
    const get = (t: number): number => {
      const v = tlv.find((x) => x.tag === t)?.value;
      return v && v.length === 4 ? v.readUInt32BE(0) : 0;
    };
    return {
      fed: get(CounterTag.FED),
      printed: get(CounterTag.PRINTED),
      ejectedOutput: get(CounterTag.EJECTED_OUTPUT),
      ejectedReject: get(CounterTag.EJECTED_REJECT),
      cleanings: get(CounterTag.CLEANINGS),
      jams: get(CounterTag.JAMS),
    };
  }
}
