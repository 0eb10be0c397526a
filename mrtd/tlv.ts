/**
 * BER-TLV as used by ISO/IEC 7816-4 and the ICAO LDS: multi-byte tags, short and long length
 * forms (up to four length bytes), constructed objects decoded recursively on demand.
 */

/** A TLV that could not be decoded: what is wrong and at which byte offset. */
export class TlvError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
    this.name = 'TlvError';
  }
}

/** A decoded data object. `tag` is the full tag as a number (e.g. 0x5F1F, 0x7F61). */
export interface Tlv {
  tag: number;
  /** True when bit 6 of the first tag byte marks the value as nested TLVs. */
  constructed: boolean;
  value: Buffer;
  /** Bytes the whole object (tag + length + value) takes. */
  size: number;
}

/** Encodes a tag number as its 1 to 3 bytes. */
export function encodeTag(tag: number): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffff)
    throw new RangeError(`tag ${tag} is not a 1 to 3 byte tag`);
  if (tag <= 0xff) return Buffer.from([tag]);
  if (tag <= 0xffff) return Buffer.from([tag >> 8, tag & 0xff]);
  return Buffer.from([tag >> 16, (tag >> 8) & 0xff, tag & 0xff]);
}

/** Encodes a length in the shortest form: one byte below 128, else 81/82/83/84 + big-endian. */
export function encodeLength(length: number): Buffer {
  if (!Number.isInteger(length) || length < 0 || length > 0xffffffff)
    throw new RangeError(`length ${length} cannot be encoded`);
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes one data object; a list of children is concatenated as the value. */
export function tlv(tag: number, value: Uint8Array | Uint8Array[] | string): Buffer {
  const v =
    typeof value === 'string'
      ? Buffer.from(value, 'latin1')
      : Array.isArray(value)
        ? Buffer.concat(value)
        : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return Buffer.concat([encodeTag(tag), encodeLength(v.length), v]);
}

/** Decodes the data object at `offset`; `base` shifts offsets reported in errors. */
export function decodeTlvAt(buf: Uint8Array, offset = 0, base = 0): Tlv {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = offset;
  if (p >= b.length) throw new TlvError('expected a tag, found the end of the data', base + p);
  const first = b[p++]!;
  if (first === 0x00 || first === 0xff)
    throw new TlvError(
      `0x${first.toString(16).padStart(2, '0')} is not a valid tag byte`,
      base + offset,
    );
  let tag = first;
  if ((first & 0x1f) === 0x1f) {
    let more = true;
    let count = 0;
    while (more) {
      if (p >= b.length) throw new TlvError('tag is truncated', base + p);
      const t = b[p++]!;
      tag = tag * 256 + t;
      more = (t & 0x80) !== 0;
      if (++count > 2)
        throw new TlvError('tags longer than 3 bytes are not supported', base + offset);
    }
  }
  if (p >= b.length) throw new TlvError(`tag ${hexTag(tag)} has no length`, base + p);
  const lenByte = b[p++]!;
  let length: number;
  if (lenByte < 0x80) length = lenByte;
  else if (lenByte === 0x80)
    throw new TlvError(
      `tag ${hexTag(tag)} uses the indefinite length form, not allowed here`,
      base + p - 1,
    );
  else {
    const n = lenByte & 0x7f;
    if (n > 4)
      throw new TlvError(
        `tag ${hexTag(tag)} has a ${n}-byte length field (at most 4)`,
        base + p - 1,
      );
    if (p + n > b.length) throw new TlvError(`length of tag ${hexTag(tag)} is truncated`, base + p);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + b[p++]!;
  }
  if (p + length > b.length)
    throw new TlvError(
      `tag ${hexTag(tag)} announces ${length} bytes but only ${b.length - p} remain`,
      base + p,
    );
  const firstTagByte = tag > 0xffff ? tag >> 16 : tag > 0xff ? tag >> 8 : tag;
  return {
    tag,
    constructed: (firstTagByte & 0x20) !== 0,
    value: b.subarray(p, p + length),
    size: p + length - offset,
  };
}

/** Decodes exactly one data object filling the whole buffer. */
export function decodeTlv(buf: Uint8Array): Tlv {
  const t = decodeTlvAt(buf, 0);
  if (t.size !== buf.length)
    throw new TlvError(
      `${buf.length - t.size} unexpected bytes after tag ${hexTag(t.tag)}`,
      t.size,
    );
  return t;
}

/** Decodes a sequence of data objects that fills the buffer exactly. */
export function decodeTlvList(buf: Uint8Array, base = 0): Tlv[] {
  const out: Tlv[] = [];
  let p = 0;
  while (p < buf.length) {
    const t = decodeTlvAt(buf, p, base);
    out.push(t);
    p += t.size;
  }
  return out;
}

/** The data objects of a list that fills the buffer, each as the bytes it is encoded in. */
export function encodedTlvList(buf: Uint8Array): Buffer[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = 0;
  return decodeTlvList(buf).map((t) => b.subarray(p, (p += t.size)));
}

/** Decodes a constructed object expected to carry `tag`; throws naming what was found. */
export function expectTlv(buf: Uint8Array, tag: number, what: string): Tlv {
  const t = decodeTlv(buf);
  if (t.tag !== tag)
    throw new TlvError(`${what}: expected tag ${hexTag(tag)}, found ${hexTag(t.tag)}`, 0);
  return t;
}

/** Finds the first child with `tag` among the children of a constructed value. */
export function findChild(children: Tlv[], tag: number): Tlv | undefined {
  return children.find((c) => c.tag === tag);
}

/** Like findChild, but a missing child is an error naming the structure. */
export function requireChild(children: Tlv[], tag: number, what: string): Tlv {
  const c = findChild(children, tag);
  if (!c) throw new TlvError(`${what}: required tag ${hexTag(tag)} is missing`, 0);
  return c;
}

export function hexTag(tag: number): string {
  const digits = tag.toString(16).toUpperCase();
  return digits.padStart(digits.length + (digits.length % 2), '0');
}
