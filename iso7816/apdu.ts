/**
 * ISO/IEC 7816-4 command and response APDUs: the four cases, short and extended length. The one
 * codec of the project: the device layer (drivers/), the document engine (mrtd/) and the
 * simulated chip all use it, so this folder imports nothing but Node itself.
 */

export interface Apdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data (Lc is its length); absent or empty for cases 1 and 2. */
  data?: Buffer;
  /** Expected response length Ne: absent for cases 1 and 3; 1..65536 (256 is short "00"). */
  le?: number;
}

/** A decoded command: `data` is always there (empty for cases 1 and 2). */
export type DecodedApdu = Apdu & { data: Buffer; extended: boolean };

export interface ApduResponse {
  data: Buffer;
  sw: number;
}

/** An APDU whose length fields or header are not well formed, with the reason. */
export class ApduFormatError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'ApduFormatError';
  }
}

export function swHex(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

/** SW1 SW2 as two bytes. */
export function swBytes(sw: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(sw & 0xffff);
  return b;
}

/** The 7816-4 case of an APDU (1..4). */
export function apduCase(a: Apdu): 1 | 2 | 3 | 4 {
  const hasData = Boolean(a.data && a.data.length);
  const hasLe = a.le !== undefined;
  return hasData ? (hasLe ? 4 : 3) : hasLe ? 2 : 1;
}

/** Whether the APDU needs extended length fields. */
export function needsExtended(a: Apdu): boolean {
  return (a.data?.length ?? 0) > 255 || (a.le ?? 0) > 256;
}

/** Encodes the APDU, short when it fits (unless `extended` is forced), extended otherwise. */
export function encodeApdu(a: Apdu, extended = needsExtended(a)): Buffer {
  for (const [k, v] of [
    ['CLA', a.cla],
    ['INS', a.ins],
    ['P1', a.p1],
    ['P2', a.p2],
  ] as const)
    if (!Number.isInteger(v) || v < 0 || v > 0xff)
      throw new ApduFormatError(`APDU ${k} ${v} is not a byte`);
  const data = a.data ?? Buffer.alloc(0);
  const le = a.le;
  if (data.length > 65535)
    throw new ApduFormatError(`APDU data of ${data.length} bytes exceeds 65535`);
  if (le !== undefined && (!Number.isInteger(le) || le < 1 || le > 65536))
    throw new ApduFormatError(`APDU Le ${le} outside 1..65536`);
  if (!extended && (data.length > 255 || (le ?? 0) > 256))
    throw new ApduFormatError('APDU does not fit short length fields');
  const parts: Buffer[] = [Buffer.from([a.cla, a.ins, a.p1, a.p2])];
  if (!extended) {
    if (data.length) parts.push(Buffer.from([data.length]), data);
    if (le !== undefined) parts.push(Buffer.from([le === 256 ? 0 : le]));
  } else {
    if (data.length) parts.push(Buffer.from([0, data.length >> 8, data.length & 0xff]), data);
    if (le !== undefined) {
      const l = le === 65536 ? 0 : le;
      parts.push(
        data.length ? Buffer.from([l >> 8, l & 0xff]) : Buffer.from([0, l >> 8, l & 0xff]),
      );
    }
  }
  return Buffer.concat(parts);
}

/** Decodes a command APDU (the chip's side); throws ApduFormatError on malformed length fields. */
export function decodeApdu(apdu: Uint8Array): DecodedApdu {
  const buf = Buffer.from(apdu);
  if (buf.length < 4)
    throw new ApduFormatError(`a command APDU has at least 4 bytes, got ${buf.length}`);
  const a: DecodedApdu = {
    cla: buf[0]!,
    ins: buf[1]!,
    p1: buf[2]!,
    p2: buf[3]!,
    data: Buffer.alloc(0),
    extended: false,
  };
  const body = buf.subarray(4);
  if (body.length === 0) return a;
  if (body.length === 1) {
    a.le = body[0] === 0 ? 256 : body[0]!;
    return a;
  }
  if (body[0] === 0) {
    if (body.length < 3) throw new ApduFormatError('extended length field is truncated');
    a.extended = true;
    const n = body.readUInt16BE(1);
    if (body.length === 3) {
      a.le = n === 0 ? 65536 : n;
      return a;
    }
    if (n === 0) throw new ApduFormatError('extended Lc of 0 is not allowed');
    const rest = body.subarray(3);
    if (rest.length === n) {
      a.data = Buffer.from(rest);
      return a;
    }
    if (rest.length === n + 2) {
      a.data = Buffer.from(rest.subarray(0, n));
      const l = rest.readUInt16BE(n);
      a.le = l === 0 ? 65536 : l;
      return a;
    }
    throw new ApduFormatError(
      `extended Lc says ${n} data bytes but the APDU body has ${body.length} bytes (length fields do not match)`,
    );
  }
  const lc = body[0]!;
  if (body.length === 1 + lc) {
    a.data = Buffer.from(body.subarray(1));
    return a;
  }
  if (body.length === 2 + lc) {
    a.data = Buffer.from(body.subarray(1, 1 + lc));
    const l = body[1 + lc]!;
    a.le = l === 0 ? 256 : l;
    return a;
  }
  throw new ApduFormatError(
    `Lc says ${lc} data bytes but the APDU body has ${body.length} bytes (length fields do not match)`,
  );
}

/** Splits a response APDU into data and status word. */
export function decodeResponse(resp: Uint8Array): ApduResponse {
  const buf = Buffer.from(resp);
  if (buf.length < 2)
    throw new ApduFormatError(`response APDU of ${buf.length} bytes has no status word`);
  return {
    data: Buffer.from(buf.subarray(0, buf.length - 2)),
    sw: buf.readUInt16BE(buf.length - 2),
  };
}

export function encodeResponse(r: ApduResponse): Buffer {
  return Buffer.concat([r.data, swBytes(r.sw)]);
}

/**
 * Reads the ATS (ISO 14443-4) historical bytes for the card capabilities compact-TLV (tag 7,
 * ISO 7816-4 §12.1.1.9): third software function byte, bit 0x40 = extended Lc/Le supported.
 */
export function atsSupportsExtendedLength(ats: Buffer): boolean {
  if (ats.length < 2) return false;
  const t0 = ats[1]!;
  let p = 2;
  if (t0 & 0x10) p++;
  if (t0 & 0x20) p++;
  if (t0 & 0x40) p++;
  const hist = ats.subarray(p, ats[0]! <= ats.length ? ats[0] : ats.length);
  if (hist[0] !== 0x80) return false;
  let i = 1;
  while (i < hist.length) {
    const tag = hist[i]! >> 4;
    const len = hist[i]! & 0x0f;
    if (tag === 0x7 && len >= 3 && i + 3 < hist.length) return (hist[i + 3]! & 0x40) !== 0;
    i += 1 + len;
  }
  return false;
}
