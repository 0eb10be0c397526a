import { DeviceClient, type ClientOptions } from './device-client.ts';
import type { Link } from './link.ts';
import type { DevicePermit } from './permit.ts';
import {
  CounterTag,
  decodeTlv,
  encodeTlv,
  JobTag,
  TestPattern,
  Tray,
  type TestPatternKind,
  type Tlv,
} from './protocol.ts';

export interface PrintJob {
  /** Named text fields of the data page, e.g. { surname: 'ERIKSSON', ... }. */
  fields: Record<string, string>;
  /** The two 44-character TD3 MRZ lines. */
  mrz: string[];
  /** Face image (JPEG/JPEG2000/PNG bytes). */
  face?: Buffer;
  /** Signature image bytes. */
  signature?: Buffer;
}

export type PrinterCounters = {
  fed: number;
  printed: number;
  ejectedOutput: number;
  ejectedReject: number;
  cleanings: number;
  jams: number;
};

/** Serialises a print job into the PRINT_DATA_PAGE payload (TLV). */
export function encodePrintJob(job: PrintJob): Buffer {
  const items: Tlv[] = [];
  for (const [name, value] of Object.entries(job.fields)) {
    if (name.includes('=')) throw new Error(`print field name "${name}" may not contain "="`);
    items.push({ tag: JobTag.TEXT_FIELD, value: Buffer.from(`${name}=${value}`, 'utf8') });
  }
  for (const line of job.mrz) {
    if (!/^[A-Z0-9<]{1,44}$/.test(line))
      throw new Error(`MRZ line "${line}" has invalid characters`);
    items.push({ tag: JobTag.MRZ_LINE, value: Buffer.from(line, 'ascii') });
  }
  if (job.face) items.push({ tag: JobTag.FACE, value: job.face });
  if (job.signature) items.push({ tag: JobTag.SIGNATURE, value: job.signature });
  return encodeTlv(items);
}

export function decodePrintJob(buf: Buffer): PrintJob {
  const job: PrintJob = { fields: {}, mrz: [] };
  for (const { tag, value } of decodeTlv(buf)) {
    if (tag === JobTag.TEXT_FIELD) {
      const s = value.toString('utf8');
      const eq = s.indexOf('=');
      if (eq < 1) throw new Error('text field without name');
      job.fields[s.slice(0, eq)] = s.slice(eq + 1);
    } else if (tag === JobTag.MRZ_LINE) job.mrz.push(value.toString('ascii'));
    else if (tag === JobTag.FACE) job.face = Buffer.from(value);
    else if (tag === JobTag.SIGNATURE) job.signature = Buffer.from(value);
    else throw new Error(`unknown print job tag ${tag}`);
  }
  return job;
}

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

  async printDataPage(job: PrintJob, permit: DevicePermit): Promise<void> {
    await this.call('PRINT_DATA_PAGE', encodePrintJob(job), permit);
  }

  /** Reads the printed MRZ back with the camera; one string per line. */
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
