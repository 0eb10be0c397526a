/**
 * Secure messaging of Doc 9303 Part 11 section 9.8 with 3DES (BAC sessions): both the terminal
 * side (`SmTerminal`: wrap commands, unwrap responses) and the chip side (`SmChip`: unwrap
 * commands, wrap responses), sharing one send sequence counter discipline.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  type DecodedApdu,
  decodeApdu,
  decodeResponse,
  encodeApdu,
  swBytes,
} from '../iso7816/apdu.ts';
import { pad, retailMac, tdesDecrypt, tdesEncrypt, unpad } from './des.ts';
import { decodeTlvList, tlv, type Tlv } from './tlv.ts';

/** A protected APDU that fails its checks. `sw` is the status word a chip answers with. */
export class SecureMessagingError extends Error {
  constructor(
    message: string,
    readonly sw = 0x6988,
  ) {
    super(message);
    this.name = 'SecureMessagingError';
  }
}

export interface SmKeys {
  ksEnc: Uint8Array;
  ksMac: Uint8Array;
  ssc: Uint8Array;
}

/** Session state common to both sides: keys and the 8-byte SSC, incremented before each MAC. */
class SmSession {
  protected readonly ksEnc: Buffer;
  protected readonly ksMac: Buffer;
  private counter: bigint;

  constructor(keys: SmKeys) {
    if (keys.ssc.length !== 8) throw new RangeError(`SSC must be 8 bytes, got ${keys.ssc.length}`);
    this.ksEnc = Buffer.from(keys.ksEnc);
    this.ksMac = Buffer.from(keys.ksMac);
    this.counter = Buffer.from(keys.ssc).readBigUInt64BE();
  }

  /** The current send sequence counter (8 bytes). */
  get ssc(): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(this.counter);
    return b;
  }

  protected setSsc(ssc: Uint8Array): void {
    if (ssc.length !== 8) throw new RangeError(`SSC must be 8 bytes, got ${ssc.length}`);
    this.counter = Buffer.from(ssc).readBigUInt64BE();
  }

  protected nextSsc(): Buffer {
    this.counter = (this.counter + 1n) & 0xffffffffffffffffn;
    return this.ssc;
  }

  protected mac(ssc: Buffer, data: Buffer): Buffer {
    return retailMac(this.ksMac, Buffer.concat([ssc, data]));
  }

  protected verifyMac(ssc: Buffer, data: Buffer, cc: Buffer | undefined, what: string): void {
    if (!cc) throw new SecureMessagingError(`${what} has no MAC (DO8E)`, 0x6987);
    const expected = this.mac(ssc, data);
    if (cc.length !== 8 || !timingSafeEqual(expected, cc))
      throw new SecureMessagingError(`${what} MAC does not verify`, 0x6988);
  }
}

function leField(le: number): Buffer {
  if (le === 256) return Buffer.from([0x00]);
  if (le < 256) return Buffer.from([le]);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(le === 65536 ? 0 : le);
  return b;
}

function parseLe(v: Buffer): number {
  if (v.length === 1) return v[0] === 0 ? 256 : v[0]!;
  if (v.length === 2) return v.readUInt16BE() === 0 ? 65536 : v.readUInt16BE();
  throw new SecureMessagingError(`DO97 must hold 1 or 2 bytes, has ${v.length}`, 0x6988);
}

function byTag(tlvs: Tlv[]): Map<number, Tlv> {
  return new Map(tlvs.map((t) => [t.tag, t]));
}

/** Encrypted data object: DO87 with padding-content indicator 01. */
function do87(ksEnc: Buffer, plain: Buffer): Buffer {
  return tlv(0x87, [Buffer.from([0x01]), tdesEncrypt(ksEnc, pad(plain))]);
}

function decryptDo87(ksEnc: Buffer, t: Tlv): Buffer {
  if (t.value[0] !== 0x01)
    throw new SecureMessagingError('DO87 padding indicator is not 01', 0x6988);
  const enc = t.value.subarray(1);
  if (enc.length === 0 || enc.length % 8 !== 0)
    throw new SecureMessagingError('DO87 cryptogram is not a whole number of blocks', 0x6988);
  try {
    return unpad(tdesDecrypt(ksEnc, enc));
  } catch {
    throw new SecureMessagingError('DO87 decrypts to badly padded data', 0x6988);
  }
}

/** Terminal side: protect commands, verify and decrypt responses. */
export class SmTerminal extends SmSession {
  /**
   * Goes back to an SSC read before a command the chip refused without processing it: a `6700`
   * to an extended-length APDU comes from its transport layer, before secure messaging, so the
   * chip's counter did not move.
   */
  rewind(ssc: Uint8Array): void {
    this.setSsc(ssc);
  }

  /** Protects a plain command APDU (even INS; odd-INS DO85 is not used by the LDS). */
  wrap(apdu: Uint8Array): Buffer {
    const c = decodeApdu(apdu);
    if ((c.cla & 0x0c) === 0x0c)
      throw new SecureMessagingError('command is already protected (CLA has 0C)');
    const cla = c.cla | 0x0c;
    const header = Buffer.from([cla, c.ins, c.p1, c.p2]);
    const dos: Buffer[] = [];
    if (c.data.length > 0) dos.push(do87(this.ksEnc, c.data));
    if (c.le !== undefined) dos.push(tlv(0x97, leField(c.le)));
    const ssc = this.nextSsc();
    const m = Buffer.concat([pad(header), ...dos]);
    const cc = this.mac(ssc, m);
    const body = Buffer.concat([...dos, tlv(0x8e, cc)]);
    const extended = body.length > 255 || (c.le !== undefined && c.le > 256);
    return encodeApdu(
      { cla, ins: c.ins, p1: c.p1, p2: c.p2, data: body, le: extended ? 65536 : 256 },
      extended,
    );
  }

  /**
   * Verifies and decrypts a protected response; returns the plain response (data || SW).
   * A bare error status word (no data objects) is passed through: chips answer SM errors
   * such as 6987/6988 unprotected. A bare 9000 is refused (it would bypass the MAC).
   */
  unwrapResponse(resp: Uint8Array): Buffer {
    const { data, sw } = decodeResponse(resp);
    if (data.length === 0) {
      if (sw === 0x9000 || (sw & 0xff00) === 0x6100)
        throw new SecureMessagingError(
          `unprotected success status ${sw.toString(16)} under secure messaging`,
        );
      this.nextSsc();
      return swBytes(sw);
    }
    const tlvs = decodeTlvList(data);
    const map = byTag(tlvs);
    const ssc = this.nextSsc();
    const macd = Buffer.concat(
      tlvs.filter((t) => t.tag === 0x87 || t.tag === 0x99).map((t) => tlv(t.tag, t.value)),
    );
    this.verifyMac(ssc, macd, map.get(0x8e)?.value, 'response');
    const do99 = map.get(0x99);
    if (!do99 || do99.value.length !== 2)
      throw new SecureMessagingError('response has no status DO99', 0x6987);
    const d87 = map.get(0x87);
    const plain = d87 ? decryptDo87(this.ksEnc, d87) : Buffer.alloc(0);
    return Buffer.concat([plain, do99.value]);
  }
}

/** Chip side: verify and decrypt protected commands, protect responses. */
export class SmChip extends SmSession {
  /** Verifies the MAC of a protected command and returns the plain command. */
  unwrapCommand(apdu: Uint8Array): DecodedApdu {
    const c = decodeApdu(apdu);
    if ((c.cla & 0x0c) !== 0x0c)
      throw new SecureMessagingError('command is not protected (CLA lacks 0C)', 0x6987);
    const tlvs = decodeTlvList(c.data);
    const map = byTag(tlvs);
    for (const t of tlvs)
      if (![0x87, 0x97, 0x8e].includes(t.tag))
        throw new SecureMessagingError(`unexpected data object ${t.tag.toString(16)}`, 0x6988);
    const header = Buffer.from([c.cla, c.ins, c.p1, c.p2]);
    const ssc = this.nextSsc();
    const macd = Buffer.concat(
      tlvs.filter((t) => t.tag === 0x87 || t.tag === 0x97).map((t) => tlv(t.tag, t.value)),
    );
    this.verifyMac(ssc, Buffer.concat([pad(header), macd]), map.get(0x8e)?.value, 'command');
    const d87 = map.get(0x87);
    const d97 = map.get(0x97);
    return {
      cla: c.cla & ~0x0c,
      ins: c.ins,
      p1: c.p1,
      p2: c.p2,
      data: d87 ? decryptDo87(this.ksEnc, d87) : Buffer.alloc(0),
      le: d97 ? parseLe(d97.value) : undefined,
      extended: c.extended,
    };
  }

  /** Protects response data and status word: DO87 (when data), DO99, DO8E, then SW. */
  wrapResponse(data: Uint8Array, sw: number): Buffer {
    const dos: Buffer[] = [];
    if (data.length > 0) dos.push(do87(this.ksEnc, Buffer.from(data)));
    dos.push(tlv(0x99, swBytes(sw)));
    const ssc = this.nextSsc();
    const cc = this.mac(ssc, Buffer.concat(dos));
    return Buffer.concat([...dos, tlv(0x8e, cc), swBytes(sw)]);
  }
}
