/**
 * Command, status and event codes of the station protocol, and the small TLV encoding used in
 * payloads. docs/protocol.md is the human description of this file.
 */

export const Command = {
  IDENTIFY: 0x01,
  GET_STATUS: 0x02,
  DEBUG: 0x0f,
  FEED: 0x10,
  READ_SERIAL: 0x11,
  MOVE_TO_ENCODER: 0x12,
  PRINT_DATA_PAGE: 0x13,
  READ_MRZ: 0x14,
  EJECT: 0x15,
  TEST_PATTERN: 0x16,
  CLEAN: 0x17,
  GET_COUNTERS: 0x18,
  FIELD: 0x40,
  DETECT_CHIP: 0x41,
  TRANSCEIVE: 0x42,
  /**
   * TRANSCEIVE whose answer the encoder completes: while the chip answers 61xx it sends GET
   * RESPONSE itself and joins the parts (IDENTIFY's FEATURES says whether it can).
   */
  TRANSCEIVE_COLLECT: 0x43,
} as const;
export type CommandName = keyof typeof Command;

export const Status = {
  OK: 0x00,
  UNKNOWN_COMMAND: 0x01,
  BAD_PAYLOAD: 0x02,
  BUSY: 0x03,
  COVER_OPEN: 0x10,
  JAM: 0x11,
  RIBBON_OUT: 0x12,
  HOPPER_EMPTY: 0x13,
  NO_BOOKLET: 0x14,
  WRONG_POSITION: 0x15,
  SERIAL_UNREADABLE: 0x16,
  REJECT_TRAY_FULL: 0x17,
  MRZ_UNREADABLE: 0x18,
  INK_OUT: 0x19,
  PAGE_SEQUENCE: 0x1a,
  PAGE_INCOMPLETE: 0x1b,
  PAGE_DIGEST: 0x1c,
  FIELD_OFF: 0x20,
  NO_CHIP: 0x21,
  CHIP_MUTE: 0x22,
  INTERNAL_ERROR: 0x7f,
} as const;
export type StatusName = keyof typeof Status;

export const StatusText: Record<number, string> = {
  [Status.OK]: 'ok',
  [Status.UNKNOWN_COMMAND]: 'unknown command',
  [Status.BAD_PAYLOAD]: 'malformed command payload',
  [Status.BUSY]: 'device busy',
  [Status.COVER_OPEN]: 'cover is open',
  [Status.JAM]: 'booklet jam',
  [Status.RIBBON_OUT]: 'ribbon is out',
  [Status.HOPPER_EMPTY]: 'input hopper is empty',
  [Status.NO_BOOKLET]: 'no booklet in the transport',
  [Status.WRONG_POSITION]: 'booklet is not at the position this command needs',
  [Status.SERIAL_UNREADABLE]: 'printed serial could not be read',
  [Status.REJECT_TRAY_FULL]: 'reject tray is full',
  [Status.MRZ_UNREADABLE]: 'printed MRZ could not be read back',
  [Status.INK_OUT]: 'ink is out',
  [Status.PAGE_SEQUENCE]: 'page data out of sequence (wrong page, wrong offset or no page open)',
  [Status.PAGE_INCOMPLETE]: 'page committed before all its bytes arrived',
  [Status.PAGE_DIGEST]: 'page data does not match its SHA-256',
  [Status.FIELD_OFF]: 'RF field is off',
  [Status.NO_CHIP]: 'no chip answers in the field',
  [Status.CHIP_MUTE]: 'chip stopped answering',
  [Status.INTERNAL_ERROR]: 'device internal error',
};

export const Event = {
  COVER_OPENED: 0x80,
  COVER_CLOSED: 0x81,
  JAM: 0x82,
  JAM_CLEARED: 0x83,
  RIBBON_LOW: 0x84,
  RIBBON_OUT: 0x85,
  INK_LOW: 0x86,
  INK_OUT: 0x87,
  HOPPER_EMPTY: 0x88,
  REJECT_TRAY_FULL: 0x89,
  JOB_PROGRESS: 0x8a,
  RIBBON_REPLACED: 0x8b,
  HOPPER_LOADED: 0x8c,
} as const;
export type EventName = keyof typeof Event;

/** GET_STATUS flag bits (u32 BE). */
export const StatusFlag = {
  COVER_OPEN: 1 << 0,
  JAM: 1 << 1,
  RIBBON_LOW: 1 << 2,
  RIBBON_OUT: 1 << 3,
  INK_LOW: 1 << 4,
  INK_OUT: 1 << 5,
  HOPPER_EMPTY: 1 << 6,
  REJECT_TRAY_FULL: 1 << 7,
  BOOKLET_PRESENT: 1 << 8,
  FIELD_ON: 1 << 9,
  CHIP_PRESENT: 1 << 10,
  BUSY: 1 << 11,
} as const;
export type StatusFlagName = keyof typeof StatusFlag;

export const Position = { NONE: 0, READER: 1, ENCODER: 2, PRINTER: 3 } as const;
export const Tray = { OUTPUT: 0, REJECT: 1 } as const;
export const TestPattern = { nozzle: 1, alignment: 2, 'colour-bars': 3 } as const;
export type TestPatternKind = keyof typeof TestPattern;

/** IDENTIFY TLV tags. */
export const IdentityTag = {
  MODEL: 0x01,
  FIRMWARE: 0x02,
  SERIAL: 0x03,
  KIND: 0x04,
  MAX_PAYLOAD: 0x05,
  /** Print resolution, dots per inch (u16). */
  PRINT_DPI: 0x06,
  /** Printable page in pixels at that resolution: width u16, height u16. */
  PAGE_PIXELS: 0x07,
  /** What the device can do beyond the base protocol: bits, u8 (IdentityFeature). */
  FEATURES: 0x08,
} as const;
/** IDENTIFY FEATURES bits. */
export const IdentityFeature = {
  /** The encoder answers TRANSCEIVE_COLLECT (collects a 61xx answer itself). */
  TRANSCEIVE_COLLECT: 0x01,
} as const;
/** GET_COUNTERS TLV tags (u32 BE values). */
export const CounterTag = {
  FED: 0x01,
  PRINTED: 0x02,
  EJECTED_OUTPUT: 0x03,
  EJECTED_REJECT: 0x04,
  CLEANINGS: 0x05,
  JAMS: 0x06,
  APDUS: 0x07,
} as const;
/** PRINT_DATA_PAGE operations: the first payload byte (docs/protocol.md, "Printing a page"). */
export const PageOp = { BEGIN: 0x01, DATA: 0x02, COMMIT: 0x03 } as const;
/** Pixel formats of a page raster on the wire, both zlib (deflate) compressed. */
export const PageFormat = {
  /** 1 bit a pixel, 1 = ink, rows MSB first padded to whole bytes. */
  MONO1: 0x01,
  /** 1 byte a pixel, luminance 0 (black) to 255 (paper). */
  GREY8: 0x08,
} as const;
/** DETECT_CHIP TLV tags. */
export const ChipTag = { UID: 0x01, ATS: 0x02 } as const;

export function commandName(code: number): string {
  for (const [k, v] of Object.entries(Command)) if (v === code) return k;
  return `0x${code.toString(16).padStart(2, '0')}`;
}

export function eventName(code: number): string {
  for (const [k, v] of Object.entries(Event)) if (v === code) return k;
  return `0x${code.toString(16).padStart(2, '0')}`;
}

export function statusName(code: number): string {
  for (const [k, v] of Object.entries(Status)) if (v === code) return k;
  return `0x${code.toString(16).padStart(2, '0')}`;
}

export interface Tlv {
  tag: number;
  value: Buffer;
}

/** TAG(u8) LEN(u16 BE) VALUE, repeated. */
export function encodeTlv(items: Tlv[]): Buffer {
  const parts: Buffer[] = [];
  for (const { tag, value } of items) {
    if (value.length > 0xffff) throw new RangeError(`TLV value for tag ${tag} too long`);
    const h = Buffer.alloc(3);
    h[0] = tag;
    h.writeUInt16BE(value.length, 1);
    parts.push(h, value);
  }
  return Buffer.concat(parts);
}

export function decodeTlv(buf: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let p = 0;
  while (p < buf.length) {
    if (p + 3 > buf.length) throw new Error('truncated TLV header');
    const tag = buf[p]!;
    const len = buf.readUInt16BE(p + 1);
    if (p + 3 + len > buf.length) throw new Error(`truncated TLV value for tag ${tag}`);
    out.push({ tag, value: buf.subarray(p + 3, p + 3 + len) });
    p += 3 + len;
  }
  return out;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A device answered a command with a non-OK status. */
export class DeviceError extends Error {
  constructor(
    readonly command: string,
    readonly status: number,
    detail?: string,
  ) {
    super(
      `${command} failed: ${StatusText[status] ?? `status 0x${status.toString(16)}`}` +
        (detail ? ` (${detail})` : ''),
    );
    this.name = 'DeviceError';
  }
  get statusName(): string {
    return statusName(this.status);
  }
}
