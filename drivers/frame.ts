import { Transform, type TransformCallback } from 'node:stream';
import { crc16, crc8 } from './crc.ts';

/**
 * The frame of the station link (see docs/protocol.md):
 *
 *   SOF(0xA5) LEN(u16 BE) SEQ(u8) TYPE(u8) CODE(u8) HCS(u8) PAYLOAD(LEN bytes) CRC(u16 BE)
 *
 * HCS (CRC-8) covers LEN..CODE, so a false start byte in garbage is rejected at once instead of
 * swallowing the bytes its bogus length announces. CRC (CRC-16/CCITT-FALSE) covers LEN..PAYLOAD. This module knows the frame layout only;
 * what TYPE and CODE mean is the link's and the clients' business.
 */
export const SOF = 0xa5;
export const HEADER_SIZE = 7;
export const TRAILER_SIZE = 2;
export const FRAME_OVERHEAD = HEADER_SIZE + TRAILER_SIZE;
/** The largest payload a frame may carry. */
export const MAX_PAYLOAD = 8192;
export const MAX_FRAME_SIZE = MAX_PAYLOAD + FRAME_OVERHEAD;

export interface Frame {
  seq: number;
  type: number;
  code: number;
  payload: Buffer;
}

export function encodeFrame(frame: Frame): Buffer {
  const { seq, type, code, payload } = frame;
  if (payload.length > MAX_PAYLOAD)
    throw new RangeError(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  for (const [name, v] of [
    ['seq', seq],
    ['type', type],
    ['code', code],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff)
      throw new RangeError(`frame ${name} ${v} is not a byte`);
  }
  const buf = Buffer.allocUnsafe(payload.length + FRAME_OVERHEAD);
  buf[0] = SOF;
  buf.writeUInt16BE(payload.length, 1);
  buf[3] = seq;
  buf[4] = type;
  buf[5] = code;
  buf[6] = crc8(buf, 1, 6);
  payload.copy(buf, HEADER_SIZE);
  buf.writeUInt16BE(crc16(buf, 1, HEADER_SIZE + payload.length), HEADER_SIZE + payload.length);
  return buf;
}

/** Something the decoder threw away, with the reason (for NAKs and diagnostics). */
export interface CorruptFrame {
  reason: 'garbage' | 'bad-crc' | 'bad-length' | 'stalled';
  /** The SEQ byte of the rejected frame, when it got that far (not trustworthy: the CRC failed). */
  seqHint?: number;
  /** Bytes discarded. */
  bytes: number;
}

export type DecodeItem = { frame: Frame } | { corrupt: CorruptFrame };

/**
 * A streaming frame decoder: push any chunks, get whole frames back. After garbage or a bad CRC
 * it resynchronises on the next start byte (rescanning the bytes it had buffered). It never keeps
 * more than MAX_FRAME_SIZE - 1 bytes between calls.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Garbage bytes skipped before a start byte, reported with the next item or on demand. */
  private skipped = 0;

  get bufferedBytes(): number {
    return this.buf.length;
  }

  /** True when a frame has started but is incomplete. */
  get hasPartial(): boolean {
    return this.buf.length > 0;
  }

  push(chunk: Uint8Array): DecodeItem[] {
    const out: DecodeItem[] = [];
    const skippedBefore = this.skipped;
    let data = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    let pos = 0;
    for (;;) {
      // Hunt for a start byte.
      const sof = data.indexOf(SOF, pos);
      if (sof < 0) {
        this.skipped += data.length - pos;
        pos = data.length;
        break;
      }
      this.skipped += sof - pos;
      pos = sof;
      const avail = data.length - pos;
      if (avail < HEADER_SIZE) break;
      if (crc8(data, pos + 1, pos + 6) !== data[pos + 6]) {
        // Not a header: most often a start-byte value inside garbage. Quietly rescan.
        this.skipped += 1;
        pos += 1;
        continue;
      }
      const len = data.readUInt16BE(pos + 1);
      if (len > MAX_PAYLOAD) {
        out.push({ corrupt: { reason: 'bad-length', bytes: 1 } });
        pos += 1;
        continue;
      }
      const total = len + FRAME_OVERHEAD;
      if (avail < total) break;
      const crc = data.readUInt16BE(pos + HEADER_SIZE + len);
      if (crc16(data, pos + 1, pos + HEADER_SIZE + len) !== crc) {
        out.push({ corrupt: { reason: 'bad-crc', seqHint: data[pos + 3]!, bytes: 1 } });
        pos += 1; // rescan from the next byte: the real frame may start inside this one
        continue;
      }
      out.push({
        frame: {
          seq: data[pos + 3]!,
          type: data[pos + 4]!,
          code: data[pos + 5]!,
          payload: Buffer.from(data.subarray(pos + HEADER_SIZE, pos + HEADER_SIZE + len)),
        },
      });
      pos += total;
    }
    // Bytes skipped while rescanning a bad-CRC frame are already reported by that frame.
    if (this.skipped > skippedBefore && !out.some((i) => 'corrupt' in i))
      out.push({ corrupt: { reason: 'garbage', bytes: this.skipped - skippedBefore } });
    // Keep only the incomplete tail (bounded: at most one frame less a byte).
    data = data.subarray(pos);
    this.buf = data.length ? Buffer.from(data) : Buffer.alloc(0);
    return out;
  }

  /** Drops a stalled partial frame's start byte and rescans the rest. */
  dropPartial(): DecodeItem[] {
    if (!this.buf.length) return [];
    const rest = this.buf.subarray(1);
    this.buf = Buffer.alloc(0);
    return [{ corrupt: { reason: 'stalled', bytes: 1 } }, ...this.push(rest)];
  }

  /** Garbage bytes skipped so far (between frames). */
  get garbageBytes(): number {
    return this.skipped;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }
}

export interface FrameParserOptions {
  /** A partial frame with no new byte for this long is abandoned and rescanned. Default 200 ms. */
  interByteTimeoutMs?: number;
}

/**
 * The decoder as a Transform stream, in the style of serialport's parsers: bytes in, Frame
 * objects out. Rejected frames are reported with a `corrupt` event (CorruptFrame).
 */
export class FrameParser extends Transform {
  private readonly decoder = new FrameDecoder();
  private timer: NodeJS.Timeout | undefined;
  private readonly interByteTimeoutMs: number;

  constructor(opts: FrameParserOptions = {}) {
    super({ readableObjectMode: true });
    this.interByteTimeoutMs = opts.interByteTimeoutMs ?? 200;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.emitItems(this.decoder.push(chunk));
    this.arm();
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.timer) clearTimeout(this.timer);
    this.decoder.reset();
    cb();
  }

  /** Forgets any partial frame (after a reconnect or a lost HID report). */
  resetDecoder(): void {
    this.decoder.reset();
    this.arm();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    cb(err);
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.decoder.hasPartial) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.emitItems(this.decoder.dropPartial());
      this.arm();
    }, this.interByteTimeoutMs);
    this.timer.unref();
  }

  private emitItems(items: DecodeItem[]): void {
    for (const item of items) {
      if ('frame' in item) this.push(item.frame);
      else this.emit('corrupt', item.corrupt);
    }
  }
}
