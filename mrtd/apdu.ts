/** ISO/IEC 7816-4 command APDUs: parse and encode the four cases, short and extended. */

export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data (empty for cases 1 and 2). */
  data: Buffer;
  /** Expected response length; undefined when absent. 256 (short) or 65536 (extended) mean "all". */
  le?: number | undefined;
}

/** An APDU that is not well formed, with the reason. */
export class ApduError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApduError';
  }
}

/** Parses a command APDU (cases 1-4, short or extended length). */
export function parseCommandApdu(apdu: Uint8Array): CommandApdu {
  const b = Buffer.from(apdu);
  if (b.length < 4) throw new ApduError(`a command APDU has at least 4 bytes, got ${b.length}`);
  const [cla, ins, p1, p2] = [b[0]!, b[1]!, b[2]!, b[3]!];
  const body = b.subarray(4);
  const base = { cla, ins, p1, p2 };
  if (body.length === 0) return { ...base, data: Buffer.alloc(0) };
  if (body.length === 1)
    return { ...base, data: Buffer.alloc(0), le: body[0] === 0 ? 256 : body[0] };
  if (body[0] !== 0) {
    const lc = body[0]!;
    if (body.length === 1 + lc) return { ...base, data: Buffer.from(body.subarray(1)) };
    if (body.length === 2 + lc) {
      const le = body[1 + lc]!;
      return { ...base, data: Buffer.from(body.subarray(1, 1 + lc)), le: le === 0 ? 256 : le };
    }
    throw new ApduError(`Lc says ${lc} data bytes but the APDU body has ${body.length} bytes`);
  }
  // Extended length: 00 then two bytes.
  if (body.length === 3) {
    const le = body.readUInt16BE(1);
    return { ...base, data: Buffer.alloc(0), le: le === 0 ? 65536 : le };
  }
  if (body.length < 3) throw new ApduError('extended length field is truncated');
  const lc = body.readUInt16BE(1);
  if (lc === 0) throw new ApduError('extended Lc of 0 is not allowed');
  if (body.length === 3 + lc) return { ...base, data: Buffer.from(body.subarray(3)) };
  if (body.length === 5 + lc) {
    const le = body.readUInt16BE(3 + lc);
    return { ...base, data: Buffer.from(body.subarray(3, 3 + lc)), le: le === 0 ? 65536 : le };
  }
  throw new ApduError(
    `extended Lc says ${lc} data bytes but the APDU body has ${body.length} bytes`,
  );
}

/** Encodes a command APDU, choosing extended length only when data or Le need it. */
export function encodeCommandApdu(c: CommandApdu, forceExtended = false): Buffer {
  const header = Buffer.from([c.cla, c.ins, c.p1, c.p2]);
  const extended = forceExtended || c.data.length > 255 || (c.le !== undefined && c.le > 256);
  if (c.data.length > 65535)
    throw new ApduError(`command data of ${c.data.length} bytes does not fit an APDU`);
  if (c.le !== undefined && (c.le < 1 || c.le > 65536))
    throw new ApduError(`Le ${c.le} is out of range`);
  const parts: Buffer[] = [header];
  if (!extended) {
    if (c.data.length > 0) parts.push(Buffer.from([c.data.length]), c.data);
    if (c.le !== undefined) parts.push(Buffer.from([c.le === 256 ? 0 : c.le]));
  } else {
    if (c.data.length > 0) {
      const lc = Buffer.alloc(3);
      lc.writeUInt16BE(c.data.length, 1);
      parts.push(lc, c.data);
    }
    if (c.le !== undefined) {
      const le = Buffer.alloc(c.data.length > 0 ? 2 : 3);
      le.writeUInt16BE(c.le === 65536 ? 0 : c.le, le.length - 2);
      parts.push(le);
    }
  }
  return Buffer.concat(parts);
}

/** Splits a response APDU into data and status word. */
export function splitResponse(resp: Uint8Array): { data: Buffer; sw: number } {
  const b = Buffer.from(resp);
  if (b.length < 2)
    throw new ApduError(`a response APDU has at least 2 bytes (SW1 SW2), got ${b.length}`);
  return { data: b.subarray(0, b.length - 2), sw: b.readUInt16BE(b.length - 2) };
}

export function swBytes(sw: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(sw & 0xffff);
  return b;
}
