import {
  atsSupportsExtendedLength,
  decodeResponse,
  encodeApdu,
  needsExtended,
  swHex,
  type Apdu,
  type ApduResponse,
} from '../iso7816/apdu.ts';
import { DeviceClient, type ClientOptions } from './device-client.ts';
import type { Link } from './link.ts';
import { MAX_PAYLOAD } from './frame.ts';
import { checkCommand, type DevicePermit } from './permit.ts';
import { ChipTag, Command, decodeTlv } from './protocol.ts';

export interface ChipInfo {
  uid: Buffer;
  ats: Buffer;
  /** Whether the chip announced extended Lc/Le in its ATS (may be revised after a 6700). */
  extendedLength: boolean;
}

/**
 * Secure messaging hook (later issues: SCP03 and BAC): wraps each command and unwraps each
 * response; `overhead` is how many data bytes a wrapped command adds.
 */
export interface ApduWrapper {
  wrap(apdu: Apdu): Apdu;
  unwrap(res: ApduResponse): ApduResponse;
  overhead: number;
}

/** A chip answered with an error status word. */
export class ApduError extends Error {
  constructor(
    readonly sw: number,
    what: string,
  ) {
    super(`${what} failed with status word ${swHex(sw)}`);
    this.name = 'ApduError';
  }
}

export interface EncoderOptions extends ClientOptions {
  /** Largest command data per extended APDU (default 4096; bounded by the link's frame size). */
  maxExtendedData?: number;
  /** Largest command data per short APDU (default 255). */
  maxShortData?: number;
}

const MAX_GET_RESPONSE = 256;

/**
 * The contactless chip encoder: RF field, chip detection and APDU exchange. Reading (SELECT,
 * READ BINARY, GET DATA) is free; an APDU that authenticates or writes needs a DevicePermit
 * (drivers/permit.ts) from the station's device gate, or the link refuses it unsent.
 */
export class EncoderClient extends DeviceClient {
  private chip: ChipInfo | undefined;
  private wrapper: ApduWrapper | undefined;
  /**
   * The link session in which the encoder said (IDENTIFY) whether it collects 61xx answers
   * itself, and what it said; asked again in a new session (another device may answer).
   */
  private features: { session: number; collects: boolean } | undefined;
  private readonly maxExtendedData: number;
  private readonly maxShortData: number;

  constructor(link: Link, opts: EncoderOptions = {}) {
    super(link, opts);
    this.maxExtendedData = Math.min(opts.maxExtendedData ?? 4096, MAX_PAYLOAD - 9);
    this.maxShortData = Math.min(opts.maxShortData ?? 255, 255);
  }

  async field(on: boolean): Promise<void> {
    await this.call('FIELD', Buffer.from([on ? 1 : 0]));
    if (!on) this.chip = undefined;
  }

  /** Detects the chip in the field (field must be on). */
  async detectChip(): Promise<ChipInfo> {
    const session = this.link.session;
    if (this.features?.session !== session)
      this.features = {
        session,
        collects: (await this.identify()).features.split(',').includes('transceive-collect'),
      };
    const tlv = decodeTlv(await this.call('DETECT_CHIP'));
    const uid = tlv.find((t) => t.tag === ChipTag.UID)?.value;
    const ats = tlv.find((t) => t.tag === ChipTag.ATS)?.value ?? Buffer.alloc(0);
    if (!uid) throw new Error('DETECT_CHIP answer has no UID');
    this.chip = {
      uid: Buffer.from(uid),
      ats: Buffer.from(ats),
      extendedLength: atsSupportsExtendedLength(ats),
    };
    this.wrapper = undefined;
    return { ...this.chip };
  }

  get chipInfo(): ChipInfo | undefined {
    return this.chip ? { ...this.chip } : undefined;
  }

  /** Installs (or removes) secure messaging for the current chip. */
  setWrapper(wrapper: ApduWrapper | undefined): void {
    this.wrapper = wrapper;
  }

  /**
   * Sends raw APDU bytes and returns the raw response (no case handling), but that an encoder
   * that collects 61xx answers itself (IDENTIFY, asked at chip detection) is asked to: one round
   * trip instead of one per part, and such commands can be pipelined.
   */
  async transmit(apdu: Buffer, permit?: DevicePermit): Promise<Buffer> {
    const collects = this.features?.collects && this.features.session === this.link.session;
    const res = await this.call(collects ? 'TRANSCEIVE_COLLECT' : 'TRANSCEIVE', apdu, permit);
    if (res.length < 2) throw new Error(`chip answer of ${res.length} bytes has no status word`);
    return res;
  }

  /**
   * Exchanges one APDU with ISO 7816-4 case handling: extended length when the chip supports it,
   * otherwise command chaining (CLA bit 0x10) and GET RESPONSE; 61xx collects the rest of the
   * answer, 6Cxx resends with the Le the chip asked for.
   */
  async transceive(apdu: Apdu, permit?: DevicePermit): Promise<ApduResponse> {
    const chip = this.requireChip();
    // Refuse before wrapping: a refused command must not move the secure channel's counters.
    // (The instruction byte, which decides what is guarded, is the same wrapped or not.)
    const header = Buffer.from([apdu.cla, apdu.ins, apdu.p1, apdu.p2]);
    checkCommand(this.link, Command.TRANSCEIVE, header, permit);
    const cmd = this.wrapper ? this.wrapper.wrap(apdu) : apdu;
    let res: ApduResponse;
    if (needsExtended(cmd) && chip.extendedLength) {
      res = decodeResponse(await this.transmit(encodeApdu(cmd, true), permit));
      if (res.sw === 0x6700) {
        // The chip does not take extended fields after all: fall back for the rest of the session.
        chip.extendedLength = false;
        res = await this.sendShort(cmd, permit);
      }
    } else res = await this.sendShort(cmd, permit);
    if ((res.sw & 0xff00) === 0x6c00) {
      const le = res.sw & 0xff || 256;
      res = decodeResponse(await this.transmit(encodeApdu({ ...cmd, le }, false), permit));
    }
    res = await this.collect(res, cmd.cla);
    return this.wrapper ? this.wrapper.unwrap(res) : res;
  }

  /** transceive(), throwing ApduError unless the status word is 9000. */
  async transceiveOk(apdu: Apdu, what: string, permit?: DevicePermit): Promise<Buffer> {
    const r = await this.transceive(apdu, permit);
    if (r.sw !== 0x9000) throw new ApduError(r.sw, what);
    return r.data;
  }

  async selectFile(fileId: number): Promise<void> {
    await this.transceiveOk(
      { cla: 0, ins: 0xa4, p1: 0x02, p2: 0x0c, data: Buffer.from([fileId >> 8, fileId & 0xff]) },
      `SELECT ${fileId.toString(16).padStart(4, '0')}`,
    );
  }

  async selectApplication(aid: Buffer): Promise<void> {
    await this.transceiveOk(
      { cla: 0, ins: 0xa4, p1: 0x04, p2: 0x0c, data: aid },
      `SELECT AID ${aid.toString('hex')}`,
    );
  }

  /** Reads `length` bytes of the selected file from `offset`. */
  async readBinary(offset: number, length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < length) {
      const pos = offset + got;
      if (pos > 0x7fff) throw new RangeError(`READ BINARY offset ${pos} above 32767`);
      const chip = this.requireChip();
      const max = chip.extendedLength && !this.wrapper ? this.maxExtendedData : 256;
      const want = Math.min(max, length - got);
      const r = await this.transceive({
        cla: 0,
        ins: 0xb0,
        p1: pos >> 8,
        p2: pos & 0xff,
        le: want,
      });
      if (r.sw !== 0x9000 && r.sw !== 0x6282) throw new ApduError(r.sw, `READ BINARY at ${pos}`);
      if (!r.data.length) break;
      parts.push(r.data);
      got += r.data.length;
      if (r.sw === 0x6282) break; // end of file reached
    }
    return Buffer.concat(parts);
  }

  /**
   * Writes `data` into the selected file at `offset` with UPDATE BINARY, in the largest chunks
   * the chip and link allow, several commands in flight at once (the encoder runs them in order).
   * Throws ApduError naming the first chunk that failed.
   */
  async updateBinary(offset: number, data: Buffer, permit: DevicePermit): Promise<void> {
    if (offset < 0 || offset + data.length - 1 > 0x7fff)
      throw new RangeError(`UPDATE BINARY range ${offset}+${data.length} exceeds offset 32767`);
    const chip = this.requireChip();
    if (this.wrapper) {
      // Under secure messaging each command depends on the previous one's counter: one at a time.
      const step = this.maxShortData - this.wrapper.overhead;
      for (let p = 0; p < data.length; p += step) {
        const pos = offset + p;
        await this.transceiveOk(
          { cla: 0, ins: 0xd6, p1: pos >> 8, p2: pos & 0xff, data: data.subarray(p, p + step) },
          `UPDATE BINARY at ${pos}`,
          permit,
        );
      }
      return;
    }
    const extended = chip.extendedLength;
    const step = extended ? this.maxExtendedData : this.maxShortData;
    const chunks: { pos: number; data: Buffer }[] = [];
    for (let p = 0; p < data.length; p += step)
      chunks.push({ pos: offset + p, data: data.subarray(p, p + step) });
    const results = await Promise.allSettled(
      chunks.map((c) =>
        this.transmit(
          encodeApdu(
            { cla: 0, ins: 0xd6, p1: c.pos >> 8, p2: c.pos & 0xff, data: c.data },
            extended && c.data.length > 255,
          ),
          permit,
        ),
      ),
    );
    const retry: { pos: number; data: Buffer }[] = [];
    for (let i = 0; i < chunks.length; i++) {
      const r = results[i]!;
      if (r.status === 'rejected') throw r.reason;
      const sw = decodeResponse(r.value).sw;
      if (sw === 0x9000) continue;
      if (sw === 0x6700 && extended && chunks[i]!.data.length > 255) {
        retry.push(chunks[i]!);
        continue;
      }
      throw new ApduError(sw, `UPDATE BINARY at ${chunks[i]!.pos}`);
    }
    if (retry.length) {
      chip.extendedLength = false;
      for (const c of retry) await this.updateBinary(c.pos, c.data, permit);
    }
  }

  private requireChip(): ChipInfo {
    if (!this.chip) throw new Error('no chip detected: switch the field on and call detectChip()');
    return this.chip;
  }

  private async sendShort(cmd: Apdu, permit?: DevicePermit): Promise<ApduResponse> {
    const data = cmd.data ?? Buffer.alloc(0);
    const le = cmd.le === undefined ? undefined : Math.min(cmd.le, 256);
    if (data.length <= 255) {
      const short: Apdu = { ...cmd };
      if (le !== undefined) short.le = le;
      return decodeResponse(await this.transmit(encodeApdu(short, false), permit));
    }
    // Command chaining: every part but the last has CLA bit 0x10.
    const parts = Math.ceil(data.length / this.maxShortData);
    for (let i = 0; i < parts - 1; i++) {
      const part = data.subarray(i * this.maxShortData, (i + 1) * this.maxShortData);
      const r = decodeResponse(
        await this.transmit(
          encodeApdu({ ...cmd, cla: cmd.cla | 0x10, data: part, le: undefined }, false),
          permit,
        ),
      );
      if (r.sw !== 0x9000) return r;
    }
    const last: Apdu = { ...cmd, data: data.subarray((parts - 1) * this.maxShortData) };
    if (le !== undefined) last.le = le;
    else delete last.le;
    return decodeResponse(await this.transmit(encodeApdu(last, false), permit));
  }

  private async collect(first: ApduResponse, cla: number): Promise<ApduResponse> {
    let res = first;
    const parts: Buffer[] = [res.data];
    let rounds = 0;
    while ((res.sw & 0xff00) === 0x6100) {
      if (++rounds > MAX_GET_RESPONSE)
        throw new Error('chip keeps answering 61xx: GET RESPONSE loop');
      const le = res.sw & 0xff || 256;
      res = decodeResponse(
        await this.transmit(encodeApdu({ cla: cla & 0x03, ins: 0xc0, p1: 0, p2: 0, le }, false)),
      );
      parts.push(res.data);
    }
    return { data: Buffer.concat(parts), sw: res.sw };
  }
}
