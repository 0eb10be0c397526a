/**
 * Raw exchanges with a chip through whatever carries APDUs (the encoder's TRANSCEIVE, or a
 * simulated chip in tests): counts what crosses the wire, and collects an answer the chip
 * announces with 61xx by GET RESPONSE, as ISO 7816-4 asks.
 */
import { decodeResponse, encodeApdu, swBytes } from '../iso7816/apdu.ts';

/** Sends one command APDU and resolves with the response APDU (data || SW1 SW2). */
export type Transceive = (apdu: Buffer) => Promise<Buffer>;

export interface ChipIoStats {
  /** Command APDUs sent, GET RESPONSE included. */
  apdus: number;
  /** Times the host waited for the chip: several commands outstanding at once count once. */
  roundTrips: number;
  /** Command APDU bytes sent. */
  bytesSent: number;
  /** Response APDU bytes received. */
  bytesReceived: number;
}

/** Most GET RESPONSE rounds one answer may take (65536 bytes in 256-byte parts). */
const MAX_GET_RESPONSE = 256;

export class ChipIo {
  readonly stats: ChipIoStats = { apdus: 0, roundTrips: 0, bytesSent: 0, bytesReceived: 0 };
  /** Whether the chip has announced an answer with 61xx (then it must not be pipelined). */
  answersVia61 = false;

  constructor(private readonly transceive: Transceive) {}

  /** One command, one answer; 61xx is collected with GET RESPONSE. */
  async exchange(apdu: Buffer): Promise<Buffer> {
    this.stats.roundTrips++;
    return this.collect(await this.send(apdu));
  }

  /**
   * Several commands outstanding at once (the device runs them in order): resolves with the
   * answers in order. An answer announced with 61xx cannot be collected here, since the next
   * command would discard it: that is an error, and the caller must not pipeline such a chip.
   */
  async pipeline(apdus: Buffer[]): Promise<Buffer[]> {
    this.stats.roundTrips++;
    const answers = await Promise.all(apdus.map((a) => this.send(a)));
    for (const r of answers)
      if (r.length === 2 && r[0] === 0x61)
        throw new Error('the chip answered 61xx to a pipelined command: its answer is lost');
    return answers;
  }

  private async send(apdu: Buffer): Promise<Buffer> {
    this.stats.apdus++;
    this.stats.bytesSent += apdu.length;
    const r = await this.transceive(apdu);
    if (r.length < 2) throw new Error(`chip answer of ${r.length} bytes has no status word`);
    this.stats.bytesReceived += r.length;
    return r;
  }

  private async collect(first: Buffer): Promise<Buffer> {
    let r = decodeResponse(first);
    if ((r.sw & 0xff00) !== 0x6100) return first;
    this.answersVia61 = true;
    const parts: Buffer[] = [r.data];
    for (let rounds = 0; (r.sw & 0xff00) === 0x6100; rounds++) {
      if (rounds >= MAX_GET_RESPONSE)
        throw new Error('chip keeps answering 61xx: GET RESPONSE loop');
      this.stats.roundTrips++;
      const le = r.sw & 0xff || 256;
      r = decodeResponse(await this.send(encodeApdu({ cla: 0, ins: 0xc0, p1: 0, p2: 0, le })));
      parts.push(r.data);
    }
    return Buffer.concat([...parts, swBytes(r.sw)]);
  }
}
