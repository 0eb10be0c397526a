/** Minimal BER-TLV (tags of one or two bytes, definite lengths) for the simulated chip. */
export interface BerTlv {
  tag: number;
  value: Buffer;
}

export function berEncode(tag: number, value: Buffer): Buffer {
  const t = tag > 0xff ? Buffer.from([tag >> 8, tag & 0xff]) : Buffer.from([tag]);
  const n = value.length;
  const l =
    n < 0x80
      ? Buffer.from([n])
      : n <= 0xff
        ? Buffer.from([0x81, n])
        : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([t, l, value]);
}

export function berDecode(buf: Buffer): BerTlv[] {
  const out: BerTlv[] = [];
  let p = 0;
  while (p < buf.length) {
    let tag = buf[p++]!;
    if ((tag & 0x1f) === 0x1f) {
      if (p >= buf.length) throw new RangeError('truncated tag');
      tag = (tag << 8) | buf[p++]!;
    }
    if (p >= buf.length) throw new RangeError('truncated length');
    let len = buf[p++]!;
    if (len === 0x81) {
      if (p >= buf.length) throw new RangeError('truncated length');
      len = buf[p++]!;
    } else if (len === 0x82) {
      if (p + 1 >= buf.length) throw new RangeError('truncated length');
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len > 0x80) throw new RangeError('unsupported length form');
    if (p + len > buf.length) throw new RangeError('truncated value');
    out.push({ tag, value: buf.subarray(p, p + len) });
    p += len;
  }
  return out;
}
