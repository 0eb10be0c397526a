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

function checkByte(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff)
    throw new RangeError(`frame ${name} ${v} is not a byte`);
}

export function encodeFrame(frame: Frame): Buffer {
  const { seq, type, code, payload } = frame;
  if (payload.length > MAX_PAYLOAD)
    throw new RangeError(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  checkByte('seq', seq);
  checkByte('type', type);
  checkByte('code', code);
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

/** Where FrameDecoder.decode() hands what it finds, in stream order. */
export interface DecodeSink {
  frame(frame: Frame): void;
  corrupt(corrupt: CorruptFrame): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * A streaming frame decoder: push any chunks, get whole frames back. After garbage or a bad CRC
 * it resynchronises on the next start byte (rescanning the bytes it had buffered). It never keeps
 * more than MAX_FRAME_SIZE - 1 bytes between calls, and keeps no reference to a chunk it was
 * given (a frame's payload and an incomplete tail are copies).
 */
export class FrameDecoder {
  private buf: Buffer = EMPTY;
  /** Garbage bytes skipped before a start byte, reported with the next item or on demand. */
  private skipped = 0;
  /** Bumped by reset(): a decode() in progress stops handing on items and keeps no tail. */
  private generation = 0;

  get bufferedBytes(): number {
    return this.buf.length;
  }

  /** True when a frame has started but is incomplete. */
  get hasPartial(): boolean {
    return this.buf.length > 0;
  }

  push(chunk: Uint8Array): DecodeItem[] {
    const out: DecodeItem[] = [];
    this.decode(chunk, {
      frame: (frame) => out.push({ frame }),
      corrupt: (corrupt) => out.push({ corrupt }),
    });
    return out;
  }

  /** Like push(), handing each item to `sink` as it is found. */
  decode(chunk: Uint8Array, sink: DecodeSink): void {
    const generation = this.generation;
    const skippedBefore = this.skipped;
    let reported = false;
    const corrupt = (c: CorruptFrame): boolean => {
      reported = true;
      sink.corrupt(c);
      return this.generation === generation;
    };
    const data = this.buf.length
      ? Buffer.concat([this.buf, chunk])
      : Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
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
        pos += 1;
        if (!corrupt({ reason: 'bad-length', bytes: 1 })) return;
        continue;
      }
      const total = len + FRAME_OVERHEAD;
      if (avail < total) break;
      const crc = data.readUInt16BE(pos + HEADER_SIZE + len);
      if (crc16(data, pos + 1, pos + HEADER_SIZE + len) !== crc) {
        const seqHint = data[pos + 3]!;
        pos += 1; // rescan from the next byte: the real frame may start inside this one
        if (!corrupt({ reason: 'bad-crc', seqHint, bytes: 1 })) return;
        continue;
      }
      const frame: Frame = {
        seq: data[pos + 3]!,
        type: data[pos + 4]!,
        code: data[pos + 5]!,
        payload: Buffer.from(data.subarray(pos + HEADER_SIZE, pos + HEADER_SIZE + len)),
      };
      pos += total;
      sink.frame(frame);
      if (this.generation !== generation) return;
    }
    // Bytes skipped while rescanning a bad-CRC frame are already reported by that frame.
    if (this.skipped > skippedBefore && !reported) {
      sink.corrupt({ reason: 'garbage', bytes: this.skipped - skippedBefore });
      if (this.generation !== generation) return;
    }
    // Keep only the incomplete tail (bounded: at most one frame less a byte), as a copy.
    this.buf = pos < data.length ? Buffer.from(data.subarray(pos)) : EMPTY;
  }

  /** Drops a stalled partial frame's start byte and rescans the rest. */
  dropPartial(): DecodeItem[] {
    const out: DecodeItem[] = [];
    this.dropPartialTo({
      frame: (frame) => out.push({ frame }),
      corrupt: (corrupt) => out.push({ corrupt }),
    });
    return out;
  }

  /** Like dropPartial(), handing each item to `sink`. */
  dropPartialTo(sink: DecodeSink): void {
    if (!this.buf.length) return;
    const rest = this.buf.subarray(1);
    this.buf = EMPTY;
    const generation = this.generation;
    sink.corrupt({ reason: 'stalled', bytes: 1 });
    if (this.generation === generation) this.decode(rest, sink);
  }

  /** Garbage bytes skipped so far (between frames). */
  get garbageBytes(): number {
    return this.skipped;
  }

  reset(): void {
    this.buf = EMPTY;
    this.generation++;
  }
}

export interface FrameParserOptions {
  /** A partial frame with no new byte for this long is abandoned and rescanned. Default 200 ms. */
  interByteTimeoutMs?: number;
}

/**
 * The decoder with its inter-byte timeout, without a stream: bytes in through push(), frames and
 * rejected bytes out to a DecodeSink at once. The link reads its transport with this.
 */
export class FrameReceiver {
  private readonly decoder = new FrameDecoder();
  private timer: NodeJS.Timeout | undefined;
  private readonly interByteTimeoutMs: number;
  private readonly onStall = (): void => {
    this.timer = undefined;
    this.decoder.dropPartialTo(this.sink);
    this.arm();
  };

  constructor(
    private readonly sink: DecodeSink,
    opts: FrameParserOptions = {},
  ) {
    this.interByteTimeoutMs = opts.interByteTimeoutMs ?? 200;
  }

  push(chunk: Uint8Array): void {
    this.decoder.decode(chunk, this.sink);
    this.arm();
  }

  /** Forgets any partial frame (after a reconnect or a lost HID report). */
  reset(): void {
    this.decoder.reset();
    this.arm();
  }

  /** Forgets any partial frame and stops the timer. */
  stop(): void {
    this.decoder.reset();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A partial frame gets interByteTimeoutMs from its latest byte; a whole one needs no timer. */
  private arm(): void {
    if (!this.decoder.hasPartial) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(this.onStall, this.interByteTimeoutMs);
      this.timer.unref();
    }
  }
}

/**
 * The receiver as a Transform stream, in the style of serialport's parsers: bytes in, Frame
 * objects out. Rejected frames are reported with a `corrupt` event (CorruptFrame).
 */
export class FrameParser extends Transform {
  private readonly receiver: FrameReceiver;

  constructor(opts: FrameParserOptions = {}) {
    super({ readableObjectMode: true });
    this.receiver = new FrameReceiver(
      { frame: (f) => this.push(f), corrupt: (c) => this.emit('corrupt', c) },
      opts,
    );
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.receiver.push(chunk);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.receiver.stop();
    cb();
  }

  /** Forgets any partial frame (after a reconnect or a lost HID report). */
  resetDecoder(): void {
    this.receiver.reset();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.receiver.stop();
    cb(err);
  }
}
